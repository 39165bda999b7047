/**
 * Retry timing: exponential backoff with jitter, and a maximum age after
 * which a message that still cannot be delivered is expired.
 */
export interface RetryPolicy {
  /** Delay before the second attempt, in ms. */
  initialDelayMs: number;
  /** Each further delay is the previous one times this. */
  multiplier: number;
  /** No delay is longer than this, in ms. */
  maxDelayMs: number;
  /**
   * Spread of the random jitter, 0–1: a delay d becomes a uniform value in
   * [d·(1−jitter), d·(1+jitter)], so that messages deferred together by one
   * outage do not all come back in the same instant.
   */
  jitter: number;
  /** A message older than this (since accept), in ms, expires instead of being retried. */
  maxAgeMs: number;
}

/** Delay before the next try after `attempts` failed attempts (attempts >= 1). */
export function retryDelay(
  policy: RetryPolicy,
  attempts: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, attempts - 1);
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** exponent);
  const spread = base * policy.jitter;
  return Math.max(0, Math.round(base - spread + random() * 2 * spread));
}

/** When to try again, or undefined when the message should expire. */
export function nextAttemptAt(
  policy: RetryPolicy,
  attempts: number,
  now: number,
  expiresAt: number,
  random: () => number = Math.random,
): number | undefined {
  if (now >= expiresAt) return undefined;
  const at = now + retryDelay(policy, attempts, random);
  // The last try happens at the expiry instant rather than never.
  return Math.min(at, expiresAt);
}
