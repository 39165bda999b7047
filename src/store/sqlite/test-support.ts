/**
 * For the query-plan tests: a migrated SQLite file in a temporary folder,
 * read through a second, read-only connection, and `plan()`, the lines of
 * EXPLAIN QUERY PLAN for a statement joined by newlines (in SQLite's
 * order: the table it starts from first).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteStore } from './sqlite-store.js';

export type QueryPlan = (sql: string, ...params: unknown[]) => string;

export async function withQueryPlans(check: (plan: QueryPlan) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-sqlite-'));
  const path = join(dir, 'sluice.db');
  const store = openSqliteStore(path);
  let db: Database.Database | undefined;
  try {
    await store.migrate();
    const readonly = new Database(path, { readonly: true });
    db = readonly;
    check((sql, ...params) =>
      readonly
        .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
        .all(...params)
        .map((row) => row.detail)
        .join('\n'),
    );
  } finally {
    db?.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
