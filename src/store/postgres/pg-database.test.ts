/**
 * PgDatabase.transaction on a real PostgreSQL (skipped without
 * SLUICE_TEST_DATABASE_URL): a connection that dies while a transaction
 * holds it (server restart, network cut) fails that transaction with
 * ERR_STORE_UNAVAILABLE and must not crash the process. pg emits 'error' on
 * a checked-out client, which the pool does not listen to; unhandled, that
 * event is thrown (the chaos e2e saw a node die of it when the database
 * went away).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { isSluiceError } from '../../core/errors.js';
import { PgDatabase } from './pg-database.js';

const url = process.env.SLUICE_TEST_DATABASE_URL;

describe(
  'PgDatabase.transaction',
  { skip: url ? false : 'SLUICE_TEST_DATABASE_URL is not set' },
  () => {
    it('fails with ERR_STORE_UNAVAILABLE, without an uncaught error, when its connection dies', async () => {
      const pool = new pg.Pool({ connectionString: url, max: 2 });
      pool.on('error', () => undefined);
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const db = new PgDatabase(pool);
      const uncaught: unknown[] = [];
      const onUncaught = (error: unknown) => uncaught.push(error);
      // node:test would report an uncaught error against some later test; catch it here.
      const previous = process.listeners('uncaughtException');
      process.removeAllListeners('uncaughtException');
      process.on('uncaughtException', onUncaught);
      try {
        const failure = await db
          .transaction(async (client) => {
            const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
            // The server ends this session between two statements of the transaction.
            await admin.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
            await new Promise((resolve) => setTimeout(resolve, 200));
            await client.query('SELECT 1');
          })
          .then(
            () => assert.fail('the transaction should fail'),
            (error: unknown) => error,
          );
        assert.ok(
          isSluiceError(failure) && failure.code === 'ERR_STORE_UNAVAILABLE',
          String(failure),
        );
        assert.deepEqual(uncaught.map(String), [], 'no uncaught error');
        // The dead connection was not returned to the pool: the next query works.
        assert.deepEqual(
          (await db.rows<{ n: number }>('SELECT 1 AS n')).map((r) => r.n),
          [1],
        );
      } finally {
        process.removeListener('uncaughtException', onUncaught);
        for (const listener of previous) process.on('uncaughtException', listener);
        await admin.end();
        await pool.end();
      }
    });
  },
);
