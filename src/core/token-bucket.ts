/**
 * Token buckets, pure: a bucket holds up to `capacity` tokens and gains
 * `ratePerMs` of them every millisecond; a send takes one. Tokens may go
 * below zero: that is a reservation, a send that will go when the bucket has
 * refilled (so waiting senders queue in time without polling).
 *
 * Burst sizes (the reason for each capacity): a per-second limit holds one
 * second's worth of tokens (at least 1), so an idle destination gets at most
 * a second's quota at once; a per-hour limit holds one minute's worth, so a
 * quota of 3,600/h is never spent in one burst at the top of the hour.
 */
import type { RateLimit, RateLimiter, RateRequest, Reservation } from './ports/rate-limiter.js';

const SECOND_MS = 1_000;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

export interface BucketState {
  tokens: number;
  updatedAt: number;
}

export interface BucketShape {
  unit: 'second' | 'hour';
  capacity: number;
  ratePerMs: number;
}

/** The buckets one configured rate makes (one per unit given). */
export function bucketShapes(limit: RateLimit): BucketShape[] {
  const shapes: BucketShape[] = [];
  if (limit.perSecond !== undefined && limit.perSecond > 0) {
    shapes.push({
      unit: 'second',
      capacity: Math.max(1, limit.perSecond),
      ratePerMs: limit.perSecond / SECOND_MS,
    });
  }
  if (limit.perHour !== undefined && limit.perHour > 0) {
    shapes.push({
      unit: 'hour',
      capacity: Math.max(1, (limit.perHour * MINUTE_MS) / HOUR_MS),
      ratePerMs: limit.perHour / HOUR_MS,
    });
  }
  return shapes;
}

/** The bucket refilled up to `now` (a bucket seen for the first time starts full). */
export function refill(
  state: BucketState | undefined,
  shape: BucketShape,
  now: number,
): BucketState {
  if (!state) return { tokens: shape.capacity, updatedAt: now };
  const elapsed = Math.max(0, now - state.updatedAt);
  return {
    tokens: Math.min(shape.capacity, state.tokens + elapsed * shape.ratePerMs),
    updatedAt: now,
  };
}

/** Milliseconds until the bucket has a whole token (0 when it has one now). */
export function waitForToken(state: BucketState, shape: BucketShape): number {
  if (state.tokens >= 1) return 0;
  return Math.ceil((1 - state.tokens) / shape.ratePerMs);
}

/**
 * Buckets kept before full ones are dropped: a full bucket is the same as
 * no bucket, and with a per-domain default every recipient domain has one.
 * 10,000 is far above the domains a sender hits in a minute, and a prune
 * (one pass over the map) that rare costs nothing measurable.
 */
const PRUNE_ABOVE = 10_000;

/** Token buckets in this process's memory. State is per instance: no module state. */
export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, { state: BucketState; shape: BucketShape }>();

  reserve(requests: readonly RateRequest[], now: number, maxWaitMs: number): Reservation {
    const touched: { id: string; state: BucketState; shape: BucketShape }[] = [];
    let waitMs = 0;
    for (const request of requests) {
      for (const shape of bucketShapes(request.limit)) {
        // The id names the unit, not the rate: when adaptive backoff cuts
        // the rate, the same bucket refills more slowly from then on.
        const id = `${request.key}#${shape.unit}`;
        const state = refill(this.buckets.get(id)?.state, shape, now);
        touched.push({ id, state, shape });
        waitMs = Math.max(waitMs, waitForToken(state, shape));
      }
    }
    if (waitMs > maxWaitMs) return { ok: false, retryAt: now + waitMs };
    for (const { id, state, shape } of touched) {
      this.buckets.set(id, { state: { tokens: state.tokens - 1, updatedAt: now }, shape });
    }
    if (this.buckets.size > PRUNE_ABOVE) this.prune(now);
    return { ok: true, waitMs };
  }

  private prune(now: number): void {
    for (const [id, { state, shape }] of this.buckets) {
      if (refill(state, shape, now).tokens >= shape.capacity) this.buckets.delete(id);
    }
  }
}
