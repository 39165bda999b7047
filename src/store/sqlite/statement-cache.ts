import type Database from 'better-sqlite3';
import { unavailableError } from '../store-errors.js';
import { mapSqliteError, promised } from './sqlite-errors.js';

/** A turn an error (SQLITE_FULL, SQLITE_IOERR) rolled back before its COMMIT. */
const rolledBack = (): Error =>
  unavailableError('a write error rolled back the transaction before it committed');

interface Cached {
  statement: Database.Statement<unknown[], unknown>;
  /** The statement writes: outside deferred work, it first commits the open turn. */
  writes: boolean;
}

/**
 * One SQLite connection's prepared statements and transactions.
 *
 * Statements are compiled on first use and kept for the life of the
 * connection (preparing costs more than running a small statement). Lazy
 * because the tables exist only after migrate().
 *
 * **The deferred turn.** Writes that need no fsync of their own (a
 * journey's entry, send log, run state and message: each replayed from a
 * durable event should a power cut undo it, docs/storage.md) run through
 * deferred(): at once, each in a savepoint of one transaction that stays
 * open until the current microtask checkpoint has run dry, and commits
 * then (a process.nextTick queued from a microtask runs once the microtask
 * queue is empty, before the event loop moves on). All the steps of all
 * the events a commit announced thus share one COMMIT: a journey's four
 * writes were four transactions, and their commits were the largest share
 * of a triggered email's CPU (bench/triggers). Durable batches (events,
 * accepts) are written in the turn too, and wait for its COMMIT
 * (turnCommitted()) and then for an fdatasync (./deferred-commit.ts): the
 * journey writes their announcement causes join the same COMMIT.
 *
 * Nothing else may write inside that transaction: it commits with
 * `synchronous=NORMAL` and after its deferred callers were answered. So every other
 * way to write commits the turn first: immediate(), transaction(), and a
 * statement from get() that writes, fetched outside deferred work (an
 * autocommit write). Reads run inside it and see its rows, as they would
 * a moment later. Statements prepared elsewhere on the connection
 * (`db.prepare`) must only read.
 */
export class StatementCache {
  private readonly statements = new Map<string, Cached>();
  /**
   * One better-sqlite3 transaction function for every transaction of the
   * hot paths, the work passed as an argument: making one costs ~10 µs (as
   * much as a small transaction), and a commit made several a time.
   */
  private readonly transactionOf: Database.Transaction<(work: () => unknown) => unknown>;
  private readonly pragmas: {
    begin: Database.Statement;
    commit: Database.Statement;
    rollback: Database.Statement;
  };
  /** Holders of synchronous=NORMAL (withNormalSync() calls, the open turn): FULL comes back when none is left. */
  private normalDepth = 0;
  /** A deferred turn's transaction is open. */
  private turnOpen = false;
  /** deferred() work is running (its own statements do not commit the turn). */
  private inDeferred = 0;
  /** Why the last turn failed to commit, told to the next deferred() caller. */
  private turnError: Error | undefined;
  /** Who waits for the open turn's COMMIT (turnCommitted()). */
  private turnWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private readonly endTurn = (): void => this.commitTurn();
  /**
   * Queued as a microtask, so that the nextTick it queues runs once the
   * microtask queue has run dry, also when the turn was opened outside a
   * microtask (a timer, an I/O callback): Node runs the nextTick queue
   * before the microtasks of a callback, and the turn would commit before
   * the promise continuations of that callback could join it.
   */
  private readonly endTurnSoon = (): void => void process.nextTick(this.endTurn);

  constructor(readonly db: Database.Database) {
    this.transactionOf = db.transaction((work: () => unknown) => work());
    this.pragmas = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
    };
  }

  /** Runs `work` in a BEGIN IMMEDIATE transaction (a savepoint inside one), after committing the open turn. */
  immediate<R>(work: () => R): R {
    this.commitTurn();
    return this.transactionOf.immediate(work) as R;
  }

  /** Runs `work` under a savepoint of the open transaction: what it throws undoes only its own writes. */
  savepoint<R>(work: () => R): R {
    return this.transactionOf(work) as R;
  }

  /**
   * `fn` as a transaction to run with `.immediate()` (use it instead of
   * `db.transaction`): BEGIN IMMEDIATE after committing the open turn, as
   * immediate() does.
   */
  transaction<R>(fn: () => R): { immediate: () => R } {
    return { immediate: () => this.immediate(fn) };
  }

  /**
   * Runs `work` now, in a savepoint of this turn's deferred transaction
   * (opened by the first call of a turn, committed once the microtask
   * checkpoint is over): what it throws undoes only its own writes.
   * Committed with `synchronous=NORMAL` and after the caller has its result:
   * only for writes that a replay restores (see the class comment).
   */
  deferred<R>(work: () => R): R {
    this.openTurn();
    this.inDeferred += 1;
    try {
      return this.transactionOf(work) as R;
    } finally {
      this.inDeferred -= 1;
    }
  }

  /**
   * Runs `work` at once in this turn's transaction itself, not in a
   * savepoint: for a durable batch (an events batch, accepts:
   * ./deferred-commit.ts). A savepoint copies each page it changes to
   * SQLite's statement journal, which spills to a temporary file past
   * 64 KiB (16 pages), and every later savepoint of the transaction then
   * writes to that file: a batch of a few events in a savepoint made each
   * journey write of its turn cost twice as much (bench/triggers).
   * Should `work` throw, the whole turn is rolled back, as an I/O error
   * would roll it back: its waiters and the next deferred() caller get the
   * error, and the writes of the turn replay as after a power cut
   * (docs/storage.md). Inside deferred work, a savepoint as deferred() makes.
   */
  inTurn<R>(work: () => R): R {
    if (this.inDeferred > 0) return this.transactionOf(work) as R;
    this.openTurn();
    this.inDeferred += 1;
    try {
      return work();
    } catch (error) {
      this.abortTurn(error instanceof Error ? error : new Error(String(error)));
      throw error;
    } finally {
      this.inDeferred -= 1;
    }
  }

  /** Opens the turn if none is open: BEGIN IMMEDIATE with NORMAL, committed once the microtask checkpoint is over. */
  private openTurn(): void {
    if (this.turnError !== undefined) {
      const error = this.turnError;
      this.turnError = undefined;
      throw error;
    }
    // An error can roll the transaction back under the turn (SQLITE_FULL, SQLITE_IOERR).
    if (this.turnOpen && !this.db.inTransaction) {
      this.turnOpen = false;
      this.leaveNormal();
      this.settleWaiters(rolledBack());
    }
    if (this.turnOpen) return;
    // The safety level cannot change inside a transaction: NORMAL from before BEGIN to after COMMIT.
    this.enterNormal();
    try {
      this.pragmas.begin.run();
    } catch (error) {
      this.leaveNormal();
      throw error;
    }
    this.turnOpen = true;
    queueMicrotask(this.endTurnSoon);
  }

  /** Rolls the open turn back: its waiters get `error`, and so does the next deferred() caller. */
  private abortTurn(error: Error): void {
    if (!this.turnOpen) return;
    this.turnOpen = false;
    this.turnError = error;
    try {
      if (this.db.open && this.db.inTransaction) this.pragmas.rollback.run();
    } finally {
      if (this.db.open) this.leaveNormal();
      else this.normalDepth = 0;
      this.settleWaiters(error);
    }
  }

  /**
   * Resolves once the open turn has committed (at once when none is open),
   * or rejects with what undid it: how a durable write made in the turn
   * learns that its COMMIT happened (./deferred-commit.ts).
   */
  turnCommitted(): Promise<void> {
    if (!this.turnOpen) return Promise.resolve();
    return new Promise((resolve, reject) => this.turnWaiters.push({ resolve, reject }));
  }

  /**
   * Commits the deferred turn now, if one is open (with `synchronous=NORMAL`).
   * Should the COMMIT fail (a full disk), the turn is rolled back, as a
   * power cut would undo it; its waiters and the next deferred() caller get
   * the error.
   */
  commitTurn(): void {
    // Inside deferred work (a write nested in it) the turn goes on: what runs is a savepoint of it.
    if (!this.turnOpen || this.inDeferred > 0) return;
    this.turnOpen = false;
    if (!this.db.open) {
      this.normalDepth = 0; // closing rolled the turn back
      this.settleWaiters(unavailableError('the store closed before the write committed'));
      return;
    }
    let failure: Error | undefined;
    try {
      // Not in a transaction: an error rolled it back already.
      if (this.db.inTransaction) this.pragmas.commit.run();
      else failure = rolledBack();
    } catch (error) {
      failure = error instanceof Error ? error : new Error('the deferred commit failed');
      this.turnError = failure;
      if (this.db.inTransaction) this.pragmas.rollback.run();
    } finally {
      this.leaveNormal();
      this.settleWaiters(failure);
    }
  }

  private settleWaiters(failure: Error | undefined): void {
    if (this.turnWaiters.length === 0) return;
    const waiters = this.turnWaiters;
    this.turnWaiters = [];
    for (const waiter of waiters) {
      if (failure) waiter.reject(failure);
      else waiter.resolve();
    }
  }

  /**
   * Runs `fn` with `synchronous=NORMAL`: a commit inside writes its WAL
   * frames without an fsync (./deferred-commit.ts). Nested calls share it;
   * FULL comes back when the outermost ends, also when it throws.
   */
  withNormalSync<R>(fn: () => R): R {
    this.enterNormal();
    try {
      return fn();
    } finally {
      this.leaveNormal();
    }
  }

  /*
   * Never a prepared `PRAGMA synchronous = …`: SQLite applies that setting
   * when it compiles the statement, so running a prepared one again changes
   * nothing unless something made SQLite recompile it in between (measured:
   * a deferred commit of the store's first turn still fsynced). exec()
   * compiles it each time, for ~0.6 µs.
   */
  private enterNormal(): void {
    if (this.normalDepth === 0) this.db.exec('PRAGMA synchronous = NORMAL');
    this.normalDepth += 1;
  }

  private leaveNormal(): void {
    this.normalDepth -= 1;
    if (this.normalDepth === 0) this.db.exec('PRAGMA synchronous = FULL');
  }

  /**
   * Runs a read off the event loop where a thread with its own connection
   * takes reads (the background checkpointer: SqliteStore sets it), on this
   * connection otherwise. For aggregates over whole tables (metrics) that
   * may take longer than anything should hold the loop; it sees only what
   * is committed. Errors are mapped as the store's are (./sqlite-errors.ts).
   */
  readAll<R>(sql: string, ...params: unknown[]): Promise<R[]> {
    const offThread = this.offThread?.<R>(sql, params);
    if (!offThread) return promised(() => this.get<R>(sql).all(...params));
    return offThread.catch((error: unknown) => Promise.reject(mapSqliteError(error)));
  }

  /** Where readAll() runs its reads; undefined when it may not (then on this connection). */
  offThread: (<R>(sql: string, params: unknown[]) => Promise<R[]> | undefined) | undefined;

  get<R = unknown>(sql: string): Database.Statement<unknown[], R> {
    let cached = this.statements.get(sql);
    if (!cached) {
      const statement = this.db.prepare<unknown[], unknown>(sql);
      cached = { statement, writes: !statement.readonly };
      this.statements.set(sql, cached);
    }
    // An autocommit write must not land in the deferred turn's transaction.
    if (cached.writes && this.turnOpen && this.inDeferred === 0) this.commitTurn();
    return cached.statement as Database.Statement<unknown[], R>;
  }
}
