/**
 * Leadership on PostgreSQL: a session advisory lock per duty, held on one
 * dedicated connection (not a pooled one: a session lock belongs to the
 * session, and the pool hands its connections to other queries). When the
 * leader's process dies or its connection breaks, the server ends the
 * session and releases the lock; the next node to try takes it.
 *
 * One timer drives everything, every `checkIntervalMs`:
 *
 *   disconnected ──tick: connect──► connected ──tick──► for each duty:
 *        ▲                              │                 held     → SELECT 1 (the session is alive)
 *        │  error / end / a check fails │                 not held → pg_try_advisory_lock
 *        └──────────────────────────────┘  (every held duty is deposed)
 *
 * A check that does not answer within the interval counts as a failure
 * (query_timeout): a leader cut off from the database stops leading within
 * about two intervals, while the server may take longer to notice that the
 * session is gone (TCP keep-alive) and free the lock. Duties must tolerate
 * that overlap (see core/ports/leadership.ts). The default interval (2 s)
 * bounds a failover at a few seconds for one small query per interval per node.
 *
 * Lock keys: a class key for "sluice leadership" and a hash of schema and
 * duty, so deployments sharing a database lead separately.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { errorMessage } from '../../core/errors.js';
import type { Leadership, LeadershipListener } from '../../core/ports/leadership.js';

export interface PgLeadershipOptions {
  /** A new, unconnected client (with query_timeout set to about the check interval). */
  newClient: () => pg.Client;
  schema?: string;
  checkIntervalMs?: number;
}

export const DEFAULT_LEADER_CHECK_INTERVAL_MS = 2_000;
const LEADERSHIP_CLASS_KEY = 0x53_6c_4c_64;

const ignore = (): void => undefined;

/** The advisory lock keys of a duty. */
export function leadershipLockKeys(duty: string, schema = ''): [number, number] {
  const digest = createHash('sha256').update(`sluice:lead:${schema}:${duty}`).digest();
  return [LEADERSHIP_CLASS_KEY, digest.readInt32BE(0)];
}

interface Campaign {
  duty: string;
  keys: [number, number];
  listener: LeadershipListener;
  leading: boolean;
}

export class PgLeadership implements Leadership {
  readonly shared = true;
  private readonly campaigns = new Map<string, Campaign>();
  private client: pg.Client | undefined;
  private connected = false;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private closed = false;
  private readonly intervalMs: number;

  constructor(private readonly options: PgLeadershipOptions) {
    this.intervalMs = options.checkIntervalMs ?? DEFAULT_LEADER_CHECK_INTERVAL_MS;
  }

  campaign(duty: string, listener: LeadershipListener): () => Promise<void> {
    if (this.closed) throw new Error('the store is closed');
    if (this.campaigns.has(duty)) throw new Error(`already campaigning for ${duty}`);
    const campaign: Campaign = {
      duty,
      keys: leadershipLockKeys(duty, this.options.schema),
      listener,
      leading: false,
    };
    this.campaigns.set(duty, campaign);
    this.schedule(0);
    return () => this.resign(campaign);
  }

  /** Gives every duty up and ends the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    await this.ticking;
    for (const campaign of this.campaigns.values()) this.depose(campaign, 'stopped');
    this.campaigns.clear();
    await this.disconnect();
  }

  private async resign(campaign: Campaign): Promise<void> {
    if (this.campaigns.get(campaign.duty) !== campaign) return;
    await this.ticking;
    this.campaigns.delete(campaign.duty);
    if (campaign.leading) {
      this.depose(campaign, 'stopped');
      await this.client?.query('SELECT pg_advisory_unlock($1, $2)', campaign.keys).catch(ignore);
    }
    if (this.campaigns.size === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      await this.disconnect();
    }
  }

  private schedule(delayMs: number): void {
    if (this.closed || this.timer || this.ticking) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.ticking = this.tick().finally(() => {
        this.ticking = undefined;
        if (this.campaigns.size > 0) this.schedule(this.intervalMs);
      });
    }, delayMs);
  }

  private async tick(): Promise<void> {
    if (this.closed || this.campaigns.size === 0) return;
    try {
      const client = await this.connection();
      let aliveChecked = false;
      for (const campaign of [...this.campaigns.values()]) {
        if (campaign.leading) {
          if (!aliveChecked) await client.query('SELECT 1');
          aliveChecked = true;
          continue;
        }
        const result = await client.query<{ locked: boolean }>(
          'SELECT pg_try_advisory_lock($1, $2) AS locked',
          campaign.keys,
        );
        if (!result.rows[0]?.locked) continue;
        if (this.campaigns.get(campaign.duty) !== campaign || this.closed) {
          await client.query('SELECT pg_advisory_unlock($1, $2)', campaign.keys);
          continue;
        }
        campaign.leading = true;
        campaign.listener.onElected();
      }
    } catch (error) {
      this.lost(error);
    }
  }

  private async connection(): Promise<pg.Client> {
    if (this.client && this.connected) return this.client;
    const client = this.options.newClient();
    this.client = client;
    client.on('error', (error) => this.lost(error, client));
    client.on('end', () => this.lost(new Error('the connection ended'), client));
    await client.connect();
    this.connected = true;
    return client;
  }

  /** The session is gone (or may be): its locks are, so every duty is deposed. */
  private lost(error: unknown, client = this.client): void {
    if (!client || client !== this.client) return;
    this.client = undefined;
    this.connected = false;
    void release(client);
    const reason = `the leadership connection was lost: ${errorMessage(error)}`;
    for (const campaign of this.campaigns.values()) this.depose(campaign, reason);
  }

  private depose(campaign: Campaign, reason: string): void {
    if (!campaign.leading) return;
    campaign.leading = false;
    campaign.listener.onDeposed(reason);
  }

  private async disconnect(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.connected = false;
    if (client) await release(client);
  }
}

/** Ends a client whose events no longer matter; its late errors must not crash the process. */
function release(client: pg.Client): Promise<void> {
  client.removeAllListeners();
  client.on('error', ignore);
  return client.end().catch(ignore);
}
