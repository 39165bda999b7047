/**
 * Settlements (a message's row change after its attempt) are written in
 * batches: one `store.settle` call, one transaction, for up to `maxBatch`
 * of them. On SQLite a transaction costs an fsync whatever its size, so
 * settling row by row would cap delivery at ~2,000 messages/s; batched it is
 * a small share of the work.
 *
 * State machine (one flush at a time, so batches apply in order and a
 * single-writer store never sees two settle transactions compete):
 *
 *   idle ──add──► waiting ──(maxDelayMs since the first add, or maxBatch items,
 *    ▲              │        or flush()/close())──► flushing
 *    │              ▲                                 │ store.settle(batch)
 *    │              └──── items added meanwhile ──────┤ ok: resolve each item
 *    └──────────────────── buffer empty ──────────────┘ error: put the batch back,
 *                                                        retry after a backoff
 *
 * While a flush runs, new items gather in the buffer; when it ends, a full
 * buffer or one whose delay has already run out is flushed at once, else the
 * delay timer (armed at its first item) decides. A store error does not lose
 * settlements: they wait for the next try (their rows stay leased `sending`
 * meanwhile; if the process dies, the lease expiry hands them back).
 */
import type { Settlement } from '../core/outcome.js';

/** How an added settlement ended: applied, skipped (lease taken over), or never written (closed while the store failed). */
export type SettleOutcome = 'applied' | 'skipped' | 'unsettled';

export interface SettleBatcherOptions {
  settle(batch: Settlement[]): Promise<string[]>;
  /**
   * Longest wait of a settlement before its flush starts. 20 ms: well under
   * anything a user sees, and enough at high rates to fill batches of
   * hundreds, so the fsync per transaction is shared.
   */
  maxDelayMs?: number;
  /** Largest batch; one SQLite transaction of 500 row updates takes a few ms. */
  maxBatch?: number;
  /** First retry delay after a store error; doubles up to `maxRetryDelayMs`. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  onFlush?(info: { size: number; durationMs: number }): void;
  onError?(error: unknown, size: number): void;
}

interface Item {
  settlement: Settlement;
  done(outcome: SettleOutcome): void;
}

export class SettleBatcher {
  private buffer: Item[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** A flush was asked for (full buffer, flush()) while one was running. */
  private due = false;
  /** When the oldest buffered item was added (performance.now()). */
  private oldestAt = 0;
  private flushing: Promise<void> | undefined;
  private retryDelay: number;
  private closed = false;
  private readonly maxDelayMs: number;
  private readonly maxBatch: number;
  private readonly firstRetryDelayMs: number;
  private readonly maxRetryDelayMs: number;

  constructor(private readonly options: SettleBatcherOptions) {
    this.maxDelayMs = options.maxDelayMs ?? 20;
    this.maxBatch = options.maxBatch ?? 500;
    this.firstRetryDelayMs = options.retryDelayMs ?? 250;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 5_000;
    this.retryDelay = this.firstRetryDelayMs;
  }

  /** Number of settlements not yet written. */
  get pending(): number {
    return this.buffer.length;
  }

  add(settlement: Settlement): Promise<SettleOutcome> {
    if (this.closed) return Promise.resolve('unsettled');
    return new Promise<SettleOutcome>((done) => {
      if (this.buffer.length === 0) this.oldestAt = performance.now();
      this.buffer.push({ settlement, done });
      if (this.buffer.length >= this.maxBatch) this.trigger();
      else if (!this.timer && !this.flushing) this.arm(this.maxDelayMs);
    });
  }

  /** Writes everything added so far; resolves when it is written (or `deadline` passed while the store fails). */
  async flush(deadline = Infinity): Promise<void> {
    while ((this.buffer.length > 0 || this.flushing) && Date.now() < deadline) {
      this.trigger();
      await this.flushing;
      if (this.buffer.length > 0 && this.timer && Date.now() < deadline) {
        // A store error scheduled a retry; wait for it rather than hammer the store.
        await new Promise((r) => setTimeout(r, Math.min(this.retryDelay, deadline - Date.now())));
      }
    }
  }

  /** Flushes, then refuses new items; what could not be written by `deadline` ends `unsettled`. */
  async close(deadline = Infinity): Promise<void> {
    await this.flush(deadline);
    this.closed = true;
    this.disarm();
    for (const item of this.buffer.splice(0)) item.done('unsettled');
  }

  private arm(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.trigger();
    }, delayMs);
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Flush now, or as soon as the running flush ends. */
  private trigger(): void {
    if (this.flushing) {
      this.due = true;
      return;
    }
    if (this.buffer.length === 0) return;
    this.disarm();
    this.due = false;
    const batch = this.buffer.splice(0, this.maxBatch);
    // Items left over (more than maxBatch) are already overdue.
    if (this.buffer.length > 0) this.due = true;
    else this.oldestAt = Infinity;
    this.flushing = this.write(batch).finally(() => {
      this.flushing = undefined;
      // A store error armed the retry timer: that decides.
      if (this.buffer.length === 0 || this.timer) return;
      const waited = performance.now() - this.oldestAt;
      if (this.due || this.buffer.length >= this.maxBatch || waited >= this.maxDelayMs) {
        this.trigger();
      } else {
        this.arm(this.maxDelayMs - waited);
      }
    });
  }

  private async write(batch: Item[]): Promise<void> {
    const started = performance.now();
    let applied: Set<string>;
    try {
      applied = new Set(await this.options.settle(batch.map((i) => i.settlement)));
    } catch (error) {
      this.options.onError?.(error, batch.length);
      this.buffer.unshift(...batch);
      this.oldestAt = Math.min(this.oldestAt, started);
      this.arm(this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, this.maxRetryDelayMs);
      return;
    }
    this.retryDelay = this.firstRetryDelayMs;
    this.options.onFlush?.({ size: batch.length, durationMs: performance.now() - started });
    for (const item of batch) item.done(applied.has(item.settlement.id) ? 'applied' : 'skipped');
  }
}
