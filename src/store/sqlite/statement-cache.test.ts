import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { StatementCache } from './statement-cache.js';

interface Files {
  cache: StatementCache;
  /** Another connection to the same file: sees only what is committed. */
  reader: Database.Database;
}

async function withFiles(fn: (files: Files) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-turn-'));
  const db = new Database(join(dir, 'turn.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE t (id TEXT PRIMARY KEY)');
  const reader = new Database(join(dir, 'turn.db'), { readonly: true });
  const cache = new StatementCache(db);
  try {
    await fn({ cache, reader });
  } finally {
    cache.commitTurn();
    reader.close();
    db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const INSERT = 'INSERT INTO t (id) VALUES (?)';

function committed(reader: Database.Database): string[] {
  return reader
    .prepare<[], { id: string }>('SELECT id FROM t ORDER BY id')
    .all()
    .map((row) => row.id);
}

const synchronous = (cache: StatementCache): unknown =>
  cache.db.pragma('synchronous', { simple: true });

/** Resolves after the current microtask checkpoint and whatever it queued. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('StatementCache: the deferred turn', () => {
  it('runs deferred writes at once and commits them together once the microtask checkpoint is over, with synchronous=NORMAL', async () => {
    await withFiles(async ({ cache, reader }) => {
      await nextTurn();
      cache.deferred(() => cache.get(INSERT).run('a'));
      await Promise.resolve(); // a promise continuation, as the next step of a journey
      cache.deferred(() => cache.get(INSERT).run('b'));
      assert.deepEqual(
        cache.get<{ n: number }>('SELECT count(*) AS n FROM t').get()?.n,
        2,
        'the connection itself reads its turn',
      );
      assert.deepEqual(committed(reader), [], 'not committed while the checkpoint runs');
      assert.equal(synchronous(cache), 1, 'NORMAL while the turn is open');
      await nextTurn();
      assert.deepEqual(committed(reader), ['a', 'b']);
      assert.equal(synchronous(cache), 2, 'FULL again after the turn');
      assert.equal(cache.db.inTransaction, false);
    });
  });

  it('commits the turn before any other write: an autocommit statement, immediate(), transaction()', async () => {
    await withFiles(async ({ cache, reader }) => {
      cache.deferred(() => cache.get(INSERT).run('a'));
      cache.get(INSERT).run('b');
      assert.deepEqual(committed(reader), ['a', 'b'], 'the autocommit write did not join the turn');
      cache.deferred(() => cache.get(INSERT).run('c'));
      cache.immediate(() => cache.get(INSERT).run('d'));
      assert.deepEqual(committed(reader), ['a', 'b', 'c', 'd']);
      cache.deferred(() => cache.get(INSERT).run('e'));
      cache.transaction(() => cache.get(INSERT).run('f')).immediate();
      assert.deepEqual(committed(reader), ['a', 'b', 'c', 'd', 'e', 'f']);
      cache.deferred(() => cache.get(INSERT).run('g'));
      assert.equal(
        cache.get<{ n: number }>('SELECT count(*) AS n FROM t').get()?.n,
        7,
        'a read does not end the turn',
      );
      assert.deepEqual(committed(reader), ['a', 'b', 'c', 'd', 'e', 'f']);
      assert.equal(synchronous(cache), 1);
      await nextTurn();
      assert.equal(synchronous(cache), 2);
    });
  });

  it('rolls back a failing deferred write alone; the rest of the turn commits', async () => {
    await withFiles(async ({ cache, reader }) => {
      cache.deferred(() => cache.get(INSERT).run('a'));
      assert.throws(
        () =>
          cache.deferred(() => {
            cache.get(INSERT).run('b');
            cache.get(INSERT).run('a');
          }),
        /UNIQUE constraint failed/,
      );
      cache.deferred(() => cache.get(INSERT).run('c'));
      await nextTurn();
      assert.deepEqual(committed(reader), ['a', 'c']);
    });
  });

  it('a transaction nested in deferred work is a savepoint of the turn, not its end', async () => {
    await withFiles(async ({ cache, reader }) => {
      cache.deferred(() => {
        cache.get(INSERT).run('a');
        cache.immediate(() => cache.get(INSERT).run('b'));
        cache.get(INSERT).run('c');
      });
      assert.deepEqual(committed(reader), []);
      await nextTurn();
      assert.deepEqual(committed(reader), ['a', 'b', 'c']);
      assert.equal(synchronous(cache), 2);
    });
  });

  it('opens a new turn when an error rolled the last one back, and leaves FULL after it', async () => {
    await withFiles(async ({ cache, reader }) => {
      cache.deferred(() => cache.get(INSERT).run('a'));
      cache.db.prepare('ROLLBACK').run(); // what SQLite does on SQLITE_FULL or SQLITE_IOERR
      cache.deferred(() => cache.get(INSERT).run('b'));
      await nextTurn();
      assert.deepEqual(committed(reader), ['b']);
      assert.equal(synchronous(cache), 2);
    });
  });

  it('a deferred batch of withNormalSync during the turn keeps NORMAL until both are done', async () => {
    await withFiles(async ({ cache, reader }) => {
      cache.deferred(() => cache.get(INSERT).run('a'));
      cache.withNormalSync(() => cache.immediate(() => cache.get(INSERT).run('b')));
      assert.deepEqual(committed(reader), ['a', 'b']);
      assert.equal(synchronous(cache), 2, 'the turn ended inside it, and so did NORMAL');
      await nextTurn();
      assert.equal(synchronous(cache), 2);
    });
  });
});
