/**
 * The throttles' store of tokens, behind a port so that the scale-out work
 * can hold rates cluster-wide: a database-backed implementation leases
 * blocks of tokens per key (refilled in the background), so `reserve` stays
 * synchronous on the hot path: `MemoryRateLimiter` (one process, core/token-bucket.ts)
 * and `ClusterRateLimiter` (PostgreSQL, delivery/cluster-rate-limiter.ts).
 */

/** A rate as configured: tokens per second and/or per hour. */
export interface RateLimit {
  perSecond?: number;
  perHour?: number;
}

export interface RateRequest {
  /** Bucket identity, e.g. `domain:google`, `relay:r1`, `pool:bulk`, `global`. */
  key: string;
  /** The rate in effect now (adaptive backoff may have cut it). */
  limit: RateLimit;
}

export type Reservation =
  /** Tokens taken from every bucket; the caller waits `waitMs` (0: go now). */
  | { ok: true; waitMs: number }
  /** Nothing taken: the wait would exceed `maxWaitMs`; a token frees at `retryAt`. */
  | { ok: false; retryAt: number };

export interface RateLimiter {
  /**
   * One token from every bucket of `requests`, all or nothing. When the last
   * token would only be free within `maxWaitMs`, it is reserved ahead (the
   * caller sleeps `waitMs` and then goes: no polling). Synchronous when it
   * can answer from memory; a promise when it must ask the database first
   * (the cluster limiter with no tokens in hand).
   */
  reserve(
    requests: readonly RateRequest[],
    now: number,
    maxWaitMs: number,
  ): Reservation | Promise<Reservation>;
}
