/**
 * Throttles on the way from a claimed message to a relay, checked in this
 * order before the pool picks a relay:
 *
 *   rates (token buckets, all or nothing): global, pool, destination domain group
 *     token now → go │ token within maxWait → reserve it, sleep, go
 *                    │ later → `throttled` (back to the queue until a token frees)
 *   connections of the domain group (transactions in flight, over all relays)
 *     slot free → go │ else wait in the group's queue (transactional lane
 *                    │ first) up to maxWait, then `throttled`
 *
 * Per-relay rates are checked by the pool once it has picked a relay (a
 * relay over its rate is skipped for another).
 *
 * Holding slots: a message waiting here holds one of the worker's
 * `delivery.concurrency` slots. Bulk messages may hold at most half of them
 * while waiting; beyond that a throttled bulk message goes straight back to
 * the queue, so a slow destination can never fill the window that
 * transactional mail needs. (Half: the claim order already puts
 * transactional first; half the window is far more than a burst of
 * transactional mail needs, and bulk keeps enough waiters to use every
 * token.)
 *
 * Adaptive backoff: a rate-limit reply from a group (src/core/adaptive-rate.ts)
 * multiplies the group's rate and connection limit by a factor < 1 for a
 * while; a group with no configured limits has nothing to scale.
 *
 * Rate state lives behind the RateLimiter port: in memory on SQLite,
 * cluster-wide on PostgreSQL (cluster-rate-limiter.ts); connection counts
 * and adaptive factors are per process.
 */
import type { DomainLimitsConfig, SluiceConfig } from '../config/config.js';
import {
  adaptiveFactor,
  afterRateLimited,
  isRateLimitReply,
  isRestored,
  type AdaptiveOptions,
  type AdaptiveState,
} from '../core/adaptive-rate.js';
import type { Clock } from '../core/clock.js';
import type { EventBus, SluiceEventMap } from '../core/events.js';
import type { Stream } from '../core/message.js';
import type { SendResult } from '../core/outcome.js';
import type { RateLimiter, RateRequest } from '../core/ports/rate-limiter.js';
import { domainGroupIndex, domainGroupOf } from '../core/routing.js';
import { AbortWatch } from './abort-watch.js';
import type { DomainGroupSnapshot } from './delivery-snapshot.js';
import type { DeliveryLogger } from './logger.js';

export interface ThrottleRequest {
  lane: Stream;
  pool: string;
  recipientDomain: string;
  signal?: AbortSignal;
}

export type ThrottleGrant =
  | { kind: 'go'; group: string; release: () => void }
  | { kind: 'throttled'; retryAt: number; reason: string }
  | { kind: 'released' };

export interface ThrottlesOptions {
  config: SluiceConfig;
  limiter: RateLimiter;
  clock: Clock;
  events: EventBus<SluiceEventMap>;
  logger: DeliveryLogger;
}

interface Gate {
  active: number;
  waiters: Record<Stream, (() => void)[]>;
}

/**
 * The release of a grant that took no connection slot: one shared function
 * rather than a closure a message, as the grant lives while the message
 * waits for a relay connection.
 */
const noSlotToRelease = (): void => undefined;

export class Throttles {
  private readonly groups: ReadonlyMap<string, string>;
  private readonly limits = new Map<string, DomainLimitsConfig>();
  private readonly defaults: DomainLimitsConfig | undefined;
  private readonly adaptive: AdaptiveOptions | undefined;
  private readonly adaptiveStates = new Map<string, AdaptiveState>();
  private readonly reportedFactor = new Map<string, number>();
  private readonly gates = new Map<string, Gate>();
  private readonly bulkWaitLimit: number;
  private bulkWaiting = 0;
  /** Waits that end at shutdown: one 'abort' listener a signal, not one a message (abort-watch.ts). */
  private readonly aborts = new AbortWatch();

  constructor(private readonly options: ThrottlesOptions) {
    const { throttles, delivery } = options.config;
    this.groups = domainGroupIndex(throttles.domainGroups);
    for (const group of throttles.domainGroups) this.limits.set(group.name, group);
    const d = throttles.domainDefaults;
    this.defaults =
      d.maxConnections !== undefined || d.perSecond !== undefined || d.perHour !== undefined
        ? d
        : undefined;
    this.adaptive = throttles.adaptive.enabled ? throttles.adaptive : undefined;
    this.bulkWaitLimit = Math.max(1, Math.floor(delivery.concurrency / 2));
    for (const group of throttles.domainGroups) {
      options.events.emit('throttle:rate', {
        group: group.name,
        factor: 1,
        ...(group.perSecond !== undefined ? { perSecond: group.perSecond } : {}),
      });
    }
  }

  /**
   * The group as a metric label: configured groups by name, every unmapped
   * domain as `default`, so that label values stay few.
   */
  private label(group: string): string {
    return this.limits.has(group) ? group : 'default';
  }

  groupOf(domain: string): string {
    return domainGroupOf(this.groups, domain);
  }

  async acquire(request: ThrottleRequest): Promise<ThrottleGrant> {
    const { clock, config } = this.options;
    const group = this.groupOf(request.recipientDomain);
    const limits = this.limits.get(group) ?? this.defaults;
    const factor = limits ? this.factor(group, limits) : 1;
    const started = clock.now();
    const bulk = request.lane === 'bulk';
    // Bulk past its share of waiting slots may take only what is free right now.
    const maxWaitMs =
      bulk && this.bulkWaiting >= this.bulkWaitLimit ? 0 : config.throttles.maxWaitMs;

    const rates = this.rateRequests(request.pool, group, limits, factor);
    if (rates.length > 0) {
      const reservation = await this.options.limiter.reserve(rates, started, maxWaitMs);
      if (!reservation.ok) {
        this.options.events.emit('throttle:deferred', { scope: 'rate', key: this.label(group) });
        return {
          kind: 'throttled',
          retryAt: reservation.retryAt,
          reason: `throttled: rate (${group})`,
        };
      }
      if (reservation.waitMs > 0) {
        this.options.events.emit('throttle:wait', {
          scope: 'rate',
          key: this.label(group),
          waitMs: reservation.waitMs,
        });
        const slept = await this.waiting(
          bulk,
          this.aborts.sleep(reservation.waitMs, request.signal),
        );
        if (!slept) return { kind: 'released' };
      }
    }

    const max = limits?.maxConnections;
    if (max === undefined) return { kind: 'go', group, release: noSlotToRelease };
    const limit = Math.max(1, Math.floor(max * factor));
    const gate = this.gate(group);
    if (gate.active >= limit) {
      const left = Math.max(0, maxWaitMs - (clock.now() - started));
      const waitStart = clock.now();
      const outcome = await this.waiting(bulk, this.queue(gate, request, left));
      if (outcome === 'released') return { kind: 'released' };
      if (outcome === 'timeout') {
        this.options.events.emit('throttle:deferred', {
          scope: 'connections',
          key: this.label(group),
        });
        return {
          kind: 'throttled',
          // Slots free as transactions end (a few hundred ms each); one
          // maxWait later is soon enough without coming straight back.
          retryAt: clock.now() + Math.max(config.throttles.maxWaitMs, 100),
          reason: `throttled: connections (${group})`,
        };
      }
      this.options.events.emit('throttle:wait', {
        scope: 'connections',
        key: this.label(group),
        waitMs: clock.now() - waitStart,
      });
    } else {
      gate.active++;
    }
    let released = false;
    return {
      kind: 'go',
      group,
      release: () => {
        if (released) return;
        released = true;
        this.leave(group, limit);
      },
    };
  }

  /**
   * Every configured group, plus `default` when domain defaults are set, as
   * they are now. Read-only: unlike the send path it reports no factor change.
   */
  snapshot(): DomainGroupSnapshot[] {
    const now = this.options.clock.now();
    const entries: [string, DomainLimitsConfig][] = [...this.limits.entries()];
    if (this.defaults) entries.push(['default', this.defaults]);
    return entries.map(([name, limits]) => {
      const factor = this.adaptive
        ? adaptiveFactor(this.adaptiveStates.get(name), this.adaptive, now)
        : 1;
      let active = 0;
      let waiting = 0;
      if (name === 'default') {
        // Unmapped domains each have their own gate under the defaults.
        for (const [group, gate] of this.gates) {
          if (this.limits.has(group)) continue;
          active += gate.active;
          waiting += gate.waiters.transactional.length + gate.waiters.bulk.length;
        }
      } else {
        const gate = this.gates.get(name);
        active = gate?.active ?? 0;
        waiting = gate ? gate.waiters.transactional.length + gate.waiters.bulk.length : 0;
      }
      return {
        name,
        ...(limits.maxConnections !== undefined ? { maxConnections: limits.maxConnections } : {}),
        ...(limits.perSecond !== undefined ? { perSecond: limits.perSecond } : {}),
        ...(limits.perHour !== undefined ? { perHour: limits.perHour } : {}),
        factor,
        active,
        waiting,
      };
    });
  }

  /** Adaptive backoff: a rate-limit reply from `group` to a send started at `sentAt`. */
  onResult(group: string, result: SendResult, sentAt: number): void {
    if (!this.adaptive || result.kind !== 'deferred') return;
    if (!isRateLimitReply(result.code, result.enhancedCode, result.response)) return;
    const limits = this.limits.get(group) ?? this.defaults;
    if (!limits) return;
    const now = this.options.clock.now();
    const before = this.adaptiveStates.get(group);
    const after = afterRateLimited(before, this.adaptive, now, sentAt);
    if (after && after !== before) {
      this.adaptiveStates.set(group, after);
      this.factor(group, limits);
    }
  }

  /** The group's current factor; reports (event + log line) each change. */
  private factor(group: string, limits: DomainLimitsConfig): number {
    if (!this.adaptive) return 1;
    const now = this.options.clock.now();
    const state = this.adaptiveStates.get(group);
    const factor = adaptiveFactor(state, this.adaptive, now);
    if (state && isRestored(state, this.adaptive, now)) this.adaptiveStates.delete(group);
    const reported = this.reportedFactor.get(group) ?? 1;
    if (factor !== reported) {
      if (factor === 1) this.reportedFactor.delete(group);
      else this.reportedFactor.set(group, factor);
      const perSecond = limits.perSecond !== undefined ? limits.perSecond * factor : undefined;
      this.options.events.emit('throttle:rate', {
        group: this.label(group),
        factor,
        ...(perSecond !== undefined ? { perSecond } : {}),
      });
      this.options.logger[factor < reported ? 'warn' : 'info'](
        { group, factor, perSecond },
        factor < reported
          ? 'destination asks to slow down: domain group limits cut'
          : 'domain group limits restored a step',
      );
    }
    return factor;
  }

  private rateRequests(
    pool: string,
    group: string,
    limits: DomainLimitsConfig | undefined,
    factor: number,
  ): RateRequest[] {
    const { config } = this.options;
    const requests: RateRequest[] = [];
    if (config.throttles.global) requests.push({ key: 'global', limit: config.throttles.global });
    const poolRate = config.pools.find((p) => p.name === pool)?.rate;
    if (poolRate) requests.push({ key: `pool:${pool}`, limit: poolRate });
    if (limits && (limits.perSecond !== undefined || limits.perHour !== undefined)) {
      requests.push({
        key: `domain:${group}`,
        limit: {
          ...(limits.perSecond !== undefined ? { perSecond: limits.perSecond * factor } : {}),
          ...(limits.perHour !== undefined ? { perHour: limits.perHour * factor } : {}),
        },
      });
    }
    return requests;
  }

  private gate(group: string): Gate {
    let gate = this.gates.get(group);
    if (!gate) {
      gate = { active: 0, waiters: { transactional: [], bulk: [] } };
      this.gates.set(group, gate);
    }
    return gate;
  }

  /** Waits for a slot of `gate` (handed over by `leave`, already counted) or gives up. */
  private queue(
    gate: Gate,
    request: ThrottleRequest,
    timeoutMs: number,
  ): Promise<'granted' | 'timeout' | 'released'> {
    if (timeoutMs <= 0) return Promise.resolve('timeout');
    return new Promise((resolve) => {
      const { signal } = request;
      const queue = gate.waiters[request.lane];
      const finish = (outcome: 'granted' | 'timeout' | 'released'): void => {
        clearTimeout(timer);
        if (signal && outcome !== 'released') this.aborts.unwatch(signal, waiter);
        if (outcome !== 'granted') {
          const at = queue.indexOf(grant);
          if (at >= 0) queue.splice(at, 1);
        }
        resolve(outcome);
      };
      const grant = (): void => finish('granted');
      const waiter = { onAbort: () => finish('released') };
      const timer = setTimeout(() => finish('timeout'), timeoutMs);
      if (signal) this.aborts.watch(signal, waiter);
      queue.push(grant);
    });
  }

  private leave(group: string, limit: number): void {
    const gate = this.gates.get(group);
    if (!gate) return;
    gate.active--;
    // The limit may have been cut since this slot was taken: hand it on only below the limit now.
    const now = this.limits.get(group) ?? this.defaults;
    const current = now?.maxConnections
      ? Math.max(1, Math.floor(now.maxConnections * this.factor(group, now)))
      : limit;
    while (gate.active < current) {
      const next = gate.waiters.transactional.shift() ?? gate.waiters.bulk.shift();
      if (!next) break;
      gate.active++;
      next();
    }
    if (gate.active === 0 && gate.waiters.transactional.length + gate.waiters.bulk.length === 0) {
      this.gates.delete(group);
    }
  }

  private async waiting<T>(bulk: boolean, work: Promise<T>): Promise<T> {
    if (bulk) this.bulkWaiting++;
    try {
      return await work;
    } finally {
      if (bulk) this.bulkWaiting--;
    }
  }
}
