import type {
  Contact,
  ContactStore,
  ContactUpsert,
  Durability,
  Page,
  PageQuery,
} from '../../core/ports/store.js';
import { combineUpserts } from '../../core/contact-upserts.js';
import { mergeAttributes } from '../attributes.js';
import { notFoundError } from '../store-errors.js';
import { afterCursor, fetchSize, toPage } from '../paging.js';
import { contactFromRow, decodeJsonText, type ContactRow } from '../rows.js';
import { runDeferred } from './deferred-commit.js';
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
  findForMerge: `SELECT id, attributes FROM contacts WHERE email = ?`,
  insertNew: `INSERT INTO contacts (id, email, attributes, status, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (email) DO NOTHING`,
  updatePlain: `UPDATE contacts SET attributes = ?, status = coalesce(?, status), updated_at = ?
    WHERE id = ?`,
  listExists: `SELECT 1 FROM lists WHERE id = ?`,
  addMembers: `INSERT OR IGNORE INTO list_members (list_id, contact_id, added_at)
    SELECT ?, value ->> 0, value ->> 1 FROM json_each(?)`,
  delete: `DELETE FROM contacts WHERE id = ?`,
} as const;

export class SqliteContactStore implements ContactStore {
  constructor(private readonly cache: StatementCache) {}

  /** Read, merge in JS, write: safe because the write lock is held from BEGIN IMMEDIATE. */
  upsert(input: ContactUpsert): Promise<{ contact: Contact; created: boolean }> {
    const run = this.cache.transaction(() => {
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

  /**
   * One IMMEDIATE transaction for the batch, on cached prepared statements
   * (per-row statements inside one transaction cost microseconds: the commit
   * is what is expensive). A row is inserted first, `ON CONFLICT (email) DO
   * NOTHING`: a new email (most rows of an import) costs that one statement;
   * an email that exists gets the single upsert's read-merge-write (SQLite
   * has no jsonb merge that drops null keys). Memberships go in one statement
   * for the batch. Both to spare statements on the import's hot path
   * (bench/import, docs/benchmarks.md).
   */
  upsertMany(
    rows: ContactUpsert[],
    options: { listId?: string; durability?: Durability } = {},
  ): Promise<{ created: number; updated: number }> {
    const { listId } = options;
    const run = this.cache.transaction(() => {
      if (listId !== undefined && !this.cache.get(SQL.listExists).get(listId)) {
        throw notFoundError('listId', `no list has the id ${JSON.stringify(listId)}`);
      }
      const insert = this.cache.get(SQL.insertNew);
      const find = this.cache.get<{ id: string; attributes: string }>(SQL.findForMerge);
      const update = this.cache.get(SQL.updatePlain);
      // [contact id, added at] of every row, for the members statement.
      const members: [string, number][] = [];
      let created = 0;
      let updated = 0;
      for (const input of combineUpserts(rows)) {
        const inserted = insert.run(
          input.id,
          input.email,
          JSON.stringify(mergeAttributes({}, input.attributes)),
          input.status ?? 'active',
          input.at,
          input.at,
        );
        if (inserted.changes === 1) {
          members.push([input.id, input.at]);
          created += 1;
          continue;
        }
        const existing = find.get(input.email);
        if (!existing) throw new Error(`contact ${input.email} neither inserted nor found`);
        const stored = decodeJsonText(existing.attributes) as Record<string, unknown>;
        const attributes = mergeAttributes(stored, input.attributes);
        update.run(JSON.stringify(attributes), input.status ?? null, input.at, existing.id);
        members.push([existing.id, input.at]);
        updated += 1;
      }
      if (listId !== undefined && members.length > 0) {
        this.cache.get(SQL.addMembers).run(listId, JSON.stringify(members));
      }
      return { created, updated };
    });
    if (options.durability !== 'deferred') return promised(() => run.immediate());
    return promised(() => runDeferred(this.cache, () => run.immediate()));
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
