/**
 * The persistent connections to one relay: up to `maxConnections` of them,
 * reused from message to message, closed with QUIT after `idleTimeoutMs`
 * without work.
 *
 * A message asks for a connection and waits in a queue with two lanes,
 * transactional before bulk. The queue is served by:
 * - an idle connection (most recently used first, so surplus ones age out);
 * - or a new connection, opened when waiters outnumber the openings under
 *   way, the relay has room, and its circuit allows (relay-health.ts: in
 *   half-open only one opening, the probe; when open, none).
 *
 * Failover: a connection that fails to open hands one waiter back as
 * `redispatch` (the pool sends it to another relay at once; nothing of it
 * reached this relay). When failures open the circuit, every waiter is
 * handed back the same way and idle connections are closed. Sends cut
 * mid-transaction are not re-sent here: the relay may have the message, so
 * they come back deferred and are retried later, on another relay.
 *
 * Active probe (`health.probeInterval`): when nothing is in flight, or the
 * circuit is half-open, a connection is opened (greeting + EHLO) and closed
 * with QUIT; its outcome feeds the breaker like any other connection.
 *
 * Hand-over with the body (relays with PIPELINING; smtp-client.ts): when a
 * message has been written and only its final reply is awaited, the
 * connection goes to the next waiter at once, whose MAIL, RCPT and DATA
 * leave in the same write as that body; the first message's outcome comes
 * later, with its final reply, and is counted then (health, in-flight).
 * With nobody waiting at that moment the connection stays with its message
 * until the final reply, as without PIPELINING. A connection whose owner is
 * done while an earlier message's final reply is still outstanding (the
 * owner was refused locally, could not be built, or was released at
 * shutdown) goes to the next waiter, or waits for that reply before it may
 * idle: an idle QUIT or a shutdown never cuts a final reply short.
 *
 * `inFlight` counts messages assigned to this relay (waiting or sending, a
 * handed-over message until its final reply); least-connections balances
 * on it.
 */
import type { HealthConfig, RelayConfig } from '../config/config.js';
import type { Clock } from '../core/clock.js';
import type { EventBus, SluiceEventMap } from '../core/events.js';
import type { Stream } from '../core/message.js';
import type { SendResult } from '../core/outcome.js';
import type { RelaySnapshot } from './delivery-snapshot.js';
import type { DeliveryLogger } from './logger.js';
import { AbortWatch, type AbortWaiter } from './abort-watch.js';
import { RelayHealth } from './relay-health.js';
import { SmtpClient, type Envelope, type SmtpClientOptions } from './smtp-client.js';

/**
 * A send; or the message handed back unsent (shutdown) so the worker can
 * release it; or held back by a throttle or by every relay being down, to be
 * tried again at `retryAt` without counting an attempt.
 */
export type DispatchResult =
  | SendResult
  | { kind: 'released' }
  | { kind: 'throttled'; retryAt: number; reason: string }
  /** The message's bytes could not be built (a template error): nothing was sent. */
  | { kind: 'unbuilt'; reason: string };

/** What one relay answers: a result, or the message handed back untouched to go elsewhere. */
export type RelayResult = DispatchResult | { kind: 'redispatch'; reason: string };

/**
 * Builds a message's bytes (render, MIME, DKIM) when a connection is ready
 * for them; `{ failed }` when they cannot be built. Called once per
 * connection attempt (again when the message goes to another connection).
 */
export type MessageBuilder = () => Promise<Buffer | { failed: string }>;

export interface DispatchRequest {
  envelope: Envelope;
  /**
   * The bytes after DATA, or how to build them. The worker passes a
   * builder, so that a message waiting for a connection (most of the
   * messages in flight, when the relays are the bottleneck) holds its row
   * rather than its rendered body: less memory, and bodies that die young
   * instead of being promoted to V8's old generation (docs/benchmarks.md,
   * campaign section).
   */
  raw: Buffer | MessageBuilder;
  lane: Stream;
  /** Aborted at shutdown: a request that has not started its transaction comes back `released`. */
  signal?: AbortSignal;
  /**
   * Set (clock time) when the message is handed to a connection: its SMTP
   * transaction starts; set again if it moves to another connection. A
   * field the dispatch's layers read after the send, rather than callbacks
   * each layer wraps: the request lives while the message waits for a
   * connection, and closures would live (and be promoted) with it.
   */
  startedAt?: number;
}

export interface RelayConnectionsOptions {
  relay: RelayConfig;
  heloName: string;
  connectionTimeoutMs: number;
  greetingTimeoutMs: number;
  socketTimeoutMs: number;
  idleTimeoutMs: number;
  health: HealthConfig;
  clock: Clock;
  events: EventBus<SluiceEventMap>;
  logger: DeliveryLogger;
  /** Called after every change of this relay's health. */
  onHealthChange?: () => void;
}

type Grant =
  | { kind: 'client'; client: SmtpClient }
  | { kind: 'failed'; reason: string }
  | { kind: 'redispatch'; reason: string }
  | { kind: 'released' };

/**
 * A message waiting for a connection: a plain record rather than closures,
 * as it may wait for a second or so (long enough to be promoted to V8's old
 * generation) and ~1,000 wait at once (bench/campaign).
 */
class Waiter implements AbortWaiter {
  constructor(
    readonly queue: Waiter[],
    readonly signal: AbortSignal | undefined,
    readonly resolve: (grant: Grant) => void,
  ) {}

  /** The request's signal aborted while it waited: out of the queue, `released`. */
  onAbort(): void {
    const at = this.queue.indexOf(this);
    if (at >= 0) this.queue.splice(at, 1);
    this.resolve({ kind: 'released' });
  }
}

interface IdleClient {
  client: SmtpClient;
  timer: NodeJS.Timeout;
}

export class RelayConnections {
  readonly name: string;
  readonly weight: number;
  readonly health: RelayHealth;
  /** Messages assigned to this relay and not finished. */
  inFlight = 0;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing: Promise<void> | undefined;
  private readonly clients = new Set<SmtpClient>();
  private readonly idle: IdleClient[] = [];
  private readonly waiters: Record<Stream, Waiter[]> = { transactional: [], bulk: [] };
  private readonly aborts = new AbortWatch();
  private opening = 0;
  private readonly openings = new Set<Promise<void>>();
  private readonly abortOpenings = new AbortController();
  private closing = false;
  private readonly clientOptions: SmtpClientOptions;

  constructor(private readonly options: RelayConnectionsOptions) {
    this.name = options.relay.name;
    this.weight = options.relay.weight;
    this.clientOptions = {
      relay: options.relay,
      heloName: options.heloName,
      connectionTimeoutMs: options.connectionTimeoutMs,
      greetingTimeoutMs: options.greetingTimeoutMs,
      socketTimeoutMs: options.socketTimeoutMs,
    };
    const { relay, health } = options;
    this.health = new RelayHealth({
      relay: relay.name,
      failureThreshold: relay.health?.failureThreshold ?? health.failureThreshold,
      cooldownMs: relay.health?.cooldownMs ?? health.cooldownMs,
      maxCooldownMs: health.maxCooldownMs,
      ...(relay.warmup ? { warmup: relay.warmup } : {}),
      clock: options.clock,
      events: options.events,
      logger: options.logger,
      onChange: () => options.onHealthChange?.(),
      onHalfOpen: () => this.pump(),
    });
    if (health.probeIntervalMs !== undefined) {
      this.probeTimer = setInterval(() => this.probe(), health.probeIntervalMs);
      // Probes never keep the process alive on their own.
      this.probeTimer.unref();
    }
  }

  /** Whether this relay takes new messages now: not closing, circuit allows, under its warm-up cap. */
  get accepting(): boolean {
    return !this.closing && this.health.available;
  }

  /** This relay's own rate limit, when it has one. */
  get rate(): RelayConfig['rate'] {
    return this.options.relay.rate;
  }

  /** Connections open or opening. */
  get connectionCount(): number {
    return this.clients.size + this.opening;
  }

  /** A read-only picture for the dashboard and alerts (delivery-snapshot.ts). */
  snapshot(): RelaySnapshot {
    const { relay } = this.options;
    const state = this.health.state;
    return {
      name: this.name,
      host: relay.host,
      port: relay.port,
      state,
      accepting: this.accepting,
      inFlight: this.inFlight,
      connections: this.connectionCount,
      maxConnections: relay.maxConnections,
      ...(state === 'open' ? { retryAt: this.health.retryAt() } : {}),
      ...(relay.rate ? { rate: { ...relay.rate } } : {}),
    };
  }

  async send(request: DispatchRequest): Promise<RelayResult> {
    this.changeInFlight(1);
    this.health.countDispatch();
    let wentOut = false;
    try {
      // A pooled connection can have been closed by the relay a moment ago
      // without us noticing yet; when it fails before a byte of the message
      // went out, the message takes one more connection instead of a deferral.
      for (let attempt = 1; ; attempt++) {
        const grant = await this.acquire(request);
        if (grant.kind === 'released' || grant.kind === 'redispatch') return grant;
        if (grant.kind === 'failed') {
          return { kind: 'deferred', relay: this.name, response: grant.reason };
        }
        const { client } = grant;
        if (request.signal?.aborted) {
          this.release(client);
          return { kind: 'released' };
        }
        const raw = Buffer.isBuffer(request.raw) ? request.raw : await request.raw();
        if (!Buffer.isBuffer(raw)) {
          this.release(client);
          return { kind: 'unbuilt', reason: raw.failed };
        }
        const reused = client.sent > 0;
        wentOut = true;
        request.startedAt = this.options.clock.now();
        const outcome = await client.send(request.envelope, raw, this.handOver);
        const { result } = outcome;
        if (result.kind === 'deferred' && result.code === undefined) {
          if (outcome.untouched && this.closing) {
            // Cut at shutdown before a byte of its content went out (a message
            // handed the connection behind another's final reply): unsent.
            this.release(client);
            return { kind: 'released' };
          }
          if (outcome.untouched && reused && attempt === 1) {
            this.release(client);
            continue;
          }
          this.options.events.emit('relay:connection-error', {
            relay: this.name,
            error: result.response,
          });
          // Broken or timed out mid-transaction: the relay is not well.
          if (!this.closing && this.health.failure(result.response)) this.failOver(result.response);
        } else {
          this.health.success();
        }
        // Handed over with its body: the connection is the next message's now.
        if (!outcome.handedOver) this.release(client);
        return result;
      }
    } finally {
      if (!wentOut) this.health.countDispatch(true);
      this.changeInFlight(-1);
    }
  }

  /** QUITs idle connections, drops busy ones (their sends come back deferred), gives up openings. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.probeTimer);
    this.health.close();
    this.abortOpenings.abort();
    for (const lane of ['transactional', 'bulk'] as const) {
      for (const waiter of this.waiters[lane].splice(0)) {
        this.grant(waiter, { kind: 'failed', reason: `relay ${this.name} is shutting down` });
      }
    }
    const idle = new Set(
      this.idle.splice(0).map(({ client, timer }) => {
        clearTimeout(timer);
        return client;
      }),
    );
    await Promise.all([
      ...[...this.clients].map((c) => (idle.has(c) ? c.close() : c.destroy())),
      ...this.openings,
      this.probing,
    ]);
  }

  private changeInFlight(delta: number): void {
    this.inFlight += delta;
    this.options.events.emit('relay:in-flight', { relay: this.name, inFlight: this.inFlight });
  }

  /** The circuit opened: waiting messages go to other relays now; idle connections are closed. */
  private failOver(reason: string): void {
    for (const lane of ['transactional', 'bulk'] as const) {
      for (const waiter of this.waiters[lane].splice(0)) {
        this.grant(waiter, { kind: 'redispatch', reason: `relay ${this.name} is down: ${reason}` });
      }
    }
    for (const { client, timer } of this.idle.splice(0)) {
      clearTimeout(timer);
      void client.close();
    }
  }

  /** Active health check; see the header comment. At most one at a time. */
  private probe(): void {
    if (this.closing || this.probing) return;
    const idleRelay = this.inFlight === 0 && this.opening === 0;
    if (!idleRelay && this.health.state !== 'half-open') return;
    if (!this.health.beginAttempt()) return;
    this.probing = (async () => {
      this.opening++;
      const result = await SmtpClient.open(this.clientOptions, this.abortOpenings.signal);
      this.opening--;
      if (result.ok) {
        await result.client.close();
        if (!this.closing) this.health.success();
      } else if (!this.closing) {
        this.options.logger.warn(
          { relay: this.name, reason: result.reason },
          'relay health probe failed',
        );
        if (this.health.failure(result.reason)) this.failOver(result.reason);
      }
      this.pump();
    })().finally(() => {
      this.probing = undefined;
    });
  }

  private acquire(request: DispatchRequest): Promise<Grant> {
    const { signal } = request;
    if (signal?.aborted) return Promise.resolve({ kind: 'released' });
    if (this.closing) {
      return Promise.resolve({ kind: 'failed', reason: `relay ${this.name} is shutting down` });
    }
    if (this.health.open) {
      return Promise.resolve({ kind: 'redispatch', reason: `relay ${this.name} is down` });
    }
    const idle = this.takeIdle();
    if (idle) return Promise.resolve({ kind: 'client', client: idle });
    return new Promise<Grant>((resolve) => {
      const queue = this.waiters[request.lane];
      const waiter = new Waiter(queue, signal, resolve);
      if (signal) this.aborts.watch(signal, waiter);
      queue.push(waiter);
      this.pump();
    });
  }

  /** Hands `grant` to a waiter taken out of its queue. */
  private grant(waiter: Waiter, grant: Grant): void {
    if (waiter.signal) this.aborts.unwatch(waiter.signal, waiter);
    waiter.resolve(grant);
  }

  private nextWaiter(): Waiter | undefined {
    return this.waiters.transactional.shift() ?? this.waiters.bulk.shift();
  }

  private get waiting(): number {
    return this.waiters.transactional.length + this.waiters.bulk.length;
  }

  /** Serves waiters from idle connections, then opens connections for the rest, within the limit. */
  private pump(): void {
    while (this.waiting > 0 && this.idle.length > 0) {
      const client = this.takeIdle();
      const waiter = client && this.nextWaiter();
      if (client && waiter) this.grant(waiter, { kind: 'client', client });
    }
    while (
      !this.closing &&
      this.waiting > this.opening &&
      this.connectionCount < this.options.relay.maxConnections &&
      this.health.beginAttempt()
    ) {
      const opening = this.openOne().finally(() => this.openings.delete(opening));
      this.openings.add(opening);
    }
  }

  private async openOne(): Promise<void> {
    this.opening++;
    const result = await SmtpClient.open(this.clientOptions, this.abortOpenings.signal);
    this.opening--;
    if (!result.ok) {
      const reason = `cannot connect to relay ${this.name}: ${result.reason}`;
      if (this.closing) {
        const waiter = this.nextWaiter();
        if (waiter) this.grant(waiter, { kind: 'failed', reason });
        return;
      }
      this.options.logger.warn(
        { relay: this.name, reason: result.reason },
        'cannot open a connection to the relay',
      );
      this.options.events.emit('relay:connection-error', {
        relay: this.name,
        error: result.reason,
      });
      // Nothing of the message reached this relay: another relay may take it now.
      const waiter = this.nextWaiter();
      if (waiter) this.grant(waiter, { kind: 'redispatch', reason });
      if (this.health.failure(result.reason)) this.failOver(result.reason);
      this.pump();
      return;
    }
    this.health.success();
    const { client } = result;
    this.clients.add(client);
    client.onClose(() => {
      this.clients.delete(client);
      const at = this.idle.findIndex((entry) => entry.client === client);
      if (at >= 0) {
        const [entry] = this.idle.splice(at, 1);
        if (entry) clearTimeout(entry.timer);
      }
      this.pump();
    });
    if (this.closing) {
      await client.close();
      return;
    }
    this.release(client);
  }

  /**
   * A message is written and awaits its final reply: its connection goes to
   * the next waiter now, if there is one (see the header comment).
   */
  private readonly handOver = (client: SmtpClient): boolean => {
    if (this.closing || !client.usable) return false;
    const waiter = this.nextWaiter();
    if (!waiter) return false;
    this.grant(waiter, { kind: 'client', client });
    return true;
  };

  /**
   * A connection is free: to the next waiter, or idle until idleTimeoutMs
   * once no final reply is outstanding on it.
   */
  private release(client: SmtpClient): void {
    if (!client.usable) {
      this.pump();
      return;
    }
    if (this.closing) {
      if (client.awaitingReply) void client.replied().then(() => this.release(client));
      else void client.close();
      return;
    }
    const waiter = this.nextWaiter();
    if (waiter) {
      this.grant(waiter, { kind: 'client', client });
      return;
    }
    if (client.awaitingReply) {
      // Not idle yet: an idle QUIT must not race the reply (a waiter arriving meanwhile opens its own).
      void client.replied().then(() => this.release(client));
      return;
    }
    const timer = setTimeout(() => {
      const at = this.idle.findIndex((entry) => entry.client === client);
      if (at >= 0) this.idle.splice(at, 1);
      void client.close();
    }, this.options.idleTimeoutMs);
    this.idle.push({ client, timer });
  }

  private takeIdle(): SmtpClient | undefined {
    for (;;) {
      const entry = this.idle.pop();
      if (!entry) return undefined;
      clearTimeout(entry.timer);
      if (entry.client.usable) return entry.client;
    }
  }
}
