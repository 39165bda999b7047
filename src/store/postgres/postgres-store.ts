/**
 * The scale-out store: PostgreSQL through a pg Pool, shared by any number
 * of Sluice processes.
 *
 * Durability: PostgreSQL's default `synchronous_commit = on` flushes the WAL
 * before COMMIT returns, so an accepted message survives a crash of the
 * database server; nothing here lowers it. Accepts are group-committed
 * (postgres/accept.ts): one statement per batch beats one per accept by
 * about 3.5× on 2 cores, where the round trips cost more than the flushes.
 *
 * Types: BIGINT (epoch ms, counts) comes back as a JS number through a
 * per-pool type parser (safe below 2^53; the global pg.types is left
 * alone). With `schema`, every pooled connection starts with that
 * search_path (sent in the startup packet, so no query can run before it).
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { SluiceError } from '../../core/errors.js';
import type { Store, StoreCapabilities } from '../../core/ports/store.js';
import { PgApiKeyStore } from './api-keys.js';
import { PgCampaignStore } from './campaigns.js';
import { PgContactStore } from './contacts.js';
import { PgEventStore } from './events.js';
import { PgSegmentStore } from './segments.js';
import { PgDashboardQueries } from './dashboard-queries.js';
import { PgEngagementStore } from './engagement.js';
import { PgJourneyStore } from './journeys.js';
import { PgListStore } from './lists.js';
import { PgMaintenanceStore } from './maintenance.js';
import { PgRateTokenStore } from './rate-tokens.js';
import { DEFAULT_LEADER_CHECK_INTERVAL_MS, PgLeadership } from './pg-leadership.js';
import { PgMessageStore } from './messages.js';
import { PgNotifier, pgChannelName } from './pg-notifier.js';
import { POSTGRES_MIGRATIONS } from './migrations.js';
import { PgDatabase } from './pg-database.js';
import { PgSuppressionStore } from './suppressions.js';
import { PgTemplateStore } from './templates.js';
import { PgComplaintStore } from './complaints.js';
import { PgWebhookStore } from './webhooks.js';

export interface PostgresStoreOptions {
  /** Connections in the pool; concurrent statements beyond it wait for one. */
  poolSize?: number;
  /** Schema for all tables (created by migrate() if missing); the server's search_path when absent. */
  schema?: string;
  /**
   * How long a statement waits for a pooled connection before failing with
   * ERR_STORE_UNAVAILABLE: long enough for a busy pool, short enough that an
   * HTTP client gets its 503 before it gives up.
   */
  connectionTimeoutMs?: number;
  /** How often the leadership connection checks its session and tries for duties it does not lead. */
  leaderCheckIntervalMs?: number;
}

const DEFAULT_POOL_SIZE = 10;
const DEFAULT_CONNECTION_TIMEOUT_MS = 10_000;
const INT8_OID = 20;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Two 32-bit keys for pg_advisory_xact_lock: one for "migrations", one for the schema. */
function migrationLockKeys(schema: string): [number, number] {
  const digest = createHash('sha256').update(`sluice:migrate:${schema}`).digest();
  return [0x51_75_69_63, digest.readInt32BE(0)];
}

function getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
  if (oid === INT8_OID && format !== 'binary') return Number;
  return pg.types.getTypeParser(oid, format) as (value: string) => unknown;
}
const typeParsers: pg.CustomTypesConfig = { getTypeParser };

export function openPostgresStore(
  connectionString: string,
  options: PostgresStoreOptions = {},
): PostgresStore {
  if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
    throw new SluiceError(
      'ERR_VALIDATION',
      `database.schema: ${JSON.stringify(options.schema)} is not a plain lower-case identifier`,
      { field: 'database.schema' },
    );
  }
  const pool = new pg.Pool({
    connectionString,
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? DEFAULT_CONNECTION_TIMEOUT_MS,
    application_name: 'sluice',
    types: typeParsers,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  // An idle connection that dies (server restart) emits 'error' on the pool;
  // unhandled, that would crash the process. The next query gets a fresh
  // connection or a mapped ERR_STORE_UNAVAILABLE, so there is nothing to do here.
  pool.on('error', () => undefined);
  // The LISTEN connection: like a pooled one, but kept open by TCP
  // keep-alive so that a silently dead server is noticed and reconnected.
  const newClient = () =>
    new pg.Client({
      connectionString,
      connectionTimeoutMillis: options.connectionTimeoutMs ?? DEFAULT_CONNECTION_TIMEOUT_MS,
      application_name: 'sluice-listen',
      keepAlive: true,
      types: typeParsers,
    });
  // The leadership connection: its own session (advisory locks belong to
  // it); a check that does not answer within the interval counts as lost.
  const leaderCheckIntervalMs = options.leaderCheckIntervalMs ?? DEFAULT_LEADER_CHECK_INTERVAL_MS;
  const newLeaderClient = () =>
    new pg.Client({
      connectionString,
      connectionTimeoutMillis: Math.max(leaderCheckIntervalMs, 1_000),
      query_timeout: Math.max(leaderCheckIntervalMs, 1_000),
      application_name: 'sluice-leader',
      keepAlive: true,
      types: typeParsers,
      ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
    });
  return new PostgresStore(pool, options.schema, newClient, newLeaderClient, leaderCheckIntervalMs);
}

export class PostgresStore implements Store {
  readonly dialect = 'postgres' as const;
  readonly capabilities: StoreCapabilities = {
    singleWriter: false,
    skipLocked: true,
    listenNotify: true,
    sortedImports: false,
  };
  readonly apiKeys: PgApiKeyStore;
  readonly contacts: PgContactStore;
  readonly lists: PgListStore;
  readonly templates: PgTemplateStore;
  readonly messages: PgMessageStore;
  readonly suppressions: PgSuppressionStore;
  readonly events: PgEventStore;
  readonly segments: PgSegmentStore;
  readonly engagement: PgEngagementStore;
  readonly campaigns: PgCampaignStore;
  readonly journeys: PgJourneyStore;
  readonly dashboard: PgDashboardQueries;
  readonly wakeups: PgNotifier;
  readonly webhooks: PgWebhookStore;
  readonly complaints: PgComplaintStore;
  readonly leadership: PgLeadership;
  readonly maintenance: PgMaintenanceStore;
  readonly rateTokens: PgRateTokenStore;
  private readonly db: PgDatabase;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string | undefined,
    newClient: () => pg.Client,
    newLeaderClient: () => pg.Client = newClient,
    leaderCheckIntervalMs?: number,
  ) {
    this.db = new PgDatabase(pool);
    this.wakeups = new PgNotifier({ db: this.db, newClient, ...(schema ? { schema } : {}) });
    this.apiKeys = new PgApiKeyStore(this.db);
    this.contacts = new PgContactStore(this.db);
    this.lists = new PgListStore(this.db);
    this.templates = new PgTemplateStore(this.db);
    this.messages = new PgMessageStore(this.db, pgChannelName('outbox', schema));
    this.suppressions = new PgSuppressionStore(this.db);
    this.events = new PgEventStore(this.db);
    this.segments = new PgSegmentStore(this.db);
    this.engagement = new PgEngagementStore(this.db);
    this.journeys = new PgJourneyStore(this.db);
    this.webhooks = new PgWebhookStore(this.db);
    this.complaints = new PgComplaintStore(this.db);
    this.campaigns = new PgCampaignStore(this.db);
    this.leadership = new PgLeadership({
      newClient: newLeaderClient,
      ...(schema ? { schema } : {}),
      ...(leaderCheckIntervalMs !== undefined ? { checkIntervalMs: leaderCheckIntervalMs } : {}),
    });
    this.maintenance = new PgMaintenanceStore(this.db);
    this.rateTokens = new PgRateTokenStore(this.db);
    this.dashboard = new PgDashboardQueries(this.db);
  }

  /**
   * Each pending migration in its own transaction, under a transaction-level
   * advisory lock keyed by the schema: nodes starting together queue on the
   * lock, and each re-reads schema_migrations once it holds it, so every
   * migration is applied exactly once. The lock goes with the transaction,
   * even if the node dies mid-way.
   */
  async migrate(): Promise<string[]> {
    const [classKey, schemaKey] = migrationLockKeys(this.schema ?? '');
    const applied: string[] = [];
    for (const migration of POSTGRES_MIGRATIONS) {
      await this.db.transaction(async (client) => {
        await client.query('SELECT pg_advisory_xact_lock($1, $2)', [classKey, schemaKey]);
        if (this.schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
        await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
          id text PRIMARY KEY,
          applied_at bigint NOT NULL
        )`);
        const done = await client.query('SELECT 1 FROM schema_migrations WHERE id = $1', [
          migration.id,
        ]);
        if (done.rowCount) return;
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (id, applied_at) VALUES ($1, $2)', [
          migration.id,
          Date.now(),
        ]);
        applied.push(migration.id);
      });
    }
    return applied;
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }

  /** Lets submitted accepts commit, then ends the pool (checked-out connections come back first). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([
      this.messages.close(),
      this.events.close(),
      this.wakeups.close(),
      this.leadership.close(),
    ]);
    await this.pool.end();
  }
}
