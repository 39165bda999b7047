/**
 * Relays, pools and routing, as configured: each relay has one set of
 * persistent connections (shared by every pool it belongs to, so its
 * `maxConnections` holds however it is reached); each pool picks one of its
 * relays per message with its strategy; routing rules, then the stream,
 * choose the pool.
 *
 * One dispatch (`RelayPools.send`):
 *
 *   route → throttles (rates, domain-group connections; throttles.ts)
 *     → pool: strategy picks among the relays that are available now
 *       (circuit closed or half-open and free to probe, under warm-up cap,
 *       per-relay rate within maxWait), not yet tried for this dispatch, and
 *       not the relay that deferred this message last time when another exists
 *     → relay: sends; or hands the message back untouched (`redispatch`:
 *       its connection could not open, its circuit opened) → next relay
 *   no relay available → `throttled` until the earliest relay may take
 *   traffic again (no attempt counted, no busy loop)
 *
 * Availability of each pool is recounted on every relay state change; a
 * change is one event (`pool:availability`) and one log line.
 */
import { hostname } from 'node:os';
import type { SluiceConfig } from '../config/config.js';
import { domainOf } from '../core/address.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { EventBus, SluiceEventMap } from '../core/events.js';
import type { ClaimedMessage, Stream } from '../core/message.js';
import type { RateLimiter } from '../core/ports/rate-limiter.js';
import {
  createRelayPicker,
  type RelayPicker,
  type RelayStrategy,
} from '../core/relay-selection.js';
import { campaignOf, routeMessage, type RoutingTable } from '../core/routing.js';
import { MemoryRateLimiter } from '../core/token-bucket.js';
import { AbortWatch } from './abort-watch.js';
import type { DeliverySnapshot } from './delivery-snapshot.js';
import type { DeliveryLogger } from './logger.js';
import {
  RelayConnections,
  type DispatchRequest,
  type DispatchResult,
} from './relay-connections.js';
import { Throttles } from './throttles.js';

/**
 * Messages whose last relay is remembered (to try another next time). Each
 * entry lives from a deferral to the next attempt; 100,000 covers a long
 * outage of a busy node at a few MB, and the oldest are forgotten first.
 */
const REMEMBERED_DEFERRALS = 100_000;
/**
 * Shortest delay before a message that found no relay available comes
 * back: a relay whose cool-down is just ending must not bring a batch
 * straight back in a tight loop.
 */
const MIN_UNAVAILABLE_DELAY_MS = 100;

interface PoolContext {
  clock: Clock;
  limiter: RateLimiter;
  maxWaitMs: number;
  /** Sleeps for a relay's rate that end early at shutdown (one 'abort' listener a signal). */
  aborts: AbortWatch;
}

export class RelayPool {
  private readonly picker: RelayPicker;

  constructor(
    readonly name: string,
    readonly relays: readonly RelayConnections[],
    readonly strategy: RelayStrategy,
    private readonly context: PoolContext = {
      clock: systemClock,
      limiter: new MemoryRateLimiter(),
      maxWaitMs: 0,
      aborts: new AbortWatch(),
    },
  ) {
    this.picker = createRelayPicker(strategy);
  }

  /** Relays that take traffic now. */
  get available(): number {
    return this.relays.filter((r) => r.accepting).length;
  }

  /**
   * Sends `request` through one of this pool's relays. `key` is what the
   * `hash` strategy hashes (the recipient domain); `avoid` a relay to pass
   * over when another is available (it deferred the message last time).
   *
   * The request is passed down as it is, never copied, and the relays
   * tried are kept only once there is a second pick: the message usually
   * waits in a relay's queue with this frame suspended, long enough to be
   * promoted to V8's old generation (docs/benchmarks.md, campaign section).
   */
  async send(request: DispatchRequest, key: string, avoid?: string): Promise<DispatchResult> {
    let tried: string[] | undefined;
    let lastReason: string | undefined;
    let lastRelay: string | undefined;
    let rateRetryAt = Infinity;
    for (;;) {
      const relay = this.pick(key, avoid, tried);
      if (!relay) {
        if (lastReason !== undefined && lastRelay !== undefined) {
          return { kind: 'deferred', relay: lastRelay, response: lastReason };
        }
        return this.unavailable(rateRetryAt);
      }
      (tried ??= []).push(relay.name);
      const rate = relay.rate;
      if (rate) {
        const now = this.context.clock.now();
        const reservation = await this.context.limiter.reserve(
          [{ key: `relay:${relay.name}`, limit: rate }],
          now,
          this.context.maxWaitMs,
        );
        if (!reservation.ok) {
          rateRetryAt = Math.min(rateRetryAt, reservation.retryAt);
          continue;
        }
        if (
          reservation.waitMs > 0 &&
          !(await this.context.aborts.sleep(reservation.waitMs, request.signal))
        ) {
          return { kind: 'released' };
        }
      }
      const result = await relay.send(request);
      if (result.kind !== 'redispatch') return result;
      lastReason = result.reason;
      lastRelay = relay.name;
    }
  }

  /** The strategy's pick among the relays available now and not yet tried, `avoid` last. */
  private pick(
    key: string,
    avoid: string | undefined,
    tried: readonly string[] | undefined,
  ): RelayConnections | undefined {
    const eligible = this.relays.filter((r) => r.accepting && !tried?.includes(r.name));
    const preferred =
      avoid !== undefined && eligible.some((r) => r.name !== avoid)
        ? eligible.filter((r) => r.name !== avoid)
        : eligible;
    const chosen = this.picker.pick(
      preferred.map((r) => ({ name: r.name, weight: r.weight, inFlight: r.inFlight })),
      key,
    );
    return preferred.find((r) => r.name === chosen);
  }

  /** Every relay is down, capped or over its rate: come back when the first may take traffic. */
  private unavailable(rateRetryAt: number): DispatchResult {
    const now = this.context.clock.now();
    const earliest = Math.min(rateRetryAt, ...this.relays.map((r) => r.health.retryAt()));
    return {
      kind: 'throttled',
      retryAt: Math.max(now + MIN_UNAVAILABLE_DELAY_MS, Number.isFinite(earliest) ? earliest : now),
      reason: `no relay of pool ${this.name} is available`,
    };
  }
}

export interface RelayPoolsOptions {
  config: SluiceConfig;
  events: EventBus<SluiceEventMap>;
  logger: DeliveryLogger;
  clock?: Clock;
  /** Where rate tokens live; default: this process's memory. */
  limiter?: RateLimiter;
}

export interface MessageDispatch extends DispatchRequest {
  /** A campaign's pool: used instead of the routing rules when it names a configured pool. */
  pool?: string;
}

/** Every relay's connections and every pool, built from the configuration. */
export class RelayPools {
  readonly relays = new Map<string, RelayConnections>();
  readonly throttles: Throttles;
  private readonly pools = new Map<string, RelayPool>();
  private readonly routes: Record<Stream, RelayPool>;
  private readonly routing: RoutingTable;
  private readonly lastDeferredBy = new Map<string, string>();
  private readonly reportedAvailable = new Map<string, number>();
  private readonly clock: Clock;

  constructor(private readonly options: RelayPoolsOptions) {
    const { config, events, logger } = options;
    const d = config.delivery;
    this.clock = options.clock ?? systemClock;
    const limiter = options.limiter ?? new MemoryRateLimiter();
    for (const relay of config.relays) {
      this.relays.set(
        relay.name,
        new RelayConnections({
          relay,
          heloName: d.heloName ?? hostname(),
          connectionTimeoutMs: d.connectionTimeoutMs,
          greetingTimeoutMs: d.greetingTimeoutMs,
          socketTimeoutMs: d.socketTimeoutMs,
          idleTimeoutMs: d.idleTimeoutMs,
          health: config.health,
          clock: this.clock,
          events,
          logger,
          onHealthChange: () => this.recountAvailability(),
        }),
      );
    }
    const context = {
      clock: this.clock,
      limiter,
      maxWaitMs: config.throttles.maxWaitMs,
      aborts: new AbortWatch(),
    };
    for (const pool of config.pools) {
      const members = pool.relays.map((name) => {
        const relay = this.relays.get(name);
        // The config loader checks references; reaching this is a bug.
        if (!relay) throw new Error(`pool ${pool.name} names unknown relay ${name}`);
        return relay;
      });
      this.pools.set(pool.name, new RelayPool(pool.name, members, pool.strategy, context));
    }
    this.routes = {
      transactional: this.pool(config.routing.transactional),
      bulk: this.pool(config.routing.bulk),
    };
    this.routing = config.routing;
    this.throttles = new Throttles({ config, limiter, clock: this.clock, events, logger });
    for (const pool of this.pools.values()) {
      this.reportedAvailable.set(pool.name, pool.relays.length);
      events.emit('pool:availability', {
        pool: pool.name,
        available: pool.relays.length,
        total: pool.relays.length,
      });
    }
  }

  forStream(stream: Stream): RelayPool {
    return this.routes[stream];
  }

  /** The pool a message goes through: the first matching routing rule, else its stream's. */
  route(message: ClaimedMessage): RelayPool {
    return this.pool(
      routeMessage(this.routing, {
        stream: message.stream,
        senderDomain: domainOf(message.from.email),
        recipientDomain: domainOf(message.to.email),
        campaign: campaignOf(message.headers),
      }),
    );
  }

  /** Routes, throttles and sends one message; see the header comment. */
  async send(message: ClaimedMessage, dispatch: MessageDispatch): Promise<DispatchResult> {
    const chosen = dispatch.pool === undefined ? undefined : this.pools.get(dispatch.pool);
    const pool = chosen ?? this.route(message);
    const recipientDomain = domainOf(message.to.email);
    const grant = await this.throttles.acquire({
      lane: dispatch.lane,
      pool: pool.name,
      recipientDomain,
      ...(dispatch.signal ? { signal: dispatch.signal } : {}),
    });
    if (grant.kind !== 'go') return grant;
    const avoid = this.lastDeferredBy.get(message.id);
    this.lastDeferredBy.delete(message.id);
    // The time the transaction started, if one did, is set on the request by
    // the relay (DispatchRequest.startedAt); before that, now.
    const dispatchedAt = this.clock.now();
    try {
      const result = await pool.send(dispatch, recipientDomain, avoid);
      if (result.kind === 'deferred' || result.kind === 'delivered' || result.kind === 'bounced') {
        this.throttles.onResult(grant.group, result, dispatch.startedAt ?? dispatchedAt);
      }
      if (result.kind === 'deferred' && result.relay !== undefined)
        this.remember(message.id, result.relay);
      return result;
    } finally {
      grant.release();
    }
  }

  /** Relays, pools and domain groups as they are now (read-only; delivery-snapshot.ts). */
  snapshot(): Omit<DeliverySnapshot, 'inFlight'> {
    return {
      relays: [...this.relays.values()].map((r) => r.snapshot()),
      pools: [...this.pools.values()].map((p) => ({
        name: p.name,
        strategy: p.strategy,
        relays: p.relays.map((r) => r.name),
        available: p.available,
      })),
      domainGroups: this.throttles.snapshot(),
    };
  }

  /** Total connections open or opening, over all relays. */
  get connectionCount(): number {
    let n = 0;
    for (const relay of this.relays.values()) n += relay.connectionCount;
    return n;
  }

  /** Closes every connection (QUIT when idle); resolves when all are gone. */
  async close(): Promise<void> {
    await Promise.all([...this.relays.values()].map((r) => r.close()));
  }

  private remember(id: string, relay: string): void {
    if (this.lastDeferredBy.size >= REMEMBERED_DEFERRALS) {
      const oldest = this.lastDeferredBy.keys().next().value;
      if (oldest !== undefined) this.lastDeferredBy.delete(oldest);
    }
    this.lastDeferredBy.set(id, relay);
  }

  private recountAvailability(): void {
    for (const pool of this.pools.values()) {
      const available = pool.available;
      if (this.reportedAvailable.get(pool.name) === available) continue;
      this.reportedAvailable.set(pool.name, available);
      const total = pool.relays.length;
      this.options.events.emit('pool:availability', { pool: pool.name, available, total });
      const fields = { pool: pool.name, available, total };
      if (available === 0) {
        this.options.logger.error(
          fields,
          'every relay of the pool is down: messages wait in the queue',
        );
      } else {
        this.options.logger.info(fields, 'relays available in the pool changed');
      }
    }
  }

  private pool(name: string): RelayPool {
    const pool = this.pools.get(name) ?? this.pools.values().next().value;
    if (!pool) throw new Error('no relay pool is configured');
    return pool;
  }
}
