import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openSqliteStore } from './sqlite-store.js';
import { WEBHOOK_SQL } from './webhooks.js';

describe('sqlite webhook queries', () => {
  it('claims and finds due endpoints through the partial index, never scanning the backlog', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-sqlite-'));
    const path = join(dir, 'sluice.db');
    const store = openSqliteStore(path);
    const db = new Database(path, { readonly: true });
    try {
      await store.migrate();
      const plan = (sql: string, ...params: unknown[]): string =>
        db
          .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
          .all(...params)
          .map((row) => row.detail)
          .join('\n');
      const due =
        /SEARCH d\b.*USING INDEX webhook_deliveries_due \(endpoint_id=\? AND next_attempt_at<\?\)/;
      assert.match(plan(WEBHOOK_SQL.pick, 'wh', 0, 10), due);
      assert.match(plan(WEBHOOK_SQL.dueEndpoints, 0, 10), due);
      assert.match(
        plan(WEBHOOK_SQL.purgeFinished, 0),
        /USING INDEX webhook_deliveries_finished \(finished_at<\?\)/,
      );
    } finally {
      db.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
