import type {
  Contact,
  ContactStore,
  ContactUpsert,
  Page,
  PageQuery,
} from '../../core/ports/store.js';
import { mergeAttributes } from '../attributes.js';
import { afterCursor, fetchSize, toPage } from '../paging.js';
import { contactFromRow, decodeJsonText, type ContactRow } from '../rows.js';
import { promised } from './sqlite-errors.js';
import type { StatementCache } from './statement-cache.js';

const SQL = {
  get: `SELECT * FROM contacts WHERE id = ?`,
  getByEmail: `SELECT * FROM contacts WHERE email = ?`,
  insert: `INSERT INTO contacts (id, email, attributes, status, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?) RETURNING *`,
  update: `UPDATE contacts SET attributes = ?, status = coalesce(?, status), updated_at = ?
    WHERE id = ? RETURNING *`,
  page: `SELECT * FROM contacts WHERE id > ? ORDER BY id LIMIT ?`,
  delete: `DELETE FROM contacts WHERE id = ?`,
} as const;

export class SqliteContactStore implements ContactStore {
  constructor(private readonly cache: StatementCache) {}

  /** Read, merge in JS, write: safe because the write lock is held from BEGIN IMMEDIATE. */
  upsert(input: ContactUpsert): Promise<{ contact: Contact; created: boolean }> {
    const run = this.cache.db.transaction(() => {
      const existing = this.cache.get<ContactRow>(SQL.getByEmail).get(input.email);
      if (existing) {
        const stored = contactFromRow(existing, decodeJsonText);
        const attributes = mergeAttributes(stored.attributes, input.attributes);
        const row = this.cache
          .get<ContactRow>(SQL.update)
          .get(JSON.stringify(attributes), input.status ?? null, input.at, existing.id);
        return { contact: contactFromRow(row as ContactRow, decodeJsonText), created: false };
      }
      const attributes = mergeAttributes({}, input.attributes);
      const row = this.cache
        .get<ContactRow>(SQL.insert)
        .get(
          input.id,
          input.email,
          JSON.stringify(attributes),
          input.status ?? 'active',
          input.at,
          input.at,
        );
      return { contact: contactFromRow(row as ContactRow, decodeJsonText), created: true };
    });
    return promised(() => run.immediate(), { id: input.id, email: input.email });
  }

  get(id: string): Promise<Contact | undefined> {
    return promised(() => {
      const row = this.cache.get<ContactRow>(SQL.get).get(id);
      return row ? contactFromRow(row, decodeJsonText) : undefined;
    });
  }

  getByEmail(email: string): Promise<Contact | undefined> {
    return promised(() => {
      const row = this.cache.get<ContactRow>(SQL.getByEmail).get(email);
      return row ? contactFromRow(row, decodeJsonText) : undefined;
    });
  }

  list(query: PageQuery): Promise<Page<Contact>> {
    return promised(() => {
      const rows = this.cache.get<ContactRow>(SQL.page).all(afterCursor(query), fetchSize(query));
      return toPage(
        rows.map((row) => contactFromRow(row, decodeJsonText)),
        query,
      );
    });
  }

  /** Memberships go by ON DELETE CASCADE (foreign_keys is on for every connection). */
  delete(id: string): Promise<boolean> {
    return promised(() => this.cache.get(SQL.delete).run(id).changes > 0);
  }
}
