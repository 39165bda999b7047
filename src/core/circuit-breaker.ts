/**
 * The circuit breaker of one relay: whether Sluice may open connections to
 * it and send it messages. Pure; time comes from an injected Clock.
 *
 *            N consecutive failures
 *   closed ───────────────────────────► open ◄──────────────┐
 *     ▲                                  │ cool-down over    │ probe failed
 *     │ probe succeeded                  ▼                   │ (cool-down doubles,
 *     └─────────────────────────────  half-open ─────────────┘  up to maxCooldown)
 *
 * - closed: traffic flows; each success resets the failure count.
 * - open: no traffic until the cool-down ends. `retryAt` says when.
 * - half-open: exactly one probe (a connection attempt) is allowed at a time;
 *   its outcome decides. While the probe is under way the relay takes no
 *   other traffic (`canDispatch` is false).
 *
 * A failure is what says the relay itself is unwell: a connection that
 * cannot be opened (refused, timed out, 421 at the greeting), or one that
 * breaks or times out mid-transaction. A 4xx/5xx about one recipient is a
 * success for the breaker: the relay answered.
 *
 * Transitions are returned as values so the caller logs and reports each
 * one exactly once; open → half-open happens with time, so the caller calls
 * `refresh()` (on a timer, and before deciding) to observe it.
 */
import type { Clock } from './clock.js';

export const CIRCUIT_STATES = ['closed', 'open', 'half-open'] as const;
export type CircuitState = (typeof CIRCUIT_STATES)[number];

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit (1 or more). */
  failureThreshold: number;
  /** First cool-down of an open circuit, in ms. */
  cooldownMs: number;
  /** Longest cool-down after repeated failed probes, in ms. */
  maxCooldownMs: number;
}

export interface CircuitTransition {
  from: CircuitState;
  to: CircuitState;
  /** Why: the failure that opened it, or what closed it. */
  reason: string;
}

export class CircuitBreaker {
  private current: CircuitState = 'closed';
  private failures = 0;
  private openedUntil = 0;
  private cooldownMs: number;
  private probing = false;

  constructor(
    private readonly options: CircuitBreakerOptions,
    private readonly clock: Clock,
  ) {
    this.cooldownMs = options.cooldownMs;
  }

  get state(): CircuitState {
    return this.current;
  }

  /** While open: when the cool-down ends (epoch ms). */
  get retryAt(): number | undefined {
    return this.current === 'open' ? this.openedUntil : undefined;
  }

  /** Whether the relay may be given a message now (half-open: only when no probe is under way). */
  get canDispatch(): boolean {
    return this.current === 'closed' || (this.current === 'half-open' && !this.probing);
  }

  /** Whether a new connection may be opened now; in half-open it becomes the probe. */
  beginAttempt(): boolean {
    if (this.current === 'closed') return true;
    if (this.current === 'open' || this.probing) return false;
    this.probing = true;
    return true;
  }

  /** Observes the end of a cool-down: open → half-open. */
  refresh(): CircuitTransition | undefined {
    if (this.current !== 'open' || this.clock.now() < this.openedUntil) return undefined;
    this.current = 'half-open';
    this.probing = false;
    return { from: 'open', to: 'half-open', reason: 'cool-down over: the next connection probes' };
  }

  recordSuccess(): CircuitTransition | undefined {
    this.failures = 0;
    if (this.current === 'closed') return undefined;
    const from = this.current;
    this.current = 'closed';
    this.probing = false;
    this.cooldownMs = this.options.cooldownMs;
    return { from, to: 'closed', reason: 'the relay answered' };
  }

  recordFailure(reason: string): CircuitTransition | undefined {
    this.refresh();
    if (this.current === 'open') return undefined;
    if (this.current === 'half-open') {
      // A failed probe: back off longer each time, so a relay that stays
      // down costs one connection attempt per (growing) cool-down.
      this.cooldownMs = Math.min(this.options.maxCooldownMs, this.cooldownMs * 2);
      return this.open('half-open', reason);
    }
    this.failures++;
    if (this.failures < this.options.failureThreshold) return undefined;
    return this.open('closed', reason);
  }

  private open(from: CircuitState, reason: string): CircuitTransition {
    this.current = 'open';
    this.probing = false;
    this.failures = 0;
    this.openedUntil = this.clock.now() + this.cooldownMs;
    return { from, to: 'open', reason };
  }
}
