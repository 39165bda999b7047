import type {
  Contact,
  ContactStore,
  ContactUpsert,
  Page,
  PageQuery,
} from '../../core/ports/store.js';
import { splitAttributePatch } from '../attributes.js';
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
