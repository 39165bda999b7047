/**
 * The health of one relay as delivery sees it: its circuit breaker
 * (src/core/circuit-breaker.ts) plus its warm-up cap, with the timer that
 * turns an open circuit half-open, and one event and one log line for every
 * state change.
 *
 * `available` is what the pool asks before its strategy picks: closed, or
 * half-open with no probe under way, and under today's warm-up cap.
 */
import { CircuitBreaker, type CircuitTransition } from '../core/circuit-breaker.js';
import type { Clock } from '../core/clock.js';
import type { EventBus, SluiceEventMap } from '../core/events.js';
import { nextUtcDay, warmupCap, warmupDay, type WarmupSchedule } from '../core/warmup.js';
import type { DeliveryLogger } from './logger.js';

export interface RelayHealthOptions {
  relay: string;
  failureThreshold: number;
  cooldownMs: number;
  maxCooldownMs: number;
  warmup?: WarmupSchedule;
  clock: Clock;
  events: EventBus<SluiceEventMap>;
  logger: DeliveryLogger;
  /** Called after every state change (the pools recount their available relays). */
  onChange: () => void;
  /** Called when the circuit turns half-open (the relay may probe waiting work). */
  onHalfOpen: () => void;
}

export class RelayHealth {
  private readonly breaker: CircuitBreaker;
  private halfOpenTimer: NodeJS.Timeout | undefined;
  private warmupDayIndex = Number.NaN;
  private warmupCount = 0;
  private closed = false;

  constructor(private readonly options: RelayHealthOptions) {
    this.breaker = new CircuitBreaker(
      {
        failureThreshold: options.failureThreshold,
        cooldownMs: options.cooldownMs,
        maxCooldownMs: Math.max(options.cooldownMs, options.maxCooldownMs),
      },
      options.clock,
    );
    // The starting state, so that metrics show every relay from the start.
    options.events.emit('relay:state', {
      relay: options.relay,
      state: 'closed',
      reason: 'started',
    });
  }

  get state(): CircuitTransition['to'] {
    this.refresh();
    return this.breaker.state;
  }

  /** Whether the pool may give this relay a message now. */
  get available(): boolean {
    this.refresh();
    return !this.closed && this.breaker.canDispatch && !this.warmupCapped();
  }

  /** Whether the circuit is open (waiting work should go elsewhere). */
  get open(): boolean {
    this.refresh();
    return this.breaker.state === 'open';
  }

  /** When this relay may take traffic again, for a message that found it unavailable. */
  retryAt(): number {
    const now = this.options.clock.now();
    if (this.warmupCapped()) return nextUtcDay(now);
    // Half-open with a probe under way: its verdict comes within about one
    // cool-down (connection + greeting timeouts are of that order).
    return this.breaker.retryAt ?? now + this.options.cooldownMs;
  }

  /** May a connection be opened now? In half-open this reserves the one probe. */
  beginAttempt(): boolean {
    this.refresh();
    return !this.closed && this.breaker.beginAttempt();
  }

  success(): void {
    this.report(this.breaker.recordSuccess());
  }

  /** Records a failure; true when it opened the circuit. */
  failure(reason: string): boolean {
    const transition = this.breaker.recordFailure(reason);
    this.report(transition);
    return transition?.to === 'open';
  }

  /** A message was admitted (counts towards the warm-up cap); `undo` when it never went out. */
  countDispatch(undo = false): void {
    if (!this.options.warmup) return;
    this.rollWarmupDay();
    this.warmupCount += undo ? -1 : 1;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.halfOpenTimer);
  }

  private warmupCapped(): boolean {
    const schedule = this.options.warmup;
    if (!schedule) return false;
    this.rollWarmupDay();
    const cap = warmupCap(schedule, this.options.clock.now());
    return cap !== undefined && this.warmupCount >= cap;
  }

  /** The count is per UTC day of the schedule; a new day starts from zero. */
  private rollWarmupDay(): void {
    const schedule = this.options.warmup;
    if (!schedule) return;
    const day = warmupDay(schedule, this.options.clock.now());
    if (day !== this.warmupDayIndex) {
      this.warmupDayIndex = day;
      this.warmupCount = 0;
    }
  }

  private refresh(): void {
    this.report(this.breaker.refresh());
  }

  private report(transition: CircuitTransition | undefined): void {
    if (!transition) return;
    const { relay, events, logger } = this.options;
    const fields = {
      relay,
      from: transition.from,
      state: transition.to,
      reason: transition.reason,
    };
    if (transition.to === 'open') {
      const retryAt = this.breaker.retryAt ?? this.options.clock.now();
      logger.warn({ ...fields, retryAt: new Date(retryAt).toISOString() }, 'relay circuit open');
      this.scheduleHalfOpen(retryAt - this.options.clock.now());
    } else if (transition.to === 'half-open') {
      logger.info(fields, 'relay circuit half-open: probing');
    } else {
      logger.info(fields, 'relay circuit closed: the relay takes traffic again');
    }
    events.emit('relay:state', { relay, state: transition.to, reason: transition.reason });
    this.options.onChange();
    if (transition.to === 'half-open') this.options.onHalfOpen();
  }

  private scheduleHalfOpen(inMs: number): void {
    clearTimeout(this.halfOpenTimer);
    if (this.closed) return;
    this.halfOpenTimer = setTimeout(() => this.refresh(), Math.max(0, inMs));
    // A cool-down never keeps the process alive on its own.
    this.halfOpenTimer.unref();
  }
}
