/**
 * Deferred commits on SQLite: one transaction run with `synchronous=NORMAL`
 * instead of the connection's `FULL`. In WAL mode its frames are written to
 * the WAL (a crash of the process loses nothing: the operating system has
 * them) but not fsynced; the next FULL commit's fsync of the WAL makes them
 * durable with its own. Only a power cut (or a kernel crash) before that can
 * lose them.
 *
 * Used where losing the last writes to a power cut costs a repeat, never a
 * loss: the outbox's claims and settlements (the message is claimed and sent
 * again: at least once, as after any crash) and the batches of a bulk import
 * but its last (docs/storage.md). An fsync costs milliseconds on a virtual
 * disk and better-sqlite3 waits for it on the event loop that also drives the
 * SMTP sockets, so a settlement batch every ~20 ms would otherwise spend a
 * good part of the loop waiting for the disk.
 *
 * The setting is changed and restored inside one synchronous call
 * (StatementCache.withNormalSync), so no other transaction of the
 * connection can run in between and see it.
 */
import type { ItemOutcome } from '../group-commit.js';
import { isConstraintError, mapped, mapSqliteError } from './sqlite-errors.js';
import type { StatementCache } from './statement-cache.js';
import type { WalSync } from './wal-sync.js';

export function runDeferred<R>(cache: StatementCache, transaction: () => R): R {
  return cache.withNormalSync(transaction);
}

/**
 * A durable commit: with a WalSync (a file in WAL mode), `transaction` runs
 * at once in the connection's deferred turn (StatementCache.inTurn: in its
 * transaction, not in a savepoint; should it throw, the turn is rolled
 * back), and the promise resolves once the turn has committed and an
 * fdatasync of the WAL, off the event loop, has covered it
 * (./wal-sync.ts); without one (`:memory:`), a transaction of its own with
 * the connection's FULL commit.
 *
 * `onCommitted` sees the result at once: the rows are visible to this
 * process, not yet committed. What it sets off (the journey writes an
 * event's announcement causes) joins the same COMMIT, one instead of two
 * per events batch. Should that COMMIT fail (a full disk), the batch's
 * callers get the error and everything written in the turn is undone with
 * it, as a power cut before the fdatasync would: a retried event is stored
 * and handled again (at least once, docs/storage.md).
 *
 * Errors of the transaction are mapped as `mapped` does; the promise
 * rejects with them, and with the COMMIT's error, mapped too.
 */
export async function runDurable<R>(
  cache: StatementCache,
  wal: WalSync | undefined,
  transaction: () => R,
  onCommitted?: (result: R) => void,
): Promise<R> {
  if (!wal) {
    const result = mapped(() => cache.immediate(transaction));
    onCommitted?.(result);
    return result;
  }
  const result = mapped(() => cache.inTurn(transaction));
  onCommitted?.(result);
  try {
    await cache.turnCommitted();
  } catch (error) {
    throw mapSqliteError(error);
  }
  await wal.sync();
  return result;
}

/**
 * Writes a group commit's items, each in a savepoint of the batch's
 * transaction: a constraint violation (a duplicate id) undoes that item
 * alone and becomes its outcome, mapped with the values `valuesOf` gives
 * it; any other error aborts the batch (it is thrown).
 */
export function itemOutcomes<T, R>(
  cache: StatementCache,
  items: readonly T[],
  write: (item: T) => R,
  valuesOf: (item: T) => Record<string, unknown>,
): ItemOutcome<R>[] {
  return items.map((item): ItemOutcome<R> => {
    try {
      return { ok: true, value: cache.savepoint(() => write(item)) };
    } catch (error) {
      if (!isConstraintError(error)) throw error;
      return { ok: false, error: mapSqliteError(error, valuesOf(item)) };
    }
  });
}
