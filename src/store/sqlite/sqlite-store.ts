/**
 * The embedded store: one SQLite file through better-sqlite3.
 *
 * Durability: a 202 from the API means the message's row survives a power
 * cut. Hence WAL with `synchronous=FULL`: in WAL mode the default NORMAL
 * only fsyncs at checkpoints, so the last commits before a power cut can
 * vanish although the caller was told they were written; FULL fsyncs the
 * WAL at every commit. That fsync is the price of an accept, which is why
 * accepts are group-committed (see ../group-commit.ts): one fsync per batch,
 * and why accept and event batches wait for it off the event loop
 * (./wal-sync.ts).
 *
 * One connection, one writer: better-sqlite3 is synchronous, so each
 * operation runs to its end on the event loop and transactions of this
 * process never interleave. busy_timeout covers another process (the CLI)
 * holding the write lock for a moment. The capabilities say so: a single
 * writer, no SKIP LOCKED, no cross-process wake-ups.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { soleLeadership } from '../../core/ports/leadership.js';
import { noWakeups } from '../../core/ports/wakeups.js';
import type { Store, StoreCapabilities } from '../../core/ports/store.js';
import { SqliteApiKeyStore } from './api-keys.js';
import { SqliteCampaignStore } from './campaigns.js';
import { SqliteContactStore } from './contacts.js';
import { SqliteEventStore } from './events.js';
import { SqliteSegmentStore } from './segments.js';
import { SqliteDashboardQueries } from './dashboard-queries.js';
import { SqliteEngagementStore } from './engagement.js';
import { SqliteJourneyStore } from './journeys.js';
import { SqliteListStore } from './lists.js';
import { SqliteMaintenanceStore } from './maintenance.js';
import { SqliteMessageStore } from './messages.js';
import { SQLITE_MIGRATIONS } from './migrations.js';
import { mapSqliteError, promised } from './sqlite-errors.js';
import { StatementCache } from './statement-cache.js';
import { SqliteSuppressionStore } from './suppressions.js';
import { SqliteTemplateStore } from './templates.js';
import { SqliteComplaintStore } from './complaints.js';
import { SqliteWebhookStore } from './webhooks.js';
import { BackgroundCheckpointer } from './checkpointer.js';
import { WalSync } from './wal-sync.js';

export interface SqliteStoreOptions {
  /**
   * How long a write waits for another process's write lock before failing
   * with ERR_STORE_UNAVAILABLE. Five seconds outlasts any checkpoint or CLI
   * command yet answers an HTTP client before its own timeout.
   */
  busyTimeoutMs?: number;
  /** Most accepts per group commit (see GroupCommit). */
  acceptBatch?: number;
  /** Messages per statement of a campaign's statistics (STATS_CHUNK in ./campaigns.ts). */
  statsChunk?: number;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5000;
/** The main connection's page cache, in KiB (a negative `cache_size` is KiB). */
const PAGE_CACHE_KIB = 8192;

/** Opens (creating it and its folder when missing) the database file at `path`, or `:memory:`. */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): SqliteStore {
  let db: Database.Database | undefined;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    db = new Database(path);
    // busy_timeout first: switching to WAL needs the lock another process may hold.
    db.pragma(`busy_timeout = ${Math.floor(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS)}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    // Checkpoint every 20,000 WAL pages (~80 MB) instead of SQLite's 1,000:
    // bulk writes (imports, campaign fan-out) touch the same index pages again
    // and again, and fewer checkpoints copy each page back once instead of
    // many times (1M-contact import: 31.7 s → 22.9 s, bench/import.ts).
    // Durability is unchanged: every commit is still fsynced to the WAL.
    db.pragma('wal_autocheckpoint = 20000');
    // An 8 MiB page cache instead of the 16 MB better-sqlite3 builds SQLite
    // with: 5 – 8 MiB less peak RSS for a sending node, with the same CPU a
    // message (bench/campaign) and import speed (bench/import, 1M rows);
    // pages it drops are read again from the OS's file cache.
    db.pragma(`cache_size = ${-PAGE_CACHE_KIB}`);
    db.pragma('foreign_keys = ON');
    return new SqliteStore(db, options);
  } catch (error) {
    db?.close();
    throw mapSqliteError(error);
  }
}

/**
 * Durable accepts and appends fsync the WAL off the event loop
 * (./wal-sync.ts) when the database is a file in WAL mode; otherwise (an
 * in-memory database, a file system without WAL) they commit with FULL.
 */
function walSyncFor(db: Database.Database): WalSync | undefined {
  if (db.memory) return undefined;
  if (String(db.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal') return undefined;
  return new WalSync(`${resolve(db.name)}-wal`);
}

export class SqliteStore implements Store {
  readonly dialect = 'sqlite' as const;
  readonly capabilities: StoreCapabilities = {
    singleWriter: true,
    skipLocked: false,
    listenNotify: false,
    sortedImports: true,
  };
  readonly apiKeys: SqliteApiKeyStore;
  readonly contacts: SqliteContactStore;
  readonly lists: SqliteListStore;
  readonly templates: SqliteTemplateStore;
  readonly messages: SqliteMessageStore;
  readonly suppressions: SqliteSuppressionStore;
  readonly events: SqliteEventStore;
  readonly segments: SqliteSegmentStore;
  readonly engagement: SqliteEngagementStore;
  readonly campaigns: SqliteCampaignStore;
  readonly journeys: SqliteJourneyStore;
  readonly dashboard: SqliteDashboardQueries;
  /** One process: the in-process wake after an accept is all there is. */
  readonly wakeups = noWakeups;
  readonly webhooks: SqliteWebhookStore;
  readonly complaints: SqliteComplaintStore;
  /** One process: it leads every singleton duty. */
  readonly leadership = soleLeadership;
  readonly maintenance: SqliteMaintenanceStore;
  /** Durable commits' fdatasync off the event loop; undefined for `:memory:` (exposed for tests). */
  readonly walSync: WalSync | undefined;
  private readonly cache: StatementCache;
  private checkpointer: BackgroundCheckpointer | undefined;

  constructor(
    private readonly db: Database.Database,
    options: SqliteStoreOptions = {},
  ) {
    this.cache = new StatementCache(db);
    const wal = walSyncFor(db);
    this.walSync = wal;
    this.apiKeys = new SqliteApiKeyStore(this.cache);
    this.contacts = new SqliteContactStore(this.cache);
    this.lists = new SqliteListStore(this.cache);
    this.templates = new SqliteTemplateStore(this.cache);
    this.messages = new SqliteMessageStore(this.cache, options.acceptBatch, wal);
    this.suppressions = new SqliteSuppressionStore(this.cache);
    this.events = new SqliteEventStore(this.cache, options.acceptBatch, wal);
    this.segments = new SqliteSegmentStore(this.cache);
    this.engagement = new SqliteEngagementStore(this.cache, wal);
    this.journeys = new SqliteJourneyStore(this.cache);
    this.webhooks = new SqliteWebhookStore(this.cache);
    this.complaints = new SqliteComplaintStore(this.cache);
    this.campaigns = new SqliteCampaignStore(this.cache, options.statsChunk);
    this.maintenance = new SqliteMaintenanceStore(this.cache);
    this.dashboard = new SqliteDashboardQueries(this.cache);
  }

  /**
   * Each pending migration in its own IMMEDIATE transaction, re-checked
   * inside it, so two processes starting on one file apply it once.
   */
  migrate(): Promise<string[]> {
    return promised(() => {
      this.db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
        id TEXT PRIMARY KEY,
        applied_at INTEGER NOT NULL
      )`);
      const isApplied = this.db.prepare('SELECT 1 FROM schema_migrations WHERE id = ?');
      const record = this.db.prepare(
        'INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)',
      );
      const applied: string[] = [];
      for (const migration of SQLITE_MIGRATIONS) {
        const apply = this.db.transaction(() => {
          if (isApplied.get(migration.id)) return;
          this.db.exec(migration.sql);
          record.run(migration.id, Date.now());
          applied.push(migration.id);
        });
        apply.immediate();
      }
      return applied;
    });
  }

  /** The durability settings in force, as SQLite reports them (for tests and `sluice doctor`). */
  settings(): {
    journalMode: string;
    synchronous: string;
    foreignKeys: boolean;
    pageCacheKiB: number;
  } {
    const synchronous = ['off', 'normal', 'full', 'extra'];
    const level = Number(this.db.pragma('synchronous', { simple: true }));
    return {
      journalMode: String(this.db.pragma('journal_mode', { simple: true })),
      synchronous: synchronous[level] ?? String(level),
      foreignKeys: Number(this.db.pragma('foreign_keys', { simple: true })) === 1,
      pageCacheKiB: -Number(this.db.pragma('cache_size', { simple: true })),
    };
  }

  ping(): Promise<void> {
    return promised(() => {
      this.db.prepare('SELECT 1').get();
    });
  }

  /**
   * Hands checkpoints to a thread of their own (./checkpointer.ts) for a
   * long-running server; a file only (`:memory:` has no WAL). The thread
   * also takes the reads made through StatementCache.readAll (counts by
   * status for metrics), off the event loop. Idempotent.
   */
  async checkpointInBackground(options: {
    intervalMs: number;
    onError: (message: string) => void;
  }): Promise<BackgroundCheckpointer | undefined> {
    if (this.checkpointer || this.db.memory) return this.checkpointer;
    const checkpointer = await BackgroundCheckpointer.start({ path: this.db.name, ...options });
    this.checkpointer = checkpointer;
    this.cache.offThread = <R>(sql: string, params: unknown[]) =>
      checkpointer.query<R>(sql, params);
    return checkpointer;
  }

  /** Lets accepts and appends already submitted commit, then closes the file (checkpointing the WAL). */
  async close(): Promise<void> {
    await Promise.all([
      this.messages.close(),
      this.events.close(),
      this.engagement.close(),
      this.journeys.close(),
    ]);
    if (this.db.open) this.cache.commitTurn();
    await this.walSync?.close();
    this.cache.offThread = undefined;
    await this.checkpointer?.stop();
    if (this.db.open) this.db.close();
  }
}
