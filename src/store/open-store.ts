/**
 * The one entry to the store adapters: a database URL picks the dialect.
 *
 *   sqlite:<path>               a file, relative to the working directory
 *                               (created with its folder); sqlite::memory: for tests
 *   postgres://user:pass@host:port/db   (or postgresql://)
 *
 * openStore does not migrate: the caller runs `store.migrate()` when it
 * means to (the server at start, the CLI's `migrate` command).
 */
import { resolve } from 'node:path';
import { errorMessage, SluiceError } from '../core/errors.js';
import type { Store } from '../core/ports/store.js';

export interface OpenStoreOptions {
  /** PostgreSQL connections in the pool. */
  poolSize?: number;
  /** PostgreSQL schema for every table, created if missing; `public` when absent. */
  schema?: string;
  /** PostgreSQL: how often the leadership connection checks in (PgLeadership). */
  leaderCheckIntervalMs?: number;
  /**
   * SQLite: checkpoint the WAL in a thread of its own at this interval
   * (sqlite/checkpointer.ts), for a long-running server; errors go to onError.
   */
  sqliteCheckpoint?: { intervalMs: number; onError: (message: string) => void };
}

export type DatabaseTarget =
  { dialect: 'sqlite'; path: string } | { dialect: 'postgres'; connectionString: string };

function invalid(reason: string): SluiceError {
  return new SluiceError('ERR_VALIDATION', `database.url: ${reason}`, { field: 'database.url' });
}

/** Tells which database a URL names, or throws ERR_VALIDATION saying what is wrong with it. */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  if (url.startsWith('sqlite:')) {
    let path = url.slice('sqlite:'.length);
    // sqlite:///abs/path and sqlite://rel/path read as URLs; the path is what follows.
    if (path.startsWith('//')) path = path.slice(2);
    if (path.length === 0)
      throw invalid('a sqlite: URL needs a file path, e.g. sqlite:./data/sluice.db');
    return { dialect: 'sqlite', path: path === ':memory:' ? path : resolve(path) };
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw invalid(`not a valid URL: ${redactDatabaseUrl(url)}`);
    }
    if (parsed.hostname.length === 0 && !parsed.searchParams.has('host')) {
      throw invalid(`a PostgreSQL URL needs a host: ${redactDatabaseUrl(url)}`);
    }
    return { dialect: 'postgres', connectionString: url };
  }
  throw invalid(
    `must start with sqlite: or postgres:// (got ${JSON.stringify(redactDatabaseUrl(url).slice(0, 40))})`,
  );
}

/**
 * Opens the store a URL names. The adapter is imported on demand, so a
 * SQLite deployment never loads pg and the reverse.
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  const target = parseDatabaseUrl(url);
  if (target.dialect === 'sqlite') {
    const { openSqliteStore } = await import('./sqlite/sqlite-store.js');
    const store = openSqliteStore(target.path);
    if (options.sqliteCheckpoint) {
      try {
        await store.checkpointInBackground(options.sqliteCheckpoint);
      } catch (error) {
        // Only an optimization: the connection still checkpoints by itself.
        const reason = errorMessage(error);
        options.sqliteCheckpoint.onError(
          `the checkpoint thread did not start (${reason}); checkpoints stay on the main thread`,
        );
      }
    }
    return store;
  }
  const { openPostgresStore } = await import('./postgres/postgres-store.js');
  return openPostgresStore(target.connectionString, {
    ...(options.poolSize !== undefined ? { poolSize: options.poolSize } : {}),
    ...(options.schema !== undefined ? { schema: options.schema } : {}),
    ...(options.leaderCheckIntervalMs !== undefined
      ? { leaderCheckIntervalMs: options.leaderCheckIntervalMs }
      : {}),
  });
}

/**
 * The URL with its password replaced by `***`, for logs: both the
 * `user:password@` form and a `password=` query parameter.
 */
export function redactDatabaseUrl(url: string): string {
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:)[^/?#]*(@)/i, '$1***$2')
    .replace(/([?&]password=)[^&#]*/gi, '$1***');
}
