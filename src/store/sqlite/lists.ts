import type { Contact, ListStore, MailingList, Page, PageQuery } from '../../core/ports/store.js';
import { afterCursor, fetchSize, toPage } from '../paging.js';
import {
  contactFromRow,
  decodeJsonText,
  listFromRow,
  type ContactRow,
  type ListRow,
} from '../rows.js';
import { notFoundError } from '../store-errors.js';
import { promised } from './sqlite-errors.js';
import type { StatementCache } from './statement-cache.js';

const WITH_COUNT = `SELECT l.*,
  (SELECT count(*) FROM list_members m WHERE m.list_id = l.id) AS member_count
  FROM lists l`;

const SQL = {
  insert: `INSERT INTO lists (id, name, description, created_at) VALUES (?, ?, ?, ?)`,
  get: `${WITH_COUNT} WHERE l.id = ?`,
  getByName: `${WITH_COUNT} WHERE l.name = ?`,
  page: `${WITH_COUNT} WHERE l.id > ? ORDER BY l.id LIMIT ?`,
  update: `UPDATE lists SET name = coalesce(?, name), description = coalesce(?, description)
    WHERE id = ?`,
  delete: `DELETE FROM lists WHERE id = ?`,
  exists: `SELECT 1 FROM lists WHERE id = ?`,
  knownContacts: `SELECT id FROM contacts WHERE id IN (SELECT value FROM json_each(?))`,
  addMembers: `INSERT OR IGNORE INTO list_members (list_id, contact_id, added_at)
    SELECT ?, value, ? FROM json_each(?)`,
  removeMember: `DELETE FROM list_members WHERE list_id = ? AND contact_id = ?`,
  members: `SELECT c.* FROM list_members m JOIN contacts c ON c.id = m.contact_id
    WHERE m.list_id = ? AND m.contact_id > ? ORDER BY m.contact_id LIMIT ?`,
} as const;

export class SqliteListStore implements ListStore {
  constructor(private readonly cache: StatementCache) {}

  create(list: {
    id: string;
    name: string;
    description: string;
    at: number;
  }): Promise<MailingList> {
    return promised(
      () => {
        this.cache.get(SQL.insert).run(list.id, list.name, list.description, list.at);
        return {
          id: list.id,
          name: list.name,
          description: list.description,
          createdAt: list.at,
          memberCount: 0,
        };
      },
      { id: list.id, name: list.name },
    );
  }

  get(id: string): Promise<MailingList | undefined> {
    return promised(() => this.getSync(id));
  }

  getByName(name: string): Promise<MailingList | undefined> {
    return promised(() => {
      const row = this.cache.get<ListRow>(SQL.getByName).get(name);
      return row ? listFromRow(row) : undefined;
    });
  }

  private getSync(id: string): MailingList | undefined {
    const row = this.cache.get<ListRow>(SQL.get).get(id);
    return row ? listFromRow(row) : undefined;
  }

  list(query: PageQuery): Promise<Page<MailingList>> {
    return promised(() => {
      const rows = this.cache.get<ListRow>(SQL.page).all(afterCursor(query), fetchSize(query));
      return toPage(rows.map(listFromRow), query);
    });
  }

  update(
    id: string,
    patch: { name?: string; description?: string },
  ): Promise<MailingList | undefined> {
    const run = this.cache.transaction(() => {
      const changed = this.cache
        .get(SQL.update)
        .run(patch.name ?? null, patch.description ?? null, id).changes;
      return changed > 0 ? this.getSync(id) : undefined;
    });
    return promised(() => run.immediate(), { name: patch.name });
  }

  delete(id: string): Promise<boolean> {
    return promised(() => this.cache.get(SQL.delete).run(id).changes > 0);
  }

  /** All or nothing: every contact id is checked before any membership is written. */
  addMembers(listId: string, contactIds: string[], at: number): Promise<number> {
    const ids = [...new Set(contactIds)];
    const run = this.cache.transaction(() => {
      if (!this.cache.get(SQL.exists).get(listId)) {
        throw notFoundError('listId', `no list has the id ${JSON.stringify(listId)}`);
      }
      const json = JSON.stringify(ids);
      const known = new Set(
        this.cache
          .get<{ id: string }>(SQL.knownContacts)
          .all(json)
          .map((row) => row.id),
      );
      const unknown = ids.filter((id) => !known.has(id));
      if (unknown.length > 0) {
        throw notFoundError('contactIds', `unknown contact ids: ${unknown.join(', ')}`);
      }
      return this.cache.get(SQL.addMembers).run(listId, at, json).changes;
    });
    return promised(() => run.immediate());
  }

  removeMember(listId: string, contactId: string): Promise<boolean> {
    return promised(() => this.cache.get(SQL.removeMember).run(listId, contactId).changes > 0);
  }

  members(listId: string, query: PageQuery): Promise<Page<Contact>> {
    return promised(() => {
      const rows = this.cache
        .get<ContactRow>(SQL.members)
        .all(listId, afterCursor(query), fetchSize(query));
      return toPage(
        rows.map((row) => contactFromRow(row, decodeJsonText)),
        query,
      );
    });
  }
}
