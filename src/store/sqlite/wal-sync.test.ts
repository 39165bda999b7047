import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isSluiceError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { NewEvent } from '../../core/ports/store.js';
import { newMessage } from '../contract/fixtures.js';
import { SqliteEventStore } from './events.js';
import { SqliteMessageStore } from './messages.js';
import { openSqliteStore } from './sqlite-store.js';
import { StatementCache } from './statement-cache.js';
import { WalSync } from './wal-sync.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-walsync-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function signedUp(now: number): NewEvent {
  return {
    id: newId('event'),
    contact: { email: 'a@example.test' },
    newContactId: newId('contact'),
    name: 'signed.up',
    properties: {},
    occurredAt: now,
    receivedAt: now,
  };
}

describe('WalSync (SQLite durable commits off the event loop)', () => {
  it('never lets a caller join an fdatasync that started before it asked; callers meanwhile share the next', async () => {
    await withDir(async (dir) => {
      const store = openSqliteStore(join(dir, 'sluice.db'));
      try {
        await store.migrate();
        const wal = new WalSync(join(dir, 'sluice.db-wal'));
        const first = wal.sync();
        const waiting = [wal.sync(), wal.sync(), wal.sync()];
        assert.equal(wal.syncs, 1, 'the first one runs, the others wait');
        await Promise.all([first, ...waiting]);
        assert.equal(wal.syncs, 2, 'the three that asked during the first share one more');
        await wal.sync();
        assert.equal(wal.syncs, 3, 'nothing running: a new one at once');
        await wal.close();
      } finally {
        await store.close();
      }
    });
  });

  it('keeps the WAL open between syncs, opens it again after a failed open, and refuses syncs once closed', async () => {
    await withDir(async (dir) => {
      const path = join(dir, 'later.db-wal');
      const wal = new WalSync(path);
      await assert.rejects(wal.sync(), { code: 'ERR_STORE_UNAVAILABLE' });
      await writeFile(path, 'frames');
      await wal.sync();
      await wal.sync();
      assert.equal(wal.syncs, 3);
      await wal.close();
      await assert.rejects(wal.sync(), (error: unknown) => {
        assert.ok(isSluiceError(error));
        assert.equal(error.code, 'ERR_STORE_UNAVAILABLE');
        assert.match(error.message, /the store is closed/);
        return true;
      });
    });
  });

  it('an fdatasync that fails fails the append and the accept that waited for it (ERR_STORE_UNAVAILABLE)', async () => {
    await withDir(async (dir) => {
      const store = openSqliteStore(join(dir, 'sluice.db'));
      await store.migrate();
      await store.close();
      const Database = (await import('better-sqlite3')).default;
      const db = new Database(join(dir, 'sluice.db'));
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      const cache = new StatementCache(db);
      const broken = new WalSync(join(dir, 'missing', 'sluice.db-wal'));
      const events = new SqliteEventStore(cache, undefined, broken);
      const messages = new SqliteMessageStore(cache, undefined, broken);
      try {
        const now = Date.now();
        const appended = events.append([signedUp(now)]);
        await assert.rejects(appended, (error: unknown) => {
          assert.ok(isSluiceError(error));
          assert.equal(error.code, 'ERR_STORE_UNAVAILABLE');
          assert.match(error.message, /fdatasync of .*missing.*sluice\.db-wal failed/);
          return true;
        });
        const accepted = messages.accept(newMessage({ createdAt: now, expiresAt: now + 60_000 }));
        await assert.rejects(accepted, { code: 'ERR_STORE_UNAVAILABLE' });
        // Deferred accepts do not wait for the disk, so the broken sync does not touch them.
        const deferred = await messages.accept(
          newMessage({ createdAt: now, expiresAt: now + 60_000 }),
          undefined,
          { durability: 'deferred' },
        );
        assert.equal(deferred.kind, 'created');
        assert.equal(broken.syncs, 2);
      } finally {
        await Promise.all([events.close(), messages.close()]);
        cache.commitTurn();
        db.close();
      }
    });
  });

  it('announces an append once committed, before the fdatasync that makes it durable', async () => {
    await withDir(async (dir) => {
      const store = openSqliteStore(join(dir, 'sluice.db'));
      try {
        await store.migrate();
        const wal = store.walSync;
        assert.ok(wal);
        const before = wal.syncs;
        let syncsWhenHeard = -1;
        const now = Date.now();
        await store.events.append([signedUp(now)], {
          onCommitted: () => void (syncsWhenHeard = wal.syncs),
        });
        assert.equal(syncsWhenHeard, before, 'heard of before its fdatasync started');
        assert.equal(wal.syncs, before + 1, 'answered after it');
      } finally {
        await store.close();
      }
    });
  });

  it('a store on a file answers appends and accepts after an fdatasync of its WAL', async () => {
    await withDir(async (dir) => {
      const store = openSqliteStore(join(dir, 'sluice.db'));
      try {
        await store.migrate();
        const now = Date.now();
        const before = store.walSync?.syncs ?? -1;
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.messages.accept(
              newMessage({ id: newId('message'), createdAt: now, expiresAt: now + 60_000 }),
              { scope: 'test', key: `k${i}`, requestHash: 'h' },
            ),
          ),
        );
        assert.ok(results.every((result) => result.kind === 'created'));
        const after = store.walSync?.syncs ?? -1;
        assert.ok(after > before, 'accepts waited for an fdatasync');
        assert.ok(after - before <= 2, `one batch, at most two fdatasyncs (${after - before})`);
        assert.equal(store.settings().synchronous, 'full', 'the connection is back to FULL');
      } finally {
        await store.close();
      }
    });
  });
});
