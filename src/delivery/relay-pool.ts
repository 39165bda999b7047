/**
 * Relays, pools and routing, as configured: each relay has one set of
 * persistent connections (shared by every pool it belongs to, so its
 * `maxConnections` holds however it is reached); each pool picks one of its
 * relays per message with its strategy; each stream goes to one pool.
 *
 * Which relays are eligible is decided here, per message, before the
 * strategy picks (`RelayConnections.accepting`): the seam where the
 * relay-farm issue adds health checks, a circuit breaker and failover to
 * the next relay.
 */
import { hostname } from 'node:os';
import type { SluiceConfig } from '../config/config.js';
import type { EventBus, SluiceEventMap } from '../core/events.js';
import type { Stream } from '../core/message.js';
import {
  createRelayPicker,
  type RelayPicker,
  type RelayStrategy,
} from '../core/relay-selection.js';
import type { DeliveryLogger } from './logger.js';
import {
  RelayConnections,
  type DispatchRequest,
  type DispatchResult,
} from './relay-connections.js';

export interface PoolDispatch extends DispatchRequest {
  /** What the `hash` strategy hashes: the recipient domain. */
  key: string;
}

export class RelayPool {
  private readonly picker: RelayPicker;

  constructor(
    readonly name: string,
    private readonly relays: readonly RelayConnections[],
    strategy: RelayStrategy,
  ) {
    this.picker = createRelayPicker(strategy);
  }

  send(request: PoolDispatch): Promise<DispatchResult> {
    const candidates = this.relays
      .filter((r) => r.accepting)
      .map((r) => ({ name: r.name, weight: r.weight, inFlight: r.inFlight }));
    const chosen = this.picker.pick(candidates, request.key);
    const relay = this.relays.find((r) => r.name === chosen);
    if (!relay) {
      return Promise.resolve({
        kind: 'deferred',
        response: `no relay of pool ${this.name} is available`,
      });
    }
    return relay.send(request);
  }
}

export interface RelayPoolsOptions {
  config: SluiceConfig;
  events: EventBus<SluiceEventMap>;
  logger: DeliveryLogger;
}

/** Every relay's connections and every pool, built from the configuration. */
export class RelayPools {
  readonly relays = new Map<string, RelayConnections>();
  private readonly pools = new Map<string, RelayPool>();
  private readonly routes: Record<Stream, RelayPool>;

  constructor({ config, events, logger }: RelayPoolsOptions) {
    const d = config.delivery;
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
          events,
          logger,
        }),
      );
    }
    for (const pool of config.pools) {
      const members = pool.relays.map((name) => {
        const relay = this.relays.get(name);
        // The config loader checks references; reaching this is a bug.
        if (!relay) throw new Error(`pool ${pool.name} names unknown relay ${name}`);
        return relay;
      });
      this.pools.set(pool.name, new RelayPool(pool.name, members, pool.strategy));
    }
    this.routes = {
      transactional: this.pool(config.routing.transactional),
      bulk: this.pool(config.routing.bulk),
    };
  }

  forStream(stream: Stream): RelayPool {
    return this.routes[stream];
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

  private pool(name: string): RelayPool {
    const pool = this.pools.get(name) ?? this.pools.values().next().value;
    if (!pool) throw new Error('no relay pool is configured');
    return pool;
  }
}
