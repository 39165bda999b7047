/**
 * The suppression list on SQLite. Keys are lower-cased addresses
 * (core/suppression.ts); every method lower-cases what it is given.
 */
import type { Page, SuppressionQuery, SuppressionStore } from '../../core/ports/store.js';
import {
  suppressionKey,
  type Suppression,
  type SuppressionUpsert,
} from '../../core/suppression.js';
import { fetchSize, likePrefix, toPageBy } from '../paging.js';
import { suppressionFromRow, type SuppressionRow } from '../rows.js';
import { promised } from './sqlite-errors.js';
import type { StatementCache } from './statement-cache.js';

const SQL = {
  upsert: `INSERT INTO suppressions
      (email, reason, category, source_message_id, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (email) DO UPDATE SET reason = excluded.reason, category = excluded.category,
      source_message_id = excluded.source_message_id, updated_at = excluded.updated_at
    RETURNING *`,
  get: `SELECT * FROM suppressions WHERE email = ?`,
  delete: `DELETE FROM suppressions WHERE email = ?`,
  page: `SELECT * FROM suppressions WHERE email > ? ORDER BY email LIMIT ?`,
  pageWithPrefix: `SELECT * FROM suppressions WHERE email > ? AND email LIKE ? ESCAPE '\\'
    ORDER BY email LIMIT ?`,
  among: `SELECT email FROM suppressions WHERE email IN (SELECT value FROM json_each(?))`,
} as const;

/** Adds or renews one entry; also used inside the settle transaction. */
export function upsertSuppression(cache: StatementCache, input: SuppressionUpsert): Suppression {
  const row = cache
    .get<SuppressionRow>(SQL.upsert)
    .get(
      suppressionKey(input.email),
      input.reason,
      input.category ?? null,
      input.sourceMessageId ?? null,
      input.at,
      input.at,
    );
  return suppressionFromRow(row as SuppressionRow);
}

export class SqliteSuppressionStore implements SuppressionStore {
  constructor(private readonly cache: StatementCache) {}

  add(input: SuppressionUpsert): Promise<{ suppression: Suppression; created: boolean }> {
    const run = this.cache.transaction(() => {
      const existing = this.cache.get(SQL.get).get(suppressionKey(input.email));
      return { suppression: upsertSuppression(this.cache, input), created: !existing };
    });
    return promised(() => run.immediate());
  }

  remove(email: string): Promise<boolean> {
    return promised(() => this.cache.get(SQL.delete).run(suppressionKey(email)).changes > 0);
  }

  get(email: string): Promise<Suppression | undefined> {
    return promised(() => {
      const row = this.cache.get<SuppressionRow>(SQL.get).get(suppressionKey(email));
      return row ? suppressionFromRow(row) : undefined;
    });
  }

  list(query: SuppressionQuery): Promise<Page<Suppression>> {
    return promised(() => {
      const after = query.after ?? '';
      const rows = query.prefix
        ? this.cache
            .get<SuppressionRow>(SQL.pageWithPrefix)
            .all(after, likePrefix(suppressionKey(query.prefix)), fetchSize(query))
        : this.cache.get<SuppressionRow>(SQL.page).all(after, fetchSize(query));
      return toPageBy(rows.map(suppressionFromRow), query, (s) => s.email);
    });
  }

  suppressedAmong(emails: string[]): Promise<Set<string>> {
    if (emails.length === 0) return Promise.resolve(new Set());
    return promised(() => {
      const keys = JSON.stringify([...new Set(emails.map(suppressionKey))]);
      const rows = this.cache.get<{ email: string }>(SQL.among).all(keys);
      return new Set(rows.map((row) => row.email));
    });
  }
}
