/**
 * Adaptive backoff for one destination domain group: when the destination
 * says "slow down" (421, or a 4.7.x rate-limit reply), the group's rate and
 * connection limit are multiplied by a factor that is halved, held for a
 * cool-down, then restored step by step. Pure; time is passed in.
 *
 *   factor 1 ──rate-limited──► ½ (hold cooldownMs) ──rate-limited again──► ¼ … ≥ minFactor
 *                               │ cool-down over
 *                               ▼
 *           + restoreStep every restoreIntervalMs, up to 1
 *
 * A reply to a send that started before the last cut does not cut again:
 * those sends were already in flight at the old rate, and a burst of them
 * answering 421 together is one signal, not ten.
 */

export interface AdaptiveOptions {
  cooldownMs: number;
  restoreIntervalMs: number;
  /** Added to the factor at each restore step. */
  restoreStep: number;
  /** The factor never goes below this. */
  minFactor: number;
}

export interface AdaptiveState {
  /** Factor right after the last cut. */
  cutTo: number;
  /** When the last cut happened (epoch ms). */
  cutAt: number;
}

/** The factor in effect at `now` (1 when never cut or fully restored). */
export function adaptiveFactor(
  state: AdaptiveState | undefined,
  options: AdaptiveOptions,
  now: number,
): number {
  if (!state) return 1;
  const restoring = now - state.cutAt - options.cooldownMs;
  if (restoring < 0) return state.cutTo;
  const steps = Math.floor(restoring / options.restoreIntervalMs) + 1;
  return Math.min(1, state.cutTo + steps * options.restoreStep);
}

/** The state after a rate-limit reply to a send started at `sentAt`; unchanged when it is an echo. */
export function afterRateLimited(
  state: AdaptiveState | undefined,
  options: AdaptiveOptions,
  now: number,
  sentAt: number,
): AdaptiveState | undefined {
  if (state && sentAt < state.cutAt) return state;
  const current = adaptiveFactor(state, options, now);
  return { cutTo: Math.max(options.minFactor, current / 2), cutAt: now };
}

/** True once the factor is back to 1: the state can be forgotten. */
export function isRestored(
  state: AdaptiveState | undefined,
  options: AdaptiveOptions,
  now: number,
): boolean {
  return adaptiveFactor(state, options, now) >= 1;
}

/**
 * Whether a deferral says the destination limits our rate: any 421 (the
 * receiver is shedding load), Gmail's 4.7.28, or a 4.7.x whose text speaks
 * of rates or limits ("450 4.7.1 … rate limited", "421 4.7.0 Try again
 * later"). Other 4.7.x (greylisting, policy) are not about speed.
 */
export function isRateLimitReply(code?: number, enhancedCode?: string, text = ''): boolean {
  if (code === 421) return true;
  if (!enhancedCode?.startsWith('4.7.')) return false;
  if (enhancedCode === '4.7.28') return true;
  return /rate|limit|too many|throttl|try again later|slow down/i.test(text);
}
