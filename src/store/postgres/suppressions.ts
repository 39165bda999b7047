/**
 * The suppression list on PostgreSQL: each method is one statement. Keys
 * are lower-cased addresses (core/suppression.ts).
 */
import type { Page, SuppressionQuery, SuppressionStore } from '../../core/ports/store.js';
import {
  suppressionKey,
  type Suppression,
  type SuppressionUpsert,
} from '../../core/suppression.js';
import { fetchSize, likePrefix, toPageBy } from '../paging.js';
import { suppressionFromRow, type SuppressionRow } from '../rows.js';
import type { PgDatabase } from './pg-database.js';

const SQL = {
  /** `xmax = 0` holds only for a row this statement inserted (see contacts.ts). */
  upsert: `INSERT INTO suppressions
      (email, reason, category, source_message_id, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $5)
    ON CONFLICT (email) DO UPDATE SET reason = excluded.reason, category = excluded.category,
      source_message_id = excluded.source_message_id, updated_at = excluded.updated_at
    RETURNING *, (xmax = 0) AS created`,
  get: `SELECT * FROM suppressions WHERE email = $1`,
  delete: `DELETE FROM suppressions WHERE email = $1`,
  page: `SELECT * FROM suppressions
    WHERE email > $1 AND ($2::text IS NULL OR email LIKE $2 ESCAPE '\\')
    ORDER BY email LIMIT $3`,
  among: `SELECT email FROM suppressions WHERE email = ANY ($1::text[])`,
} as const;

export class PgSuppressionStore implements SuppressionStore {
  constructor(private readonly db: PgDatabase) {}

  async add(input: SuppressionUpsert): Promise<{ suppression: Suppression; created: boolean }> {
    const [row] = await this.db.rows<SuppressionRow & { created: boolean }>(SQL.upsert, [
      suppressionKey(input.email),
      input.reason,
      input.category ?? null,
      input.sourceMessageId ?? null,
      input.at,
    ]);
    if (!row) throw new Error('suppression upsert returned no row');
    return { suppression: suppressionFromRow(row), created: row.created };
  }

  async remove(email: string): Promise<boolean> {
    const result = await this.db.query(SQL.delete, [suppressionKey(email)]);
    return (result.rowCount ?? 0) > 0;
  }

  async get(email: string): Promise<Suppression | undefined> {
    const [row] = await this.db.rows<SuppressionRow>(SQL.get, [suppressionKey(email)]);
    return row ? suppressionFromRow(row) : undefined;
  }

  async list(query: SuppressionQuery): Promise<Page<Suppression>> {
    const prefix = query.prefix ? likePrefix(suppressionKey(query.prefix)) : null;
    const rows = await this.db.rows<SuppressionRow>(SQL.page, [
      query.after ?? '',
      prefix,
      fetchSize(query),
    ]);
    return toPageBy(rows.map(suppressionFromRow), query, (s) => s.email);
  }

  async suppressedAmong(emails: string[]): Promise<Set<string>> {
    if (emails.length === 0) return new Set();
    const keys = [...new Set(emails.map(suppressionKey))];
    const rows = await this.db.rows<{ email: string }>(
      SQL.among,
      [keys],
      'sluice_suppressed_among',
    );
    return new Set(rows.map((row) => row.email));
  }
}
