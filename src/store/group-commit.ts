/**
 * Group commit: many callers each submit one item; the items submitted
 * while the loop is busy are written together in ONE transaction, and each
 * caller gets its own result.
 *
 * Why: a durable commit costs an fsync (SQLite WAL with synchronous=FULL,
 * PostgreSQL's WAL flush). At one transaction per HTTP request the disk, not
 * the CPU, sets the accept rate; sharing one fsync among every request that
 * arrived in the same event-loop turn lifts that ceiling.
 *
 * Why setImmediate and not queueMicrotask: concurrent HTTP requests are
 * parsed in separate I/O callbacks of the same poll phase, each followed by
 * its own microtask checkpoint. A microtask flush would commit after every
 * request (batches of one); the check phase (setImmediate) runs after all
 * the I/O callbacks of the turn, so it sees them all.
 *
 * (SQLite's journey writes need no batcher: they share the connection's
 * deferred turn, sqlite/statement-cache.ts.)
 *
 * State machine of one batcher:
 *
 *   idle ──submit──► gathering            (a flush is scheduled with setImmediate)
 *   gathering ──submit──► gathering       (the item joins the queue)
 *   gathering ──flush──► committing       (up to maxBatch queued items go to commit())
 *   committing ──submit──► committing     (the item waits for the next batch)
 *   committing ──commit done──► gathering (items waited: a flush is scheduled)
 *                            └─► idle     (nothing waited)
 *   any ──close()──► closing ──queue drained, nothing in flight──► closed
 *
 * At most one commit is in flight: while it runs, the next batch gathers
 * (that is what makes batches grow under load). When commit() returns, each
 * caller is settled with its own ItemOutcome (one item's failure, such as a
 * unique violation, leaves the others alone); when commit() throws, every
 * caller of that batch is rejected with the error. submit() after close()
 * rejects.
 */

export type ItemOutcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

export interface GroupCommitOptions<T, R> {
  /**
   * Writes the items in one transaction and returns one outcome per item, in
   * order. May be synchronous (better-sqlite3) or asynchronous (pg).
   */
  commit: (items: readonly T[]) => ItemOutcome<R>[] | Promise<ItemOutcome<R>[]>;
  /**
   * Most items in one transaction. Bounds the time one commit holds the
   * writer (and, for a synchronous driver, the event loop): 1,000 small
   * inserts take a few milliseconds.
   */
  maxBatch?: number;
}

interface Pending<T, R> {
  item: T;
  resolve(value: R): void;
  reject(error: unknown): void;
}

export const DEFAULT_MAX_BATCH = 1000;

export class GroupCommitClosedError extends Error {
  constructor() {
    super('the store is closed');
    this.name = 'GroupCommitClosedError';
  }
}

export class GroupCommit<T, R> {
  private readonly commitBatch: GroupCommitOptions<T, R>['commit'];
  private readonly maxBatch: number;
  private queue: Pending<T, R>[] = [];
  private scheduled = false;
  private inFlight = false;
  private closed = false;
  private drainWaiters: (() => void)[] = [];

  constructor(options: GroupCommitOptions<T, R>) {
    this.commitBatch = options.commit;
    this.maxBatch = Math.max(1, options.maxBatch ?? DEFAULT_MAX_BATCH);
  }

  submit(item: T): Promise<R> {
    if (this.closed) return Promise.reject(new GroupCommitClosedError());
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.inFlight) this.schedule();
    });
  }

  /** True once close() was called: submit() would reject. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Items waiting for a commit (for tests and metrics). */
  get pending(): number {
    return this.queue.length;
  }

  /** Refuses new items and resolves once every submitted item is settled. */
  close(): Promise<void> {
    this.closed = true;
    if (this.isDrained()) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private isDrained(): boolean {
    return this.queue.length === 0 && !this.inFlight && !this.scheduled;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = (): void => {
      this.scheduled = false;
      void this.flush();
    };
    setImmediate(run);
  }

  private async flush(): Promise<void> {
    if (this.inFlight || this.queue.length === 0) {
      this.notifyDrained();
      return;
    }
    const batch = this.queue.splice(0, this.maxBatch);
    this.inFlight = true;
    try {
      const outcomes = await this.commitBatch(batch.map((pending) => pending.item));
      if (outcomes.length !== batch.length) {
        throw new Error(
          `group commit: ${outcomes.length} outcomes for a batch of ${batch.length} items`,
        );
      }
      batch.forEach((pending, index) => {
        const outcome = outcomes[index] as ItemOutcome<R>;
        if (outcome.ok) pending.resolve(outcome.value);
        else pending.reject(outcome.error);
      });
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    } finally {
      this.inFlight = false;
      if (this.queue.length > 0) this.schedule();
      else this.notifyDrained();
    }
  }

  private notifyDrained(): void {
    if (!this.isDrained()) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const waiter of waiters) waiter();
  }
}
