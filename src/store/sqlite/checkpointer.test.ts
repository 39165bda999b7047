import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { newId } from '../../core/ids.js';
import { newMessage } from '../contract/fixtures.js';
import { openStore } from '../open-store.js';
import type { SqliteStore } from './sqlite-store.js';

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Long: the tests ask for each checkpoint themselves. A second start returns the first. */
const CHECKPOINTS = { intervalMs: 60_000, onError: () => undefined };

/** A migrated store on a new file, started as a server starts it; `errors` gets the thread's errors. */
async function storeWithCheckpointer(): Promise<{
  dir: string;
  path: string;
  errors: string[];
  store: SqliteStore;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-checkpoint-'));
  const path = join(dir, 'sluice.db');
  const errors: string[] = [];
  const store = (await openStore(`sqlite:${path}`, {
    sqliteCheckpoint: { intervalMs: 60_000, onError: (message) => errors.push(message) },
  })) as SqliteStore;
  await store.migrate();
  return { dir, path, errors, store };
}

describe('background checkpointer (SQLite)', () => {
  it('copies the WAL back in its own thread, so the WAL restarts instead of growing; close stops it', async () => {
    const { dir, path, errors, store } = await storeWithCheckpointer();
    try {
      const checkpointer = await store.checkpointInBackground(CHECKPOINTS);
      assert.ok(checkpointer, 'started by openStore (and a second call returns it)');
      const write = async (round: number): Promise<void> => {
        await store.contacts.upsertMany(
          Array.from({ length: 2_000 }, (_, i) => ({
            id: newId('contact'),
            email: `r${round}-${i}@example.test`,
            attributes: { note: 'x'.repeat(200) },
            at: round,
          })),
        );
      };
      await write(0);
      const grown = (await stat(`${path}-wal`)).size;
      checkpointer.checkpointNow();
      await until('a checkpoint that copies pages', () => checkpointer.copied > 0);
      // Everything was copied back: the next writes start the WAL over.
      for (let round = 1; round <= 5; round++) {
        await write(round);
        const before = checkpointer.checkpoints;
        checkpointer.checkpointNow();
        await until('the checkpoint', () => checkpointer.checkpoints > before);
      }
      const walSize = (await stat(`${path}-wal`)).size;
      assert.ok(
        walSize <= grown * 1.5,
        `the WAL restarted (${walSize} bytes after 6 rounds, ${grown} after 1)`,
      );
      assert.deepEqual(errors, []);
    } finally {
      await store.close();
    }
    // Closed cleanly, thread and all: every row is in the file.
    const db = new Database(path, { readonly: true });
    try {
      const row = db.prepare('SELECT count(*) AS n FROM contacts').get() as { n: number };
      assert.equal(row.n, 12_000);
    } finally {
      db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('takes the counts by status off the event loop, and refuses to write', async () => {
    const { dir, errors, store } = await storeWithCheckpointer();
    try {
      const checkpointer = await store.checkpointInBackground(CHECKPOINTS);
      assert.ok(checkpointer);
      for (const to of ['a@example.test', 'b@example.test']) {
        await store.messages.accept(newMessage({ to: { email: to } }));
      }
      const before = checkpointer.reads;
      const counts = await store.messages.countByStatus();
      assert.equal(counts.queued, 2);
      assert.equal(counts.delivered, 0);
      assert.equal((await store.webhooks.countByStatus()).pending, 0);
      assert.equal(checkpointer.reads, before + 2, 'both were read on the thread');
      await assert.rejects(
        checkpointer.query('DELETE FROM messages') ?? Promise.resolve(),
        /only reads run on the checkpoint thread/,
      );
      assert.equal((await store.messages.countByStatus()).queued, 2);
      assert.deepEqual(errors, []);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is not started for an in-memory database', async () => {
    const store = (await openStore('sqlite::memory:', {
      sqliteCheckpoint: { intervalMs: 1000, onError: () => undefined },
    })) as SqliteStore;
    try {
      assert.equal(
        await store.checkpointInBackground({ intervalMs: 1000, onError: () => undefined }),
        undefined,
      );
    } finally {
      await store.close();
    }
  });
});
