/**
 * The persistent connections to one relay: up to `maxConnections` of them,
 * reused from message to message, closed with QUIT after `idleTimeoutMs`
 * without work.
 *
 * A message asks for a connection and waits in a queue with two lanes,
 * transactional before bulk. The queue is served by:
 * - an idle connection (most recently used first, so surplus ones age out);
 * - or a new connection, opened when waiters outnumber the openings under
 *   way and the relay has room. A connection that fails to open fails one
 *   waiter, which is deferred with the reason; the next waiter triggers the
 *   next attempt. (The circuit breaker of the relay-farm issue will stop
 *   those attempts while a relay is down: see `accepting`.)
 *
 * `inFlight` counts messages assigned to this relay (waiting or sending);
 * least-connections balances on it.
 */
import type { RelayConfig } from '../config/config.js';
import type { EventBus, SluiceEventMap } from '../core/events.js';
import type { Stream } from '../core/message.js';
import type { SendResult } from '../core/outcome.js';
import type { DeliveryLogger } from './logger.js';
import { SmtpClient, type Envelope, type SmtpClientOptions } from './smtp-client.js';

/** A send, or the message handed back unsent (shutdown) so the worker can release it. */
export type DispatchResult = SendResult | { kind: 'released' };

export interface DispatchRequest {
  envelope: Envelope;
  raw: Buffer;
  lane: Stream;
  /** Aborted at shutdown: a request that has not started its transaction comes back `released`. */
  signal?: AbortSignal;
  /** Called when the message is handed to a connection: its SMTP transaction starts. */
  onStart?: () => void;
}

export interface RelayConnectionsOptions {
  relay: RelayConfig;
  heloName: string;
  connectionTimeoutMs: number;
  greetingTimeoutMs: number;
  socketTimeoutMs: number;
  idleTimeoutMs: number;
  events: EventBus<SluiceEventMap>;
  logger: DeliveryLogger;
}

type Grant =
  | { kind: 'client'; client: SmtpClient }
  | { kind: 'failed'; reason: string }
  | { kind: 'released' };

interface Waiter {
  grant(grant: Grant): void;
}

interface IdleClient {
  client: SmtpClient;
  timer: NodeJS.Timeout;
}

export class RelayConnections {
  readonly name: string;
  readonly weight: number;
  /** Messages assigned to this relay and not finished. */
  inFlight = 0;
  private readonly clients = new Set<SmtpClient>();
  private readonly idle: IdleClient[] = [];
  private readonly waiters: Record<Stream, Waiter[]> = { transactional: [], bulk: [] };
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
  }

  /**
   * Whether this relay takes new messages. Only `false` once closing today;
   * the seam where relay health (circuit breaker) will plug in.
   */
  get accepting(): boolean {
    return !this.closing;
  }

  /** Connections open or opening. */
  get connectionCount(): number {
    return this.clients.size + this.opening;
  }

  async send(request: DispatchRequest): Promise<DispatchResult> {
    this.inFlight++;
    try {
      // A pooled connection can have been closed by the relay a moment ago
      // without us noticing yet; when it fails before a byte of the message
      // went out, the message takes one more connection instead of a deferral.
      for (let attempt = 1; ; attempt++) {
        const grant = await this.acquire(request);
        if (grant.kind === 'released') return grant;
        if (grant.kind === 'failed') {
          return { kind: 'deferred', relay: this.name, response: grant.reason };
        }
        const { client } = grant;
        if (request.signal?.aborted) {
          this.release(client);
          return { kind: 'released' };
        }
        const reused = client.sent > 0;
        request.onStart?.();
        const outcome = await client.send(request.envelope, request.raw);
        this.release(client);
        const { result } = outcome;
        if (result.kind === 'deferred' && result.code === undefined) {
          if (outcome.untouched && reused && attempt === 1 && !this.closing) continue;
          this.options.events.emit('relay:connection-error', {
            relay: this.name,
            error: result.response,
          });
        }
        return result;
      }
    } finally {
      this.inFlight--;
    }
  }

  /** QUITs idle connections, drops busy ones (their sends come back deferred), gives up openings. */
  async close(): Promise<void> {
    this.closing = true;
    this.abortOpenings.abort();
    for (const lane of ['transactional', 'bulk'] as const) {
      for (const waiter of this.waiters[lane].splice(0)) {
        waiter.grant({ kind: 'failed', reason: `relay ${this.name} is shutting down` });
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
    ]);
  }

  private acquire(request: DispatchRequest): Promise<Grant> {
    const { signal } = request;
    if (signal?.aborted) return Promise.resolve({ kind: 'released' });
    if (this.closing) {
      return Promise.resolve({ kind: 'failed', reason: `relay ${this.name} is shutting down` });
    }
    const idle = this.takeIdle();
    if (idle) return Promise.resolve({ kind: 'client', client: idle });
    return new Promise<Grant>((resolve) => {
      const queue = this.waiters[request.lane];
      const onAbort = (): void => {
        const at = queue.indexOf(waiter);
        if (at >= 0) queue.splice(at, 1);
        resolve({ kind: 'released' });
      };
      const waiter: Waiter = {
        grant: (grant) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(grant);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
      this.pump();
    });
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
      if (client) this.nextWaiter()?.grant({ kind: 'client', client });
    }
    while (
      !this.closing &&
      this.waiting > this.opening &&
      this.connectionCount < this.options.relay.maxConnections
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
      if (!this.closing) {
        this.options.logger.warn(
          { relay: this.name, reason: result.reason },
          'cannot open a connection to the relay',
        );
        this.options.events.emit('relay:connection-error', {
          relay: this.name,
          error: result.reason,
        });
      }
      this.nextWaiter()?.grant({
        kind: 'failed',
        reason: `cannot connect to relay ${this.name}: ${result.reason}`,
      });
      this.pump();
      return;
    }
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

  /** A connection is free: to the next waiter, or idle until idleTimeoutMs. */
  private release(client: SmtpClient): void {
    if (!client.usable) {
      this.pump();
      return;
    }
    if (this.closing) {
      void client.close();
      return;
    }
    const waiter = this.nextWaiter();
    if (waiter) {
      waiter.grant({ kind: 'client', client });
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
