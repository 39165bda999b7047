/**
 * Rates that hold across every node on one PostgreSQL: the RateLimiter
 * port over token buckets in the database (store.rateTokens), leased in
 * chunks so that most reservations are answered from memory.
 *
 * Glossary:
 * - bucket: one rate key and unit (`domain:google#second`), shared by all
 *   nodes in the `throttle_buckets` table, refilled by the database's clock;
 * - chunk: the tokens one lease asks for, the rate × `chunkMs` (at least 1,
 *   at most MAX_CHUNK);
 * - token in hand: a leased token with the local time it is due at (now, or
 *   later when the bucket was reserved ahead by up to `aheadMs` = maxWait).
 *
 * Per reservation (every bucket of every request, all or nothing):
 *
 *   every bucket has a token in hand ──► the latest due ≤ now + maxWait → take one
 *                                        of each, go after that wait (sync)
 *                                      └► else: throttled until it is due (sync)
 *   some bucket has none ──► lease a chunk for those buckets (one round trip,
 *                            shared with a lease already on the way) and try
 *                            again (a promise); none granted → throttled until
 *                            the database says a token frees
 *
 * After each take, a bucket with less than half a chunk in hand leases the
 * next chunk in the background, so a steady stream never waits for the
 * database. A token not used within `holdMs` of its due time is dropped:
 * what a node holds unused cannot pile up into a burst later.
 *
 * The bound, by construction: the database never grants more than the
 * bucket (capacity + rate × elapsed), and a token is sent no later than
 * `holdMs` after it is due, so over any window of W ms every node together
 * sends at most capacity + rate × (W + holdMs). Unused tokens that expire
 * are lost to everyone (under-use, never over-use): larger chunks mean fewer
 * round trips and more tokens stranded on a node that stops needing them.
 * When the database cannot be reached, nothing is granted: messages wait in
 * the queue (throttled) rather than go out unmetered.
 */
import type { Clock } from '../core/clock.js';
import type { RateLimiter, RateRequest, Reservation } from '../core/ports/rate-limiter.js';
import type { RateTokenStore } from '../core/ports/store.js';
import { bucketShapes, type BucketShape } from '../core/token-bucket.js';

/** Cap on one lease: 1,000 tokens keep the in-memory queue small at any rate. */
const MAX_CHUNK = 1_000;
/** Retry after a failed lease: the database is down; the queue keeps the messages meanwhile. */
const STORE_DOWN_RETRY_MS = 1_000;
/** Shortest retry after an empty grant, so that a cut rate cannot make a tight loop. */
const MIN_RETRY_MS = 20;
/** Tries of one reservation (another reservation may take the tokens a lease brought). */
const MAX_TRIES = 3;
/** Buckets in memory before empty ones are dropped. */
const PRUNE_ABOVE = 10_000;

export interface ClusterRateLimiterOptions {
  tokens: RateTokenStore;
  clock: Clock;
  /** Chunk size in time: a lease asks for the rate × this many ms of tokens. */
  chunkMs: number;
  /** How far ahead the shared bucket may be reserved (the throttles' maxWait). */
  aheadMs: number;
  /** How long after its due time a token in hand may still be used; default max(chunkMs, 100). */
  holdMs?: number;
  onStoreError?: (error: unknown) => void;
}

interface Bucket {
  id: string;
  shape: BucketShape;
  /** Due times (local ms) of the tokens in hand, ascending. */
  due: number[];
  leasing: Promise<void> | undefined;
  /** When the last lease found nothing, the earliest time worth asking again. */
  retryAt: number;
}

export class ClusterRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly holdMs: number;

  constructor(private readonly options: ClusterRateLimiterOptions) {
    this.holdMs = options.holdMs ?? Math.max(options.chunkMs, 100);
  }

  reserve(
    requests: readonly RateRequest[],
    now: number,
    maxWaitMs: number,
  ): Reservation | Promise<Reservation> {
    const buckets: Bucket[] = [];
    for (const request of requests) {
      for (const shape of bucketShapes(request.limit)) {
        buckets.push(this.bucket(`${request.key}#${shape.unit}`, shape));
      }
    }
    if (buckets.length === 0) return { ok: true, waitMs: 0 };
    const first = this.take(buckets, now, maxWaitMs);
    return first === 'empty' ? this.leaseAndTake(buckets, maxWaitMs) : first;
  }

  /** Tokens in hand for a bucket id (for tests and metrics). */
  inHand(id: string): number {
    return this.buckets.get(id)?.due.length ?? 0;
  }

  private async leaseAndTake(buckets: Bucket[], maxWaitMs: number): Promise<Reservation> {
    for (let tries = 0; tries < MAX_TRIES; tries++) {
      const now = this.options.clock.now();
      const empty = buckets.filter((b) => b.due.length === 0);
      const waiting = empty.filter((b) => b.retryAt > now);
      if (waiting.length > 0) {
        return { ok: false, retryAt: Math.max(...waiting.map((b) => b.retryAt)) };
      }
      await this.lease(empty);
      const result = this.take(buckets, this.options.clock.now(), maxWaitMs);
      if (result !== 'empty') return result;
    }
    const now = this.options.clock.now();
    return {
      ok: false,
      retryAt: Math.max(now + MIN_RETRY_MS, ...buckets.map((b) => b.retryAt)),
    };
  }

  private take(buckets: Bucket[], now: number, maxWaitMs: number): Reservation | 'empty' {
    let waitMs = 0;
    let empty = false;
    for (const bucket of buckets) {
      this.dropExpired(bucket, now);
      const next = bucket.due[0];
      if (next === undefined) {
        empty = true;
        continue;
      }
      waitMs = Math.max(waitMs, next - now);
    }
    if (empty) return 'empty';
    if (waitMs > maxWaitMs) return { ok: false, retryAt: now + waitMs };
    for (const bucket of buckets) {
      bucket.due.shift();
      if (bucket.due.length < chunkOf(bucket.shape, this.options.chunkMs) / 2 && !bucket.leasing) {
        // Ahead of need: the next chunk is on its way before this one runs out.
        this.lease([bucket]).catch(() => undefined);
      }
    }
    return { ok: true, waitMs: Math.max(0, waitMs) };
  }

  private dropExpired(bucket: Bucket, now: number): void {
    let expired = 0;
    while (expired < bucket.due.length && (bucket.due[expired] ?? 0) + this.holdMs < now) expired++;
    if (expired > 0) bucket.due.splice(0, expired);
  }

  /** One round trip for the buckets not being leased already; waits for those that are. */
  private async lease(buckets: Bucket[]): Promise<void> {
    const fresh = buckets.filter((b) => !b.leasing);
    const pending = buckets.flatMap((b) => (b.leasing ? [b.leasing] : []));
    if (fresh.length > 0) {
      const leasing = this.leaseNow(fresh);
      for (const bucket of fresh) bucket.leasing = leasing;
      pending.push(leasing);
    }
    await Promise.all(pending);
  }

  private async leaseNow(buckets: Bucket[]): Promise<void> {
    const { tokens, clock, chunkMs, aheadMs } = this.options;
    try {
      const grants = await tokens.lease(
        buckets.map((b) => ({
          id: b.id,
          capacity: b.shape.capacity,
          ratePerMs: b.shape.ratePerMs,
          want: chunkOf(b.shape, chunkMs),
          aheadMs,
        })),
      );
      // Due times count from the answer, which is later than the database's
      // grant: tokens are used late, never early.
      const received = clock.now();
      for (const grant of grants) {
        const bucket = this.buckets.get(grant.id);
        if (!bucket) continue;
        const rate = bucket.shape.ratePerMs;
        for (let j = 1; j <= grant.granted; j++) {
          bucket.due.push(received + Math.max(0, Math.ceil((j - grant.before) / rate)));
        }
        bucket.due.sort((a, b) => a - b);
        bucket.retryAt =
          grant.granted > 0
            ? 0
            : received + Math.max(MIN_RETRY_MS, Math.ceil((1 - grant.before) / rate - aheadMs));
      }
    } catch (error) {
      const retryAt = clock.now() + STORE_DOWN_RETRY_MS;
      for (const bucket of buckets) bucket.retryAt = retryAt;
      this.options.onStoreError?.(error);
    } finally {
      for (const bucket of buckets) bucket.leasing = undefined;
    }
  }

  private bucket(id: string, shape: BucketShape): Bucket {
    let bucket = this.buckets.get(id);
    if (!bucket) {
      if (this.buckets.size > PRUNE_ABOVE) this.prune();
      bucket = { id, shape, due: [], leasing: undefined, retryAt: 0 };
      this.buckets.set(id, bucket);
    } else {
      // Adaptive backoff may have cut the rate: lease by the rate in effect now.
      bucket.shape = shape;
    }
    return bucket;
  }

  private prune(): void {
    for (const [id, bucket] of this.buckets) {
      if (bucket.due.length === 0 && !bucket.leasing) this.buckets.delete(id);
    }
  }
}

/** Tokens one lease asks for. */
export function chunkOf(shape: BucketShape, chunkMs: number): number {
  return Math.min(MAX_CHUNK, Math.max(1, Math.ceil(shape.ratePerMs * chunkMs)));
}
