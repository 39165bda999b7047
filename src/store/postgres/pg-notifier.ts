/**
 * Wake-ups on PostgreSQL: NOTIFY through the pool, LISTEN on one dedicated
 * connection. Not a pooled one: LISTEN belongs to a session, and a pooled
 * connection is handed to other queries and may be closed when idle.
 *
 * The listening connection's state machine:
 *
 *   idle ──first listen()──► connecting ──connected, LISTENed──► listening
 *                              │   ▲                                │
 *                       failed │   │ backoff timer         error/end│
 *                              ▼   │                                │
 *                             waiting ◄─────────────────────────────┘
 *
 *   any state ──last unsubscribe──► idle;  any state ──close()──► closed
 *
 * Backoff: 500 ms, doubling to 30 s, reset on each successful LISTEN; long
 * enough not to hammer a restarting server, short enough that wake-ups
 * come back soon after it is up (polling covers the gap meanwhile).
 * Entering `listening` calls every listener's onWake once: notifications
 * sent while the connection was down are lost, so look now.
 *
 * Each connection attempt has a generation; events of an older connection
 * (a late 'end' after a reconnect, say) are ignored.
 */
import type pg from 'pg';
import type {
  WakeupChannel,
  WakeupListener,
  WakeupState,
  Wakeups,
} from '../../core/ports/wakeups.js';
import type { PgDatabase } from './pg-database.js';

type State = 'idle' | 'connecting' | 'listening' | 'waiting' | 'closed';

export interface PgNotifierOptions {
  db: PgDatabase;
  /** A new, unconnected client to LISTEN on. */
  newClient: () => pg.Client;
  /** The channels are per schema, so that deployments sharing a database do not wake each other. */
  schema?: string;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

const ignore = (): void => undefined;

/** The PostgreSQL channel of a wake-up channel: `sluice_outbox`, or `sluice_outbox_<schema>`. */
export function pgChannelName(channel: WakeupChannel, schema?: string): string {
  return schema ? `sluice_${channel}_${schema}` : `sluice_${channel}`;
}

export class PgNotifier implements Wakeups {
  readonly crossProcess = true;
  private readonly listeners = new Map<WakeupChannel, Set<WakeupListener>>();
  private state: State = 'idle';
  private client: pg.Client | undefined;
  private generation = 0;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: PgNotifierOptions) {}

  channelName(channel: WakeupChannel): string {
    return pgChannelName(channel, this.options.schema);
  }

  async notify(channel: WakeupChannel): Promise<void> {
    await this.options.db.query("SELECT pg_notify($1, '')", [this.channelName(channel)]);
  }

  listen(channel: WakeupChannel, listener: WakeupListener): () => Promise<void> {
    if (this.state === 'closed') throw new Error('the store is closed');
    let set = this.listeners.get(channel);
    const newChannel = !set;
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(listener);
    if (this.state === 'idle') this.connect();
    else if (this.state === 'listening' && newChannel && this.client) {
      const { client, generation } = this;
      client
        .query(`LISTEN ${this.channelName(channel)}`)
        .catch((error: unknown) => this.lost(generation, client, error));
    }
    return async () => {
      const current = this.listeners.get(channel);
      current?.delete(listener);
      if (current?.size === 0) this.listeners.delete(channel);
      if (this.listeners.size === 0 && this.state !== 'closed') await this.disconnect('idle');
    };
  }

  /** Ends the listening connection for good. */
  async close(): Promise<void> {
    this.listeners.clear();
    await this.disconnect('closed');
  }

  private connect(): void {
    const generation = ++this.generation;
    const client = this.options.newClient();
    this.state = 'connecting';
    this.client = client;
    client.on('notification', (message) => {
      if (generation !== this.generation) return;
      for (const [channel, set] of this.listeners) {
        if (this.channelName(channel) !== message.channel) continue;
        for (const listener of set) listener.onWake();
      }
    });
    client.on('error', (error) => this.lost(generation, client, error));
    client.on('end', () => this.lost(generation, client, new Error('the connection ended')));
    void this.startListening(generation, client);
  }

  private async startListening(generation: number, client: pg.Client): Promise<void> {
    try {
      await client.connect();
      for (const channel of this.listeners.keys()) {
        await client.query(`LISTEN ${this.channelName(channel)}`);
      }
    } catch (error) {
      this.lost(generation, client, error);
      return;
    }
    if (generation !== this.generation) return;
    this.state = 'listening';
    this.failures = 0;
    this.broadcast({ state: 'listening' });
    for (const set of [...this.listeners.values()]) for (const listener of set) listener.onWake();
  }

  private lost(generation: number, client: pg.Client, error: unknown): void {
    if (generation !== this.generation || this.state === 'idle' || this.state === 'closed') return;
    this.generation++;
    this.client = undefined;
    void this.release(client);
    this.failures++;
    const min = this.options.minBackoffMs ?? MIN_BACKOFF_MS;
    const max = this.options.maxBackoffMs ?? MAX_BACKOFF_MS;
    const retryInMs = Math.min(max, min * 2 ** Math.min(this.failures - 1, 20));
    this.state = 'waiting';
    this.broadcast({ state: 'lost', error, retryInMs });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.state === 'waiting') this.connect();
    }, retryInMs);
  }

  private async disconnect(next: 'idle' | 'closed'): Promise<void> {
    this.generation++;
    this.state = next;
    this.failures = 0;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const client = this.client;
    this.client = undefined;
    if (client) await this.release(client);
  }

  /** Ends a client whose events no longer matter; its late errors must not crash the process. */
  private release(client: pg.Client): Promise<void> {
    client.removeAllListeners();
    client.on('error', ignore);
    return client.end().catch(ignore);
  }

  private broadcast(change: WakeupState): void {
    for (const set of [...this.listeners.values()]) {
      for (const listener of set) listener.onState?.(change);
    }
  }
}
