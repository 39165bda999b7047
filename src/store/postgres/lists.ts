import pg from 'pg';
import type { Contact, ListStore, MailingList, Page, PageQuery } from '../../core/ports/store.js';
import { afterCursor, fetchSize, toPage } from '../paging.js';
import {
  contactFromRow,
  decodeJsonb,
  listFromRow,
  type ContactRow,
  type ListRow,
} from '../rows.js';
import { notFoundError } from '../store-errors.js';
import type { PgDatabase } from './pg-database.js';

const MEMBER_COUNT = `(SELECT count(*) FROM list_members m WHERE m.list_id = l.id) AS member_count`;

const SQL = {
  insert: `INSERT INTO lists (id, name, description, created_at) VALUES ($1, $2, $3, $4)`,
  get: `SELECT l.*, ${MEMBER_COUNT} FROM lists l WHERE l.id = $1`,
  getByName: `SELECT l.*, ${MEMBER_COUNT} FROM lists l WHERE l.name = $1`,
  page: `SELECT l.*, ${MEMBER_COUNT} FROM lists l WHERE l.id > $1 ORDER BY l.id LIMIT $2`,
  update: `WITH l AS (
      UPDATE lists SET name = coalesce($2, name), description = coalesce($3, description)
      WHERE id = $1 RETURNING *)
    SELECT l.*, ${MEMBER_COUNT} FROM l`,
  delete: `DELETE FROM lists WHERE id = $1`,
  addMembers: `INSERT INTO list_members (list_id, contact_id, added_at)
    SELECT $1, contact_id, $3 FROM unnest($2::text[]) AS contact_id
    ON CONFLICT DO NOTHING`,
  knownContacts: `SELECT id FROM contacts WHERE id = ANY($1::text[])`,
  removeMember: `DELETE FROM list_members WHERE list_id = $1 AND contact_id = $2`,
  members: `SELECT c.* FROM list_members m JOIN contacts c ON c.id = m.contact_id
    WHERE m.list_id = $1 AND m.contact_id > $2 ORDER BY m.contact_id LIMIT $3`,
} as const;

export class PgListStore implements ListStore {
  constructor(private readonly db: PgDatabase) {}

  async create(list: {
    id: string;
    name: string;
    description: string;
    at: number;
  }): Promise<MailingList> {
    await this.db.query(SQL.insert, [list.id, list.name, list.description, list.at]);
    return {
      id: list.id,
      name: list.name,
      description: list.description,
      createdAt: list.at,
      memberCount: 0,
    };
  }

  async get(id: string): Promise<MailingList | undefined> {
    const [row] = await this.db.rows<ListRow>(SQL.get, [id]);
    return row ? listFromRow(row) : undefined;
  }

  async getByName(name: string): Promise<MailingList | undefined> {
    const [row] = await this.db.rows<ListRow>(SQL.getByName, [name]);
    return row ? listFromRow(row) : undefined;
  }

  async list(query: PageQuery): Promise<Page<MailingList>> {
    const rows = await this.db.rows<ListRow>(SQL.page, [afterCursor(query), fetchSize(query)]);
    return toPage(rows.map(listFromRow), query);
  }

  async update(
    id: string,
    patch: { name?: string; description?: string },
  ): Promise<MailingList | undefined> {
    const [row] = await this.db.rows<ListRow>(SQL.update, [
      id,
      patch.name ?? null,
      patch.description ?? null,
    ]);
    return row ? listFromRow(row) : undefined;
  }

  async delete(id: string): Promise<boolean> {
    return ((await this.db.query(SQL.delete, [id])).rowCount ?? 0) > 0;
  }

  /**
   * One INSERT: an unknown list or contact fails it on the foreign key, so
   * nothing is added; the error is then explained by looking the ids up.
   */
  async addMembers(listId: string, contactIds: string[], at: number): Promise<number> {
    const ids = [...new Set(contactIds)];
    try {
      return (await this.db.query(SQL.addMembers, [listId, ids, at])).rowCount ?? 0;
    } catch (error) {
      if (!(error instanceof pg.DatabaseError) || error.code !== '23503') throw error;
      if (error.constraint?.includes('list_id')) {
        throw notFoundError('listId', `no list has the id ${JSON.stringify(listId)}`);
      }
      const known = new Set(
        (await this.db.rows<{ id: string }>(SQL.knownContacts, [ids])).map((row) => row.id),
      );
      const unknown = ids.filter((id) => !known.has(id));
      throw notFoundError('contactIds', `unknown contact ids: ${unknown.join(', ')}`);
    }
  }

  async removeMember(listId: string, contactId: string): Promise<boolean> {
    return ((await this.db.query(SQL.removeMember, [listId, contactId])).rowCount ?? 0) > 0;
  }

  async members(listId: string, query: PageQuery): Promise<Page<Contact>> {
    const rows = await this.db.rows<ContactRow>(SQL.members, [
      listId,
      afterCursor(query),
      fetchSize(query),
    ]);
    return toPage(
      rows.map((row) => contactFromRow(row, decodeJsonb)),
      query,
    );
  }
}
