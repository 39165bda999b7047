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

  it('a turn opened in a callback commits after the promise continuations it set off, then tells its waiters', async () => {
    await withFiles(async ({ cache, reader }) => {
      const seen: string[][] = [];
      const done = new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          // As an events batch does: written in the turn from a callback, then announced.
          cache.deferred(() => cache.get(INSERT).run('a'));
          void Promise.resolve()
            .then(() => cache.deferred(() => cache.get(INSERT).run('b')))
            .then(() => cache.deferred(() => cache.get(INSERT).run('c')));
          seen.push(committed(reader));
          cache.turnCommitted().then(() => {
            seen.push(committed(reader));
            resolve();
          }, reject);
        });
      });
      await done;
      assert.deepEqual(
        seen,
        [[], ['a', 'b', 'c']],
        'one COMMIT for the callback and its continuations',
      );
      assert.equal(synchronous(cache), 2);
      await cache.turnCommitted(); // no turn open: at once
    });
  });

  it('a COMMIT that fails rejects the waiters, undoes the turn, and is told to the next deferred caller', async () => {
    await withFiles(async ({ cache, reader }) => {
      // A deferred foreign key is checked at COMMIT: the way to make one fail here.
      cache.db.pragma('foreign_keys = ON');
      cache.db.exec(`CREATE TABLE child (id TEXT PRIMARY KEY,
        parent TEXT REFERENCES t (id) DEFERRABLE INITIALLY DEFERRED)`);
      cache.deferred(() => cache.get(INSERT).run('a'));
      cache.deferred(() =>
        cache.get('INSERT INTO child (id, parent) VALUES (?, ?)').run('k', 'nope'),
      );
      await assert.rejects(cache.turnCommitted(), /FOREIGN KEY constraint failed/);
      assert.deepEqual(committed(reader), [], 'the whole turn was undone');
      assert.equal(cache.db.inTransaction, false);
      assert.equal(synchronous(cache), 2);
      assert.throws(() => cache.deferred(() => cache.get(INSERT).run('b')), /FOREIGN KEY/);
      cache.deferred(() => cache.get(INSERT).run('b'));
      await cache.turnCommitted();
      assert.deepEqual(committed(reader), ['b']);
    });
  });

  it('a turn an error rolled back before its COMMIT rejects its waiters', async () => {
    await withFiles(async ({ cache, reader }) => {
      cache.deferred(() => cache.get(INSERT).run('a'));
      const waiting = cache.turnCommitted();
      cache.db.prepare('ROLLBACK').run(); // what SQLite does on SQLITE_FULL or SQLITE_IOERR
      await assert.rejects(waiting, { code: 'ERR_STORE_UNAVAILABLE' });
      assert.deepEqual(committed(reader), []);
      assert.equal(synchronous(cache), 2);
    });
  });

  it('inTurn() writes in the turn itself; should it throw, the whole turn is undone and its waiters told', async () => {
    await withFiles(async ({ cache, reader }) => {
      cache.deferred(() => cache.get(INSERT).run('a'));
      cache.inTurn(() => cache.get(INSERT).run('b'));
      await cache.turnCommitted();
      assert.deepEqual(committed(reader), ['a', 'b'], 'one turn, committed together');

      cache.deferred(() => cache.get(INSERT).run('c'));
      const waiting = cache.turnCommitted();
      assert.throws(
        () =>
          cache.inTurn(() => {
            cache.get(INSERT).run('d');
            cache.get(INSERT).run('a');
          }),
        /UNIQUE constraint failed/,
      );
      await assert.rejects(waiting, /UNIQUE constraint failed/);
      assert.equal(cache.db.inTransaction, false);
      assert.equal(synchronous(cache), 2);
      assert.throws(() => cache.deferred(() => cache.get(INSERT).run('e')), /UNIQUE/);
      cache.deferred(() => {
        cache.get(INSERT).run('e');
        // Inside deferred work, a savepoint: its failure undoes only itself.
        assert.throws(() => cache.inTurn(() => cache.get(INSERT).run('a')), /UNIQUE/);
      });
      await cache.turnCommitted();
      assert.deepEqual(committed(reader), ['a', 'b', 'e'], 'c and d were undone with their turn');
    });
  });
});
