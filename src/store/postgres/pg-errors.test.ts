/**
 * pg errors become catalog errors. The errors are provoked on a real
 * PostgreSQL (skipped without SLUICE_TEST_DATABASE_URL): a real deadlock
 * between two sessions, a real unique violation, a refused connection.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { isSluiceError } from '../../core/errors.js';
import { mapPgError } from './pg-errors.js';

const url = process.env.SLUICE_TEST_DATABASE_URL;

async function caught(run: () => Promise<unknown>): Promise<Error> {
  try {
    await run();
  } catch (error) {
    return mapPgError(error);
  }
  assert.fail('expected an error');
}

describe('mapPgError', () => {
  it('maps a refused connection to ERR_STORE_UNAVAILABLE', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: 1, connectionTimeoutMillis: 2000 });
    const error = await caught(() => client.connect());
    assert.ok(isSluiceError(error) && error.code === 'ERR_STORE_UNAVAILABLE', String(error));
  });

  describe('on PostgreSQL', { skip: url ? false : 'SLUICE_TEST_DATABASE_URL is not set' }, () => {
    it('maps a deadlock (40P01) to ERR_STORE_UNAVAILABLE: the rolled-back request can be retried', async () => {
      const table = `pg_errors_deadlock_${process.pid}`;
      const a = new pg.Client({ connectionString: url });
      const b = new pg.Client({ connectionString: url });
      await a.connect();
      await b.connect();
      try {
        await a.query(`CREATE TABLE ${table} (id int PRIMARY KEY, n int)`);
        await a.query(`INSERT INTO ${table} VALUES (1, 0), (2, 0)`);
        await a.query('BEGIN');
        await b.query('BEGIN');
        await a.query(`UPDATE ${table} SET n = 1 WHERE id = 1`);
        await b.query(`UPDATE ${table} SET n = 1 WHERE id = 2`);
        // Each now waits for the other's row: the server aborts one of them.
        const results = await Promise.allSettled([
          a.query(`UPDATE ${table} SET n = 2 WHERE id = 2`),
          b.query(`UPDATE ${table} SET n = 2 WHERE id = 1`),
        ]);
        const failure = results.find((r) => r.status === 'rejected');
        assert.ok(failure && failure.status === 'rejected', 'one side was aborted');
        const mapped = mapPgError(failure.reason);
        assert.ok(isSluiceError(mapped) && mapped.code === 'ERR_STORE_UNAVAILABLE', String(mapped));
      } finally {
        await a.query('ROLLBACK').catch(() => undefined);
        await b.query('ROLLBACK').catch(() => undefined);
        await a.query(`DROP TABLE IF EXISTS ${table}`);
        await a.end();
        await b.end();
      }
    });

    it('maps a unique violation to ERR_CONFLICT naming the column', async () => {
      const table = `pg_errors_unique_${process.pid}`;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE TABLE ${table} (email text UNIQUE)`);
        await client.query(`INSERT INTO ${table} VALUES ('a@example.test')`);
        const error = await caught(() =>
          client.query(`INSERT INTO ${table} VALUES ('a@example.test')`),
        );
        assert.ok(isSluiceError(error) && error.code === 'ERR_CONFLICT', String(error));
        assert.equal(error.details.field, 'email');
      } finally {
        await client.query(`DROP TABLE IF EXISTS ${table}`);
        await client.end();
      }
    });
  });
});
