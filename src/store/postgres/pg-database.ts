import type pg from 'pg';
import { mapPgError } from './pg-errors.js';

/**
 * The pool as the query modules use it: every failure mapped to the error
 * catalog, hot statements named (prepared once per connection, then only
 * bound and executed), and a transaction helper that always releases its
 * connection.
 */
export class PgDatabase {
  constructor(readonly pool: pg.Pool) {}

  async query<R extends pg.QueryResultRow>(
    text: string,
    values: unknown[] = [],
    name?: string,
  ): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(name ? { name, text, values } : { text, values });
    } catch (error) {
      throw mapPgError(error);
    }
  }

  async rows<R extends pg.QueryResultRow>(
    text: string,
    values: unknown[] = [],
    name?: string,
  ): Promise<R[]> {
    return (await this.query<R>(text, values, name)).rows;
  }

  /**
   * Runs `fn` inside BEGIN … COMMIT on one connection; ROLLBACK when it
   * throws. A connection whose ROLLBACK failed, or that died meanwhile, is
   * destroyed, not reused.
   */
  async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw mapPgError(error);
    }
    let broken: Error | undefined;
    // pg emits 'error' on a checked-out client whose connection dies (server
    // restart, network cut), and the pool listens only to idle ones: without
    // this listener the event would be thrown and the process would die. The
    // statement in progress, or the next one, fails and the transaction with it.
    const onError = (error: Error): void => {
      broken = mapPgError(error);
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = mapPgError(rollbackError);
      }
      throw mapPgError(error);
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }
}
