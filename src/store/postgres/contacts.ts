import type {
  Contact,
  ContactStore,
  ContactUpsert,
  Durability,
  Page,
  PageQuery,
} from '../../core/ports/store.js';
import pg from 'pg';
import { combineUpserts } from '../../core/contact-upserts.js';
import { splitAttributePatch } from '../attributes.js';
import { notFoundError } from '../store-errors.js';
import { afterCursor, fetchSize, toPage } from '../paging.js';
import { contactFromRow, decodeJsonb, type ContactRow } from '../rows.js';
import type { PgDatabase } from './pg-database.js';

const SQL = {
  /**
   * Insert or merge in one statement, so two nodes upserting one email at
   * once cannot both insert. `xmax = 0` holds only for a row this statement
   * inserted (an updated row carries the updating transaction's id).
   */
  upsert: `INSERT INTO contacts AS c (id, email, attributes, status, created_at, updated_at)
    VALUES ($1, $2, $3::jsonb, coalesce($4::text, 'active'), $5, $5)
    ON CONFLICT (email) DO UPDATE SET
      attributes = (c.attributes || $3::jsonb) - $6::text[],
      status = coalesce($4::text, c.status),
      updated_at = $5
    RETURNING *, (xmax = 0) AS created`,
  /**
   * The batch as one statement, with the single upsert's merge. The rows come
   * as a JSON array; the keys each row removes ($2) and the statuses given
   * ($3) as JSON objects keyed by the row's new id, which `excluded.id`
   * carries into DO UPDATE (the proposed row has no room for them: its
   * attributes and status are what a new contact gets). Members are added
   * in the same statement from the rows it returns, new or updated.
   */
  upsertMany: `WITH input AS (
      SELECT * FROM jsonb_to_recordset($1::jsonb)
        AS r(id text, email text, attributes jsonb, status text, at bigint)
    ), up AS (
      INSERT INTO contacts AS c (id, email, attributes, status, created_at, updated_at)
      SELECT id, email, attributes, coalesce(status, 'active'), at, at FROM input
      ON CONFLICT (email) DO UPDATE SET
        attributes = (c.attributes || excluded.attributes)
          - ARRAY(SELECT jsonb_array_elements_text($2::jsonb -> excluded.id)),
        status = coalesce($3::jsonb ->> excluded.id, c.status),
        updated_at = excluded.updated_at
      RETURNING c.id, c.updated_at, (xmax = 0) AS created
    ), members AS (
      INSERT INTO list_members (list_id, contact_id, added_at)
      SELECT $4::text, id, updated_at FROM up WHERE $4::text IS NOT NULL
      ON CONFLICT DO NOTHING
    )
    SELECT count(*) FILTER (WHERE created)::int AS created,
      count(*) FILTER (WHERE NOT created)::int AS updated FROM up`,
  get: `SELECT * FROM contacts WHERE id = $1`,
  getByEmail: `SELECT * FROM contacts WHERE email = $1`,
  page: `SELECT * FROM contacts WHERE id > $1 ORDER BY id LIMIT $2`,
  delete: `DELETE FROM contacts WHERE id = $1`,
} as const;

export class PgContactStore implements ContactStore {
  constructor(private readonly db: PgDatabase) {}

  async upsert(input: ContactUpsert): Promise<{ contact: Contact; created: boolean }> {
    const { set, remove } = splitAttributePatch(input.attributes);
    const [row] = await this.db.rows<ContactRow & { created: boolean }>(
      SQL.upsert,
      [input.id, input.email, JSON.stringify(set), input.status ?? null, input.at, remove],
      'sluice_contact_upsert',
    );
    if (!row) throw new Error('contact upsert returned no row');
    return { contact: contactFromRow(row, decodeJsonb), created: row.created };
  }

  async upsertMany(
    rows: ContactUpsert[],
    options: { listId?: string; durability?: Durability } = {},
  ): Promise<{ created: number; updated: number }> {
    const combined = combineUpserts(rows);
    if (combined.length === 0) return { created: 0, updated: 0 };
    const input: unknown[] = [];
    const removals: Record<string, string[]> = {};
    const statuses: Record<string, string> = {};
    for (const row of combined) {
      const { set, remove } = splitAttributePatch(row.attributes);
      input.push({ id: row.id, email: row.email, attributes: set, status: row.status, at: row.at });
      if (remove.length > 0) removals[row.id] = remove;
      if (row.status !== undefined) statuses[row.id] = row.status;
    }
    const values = [
      JSON.stringify(input),
      JSON.stringify(removals),
      JSON.stringify(statuses),
      options.listId ?? null,
    ];
    try {
      if (options.durability === 'deferred') {
        // The commit returns before the WAL is flushed; the next synchronous
        // commit flushes the WAL up to its own record, this one included.
        return await this.db.transaction(async (client) => {
          await client.query('SET LOCAL synchronous_commit = off');
          const result = await client.query<{ created: number; updated: number }>({
            text: SQL.upsertMany,
            values,
            name: 'sluice_contact_upsert_many',
          });
          return result.rows[0] ?? { created: 0, updated: 0 };
        });
      }
      const [counts] = await this.db.rows<{ created: number; updated: number }>(
        SQL.upsertMany,
        values,
        'sluice_contact_upsert_many',
      );
      return counts ?? { created: 0, updated: 0 };
    } catch (error) {
      if (isForeignKeyViolation(error)) {
        throw notFoundError('listId', `no list has the id ${JSON.stringify(options.listId)}`);
      }
      throw error;
    }
  }

  async get(id: string): Promise<Contact | undefined> {
    const [row] = await this.db.rows<ContactRow>(SQL.get, [id]);
    return row ? contactFromRow(row, decodeJsonb) : undefined;
  }

  async getByEmail(email: string): Promise<Contact | undefined> {
    const [row] = await this.db.rows<ContactRow>(SQL.getByEmail, [email]);
    return row ? contactFromRow(row, decodeJsonb) : undefined;
  }

  async list(query: PageQuery): Promise<Page<Contact>> {
    const rows = await this.db.rows<ContactRow>(SQL.page, [afterCursor(query), fetchSize(query)]);
    return toPage(
      rows.map((row) => contactFromRow(row, decodeJsonb)),
      query,
    );
  }

  /** Memberships go by ON DELETE CASCADE. */
  async delete(id: string): Promise<boolean> {
    return ((await this.db.query(SQL.delete, [id])).rowCount ?? 0) > 0;
  }
}

function isForeignKeyViolation(error: unknown): boolean {
  return error instanceof pg.DatabaseError && error.code === '23503';
}
