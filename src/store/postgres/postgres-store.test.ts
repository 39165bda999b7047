import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isSluiceError } from '../../core/errors.js';
import { dropSchema, newMessage, postgresStoreIn, T0 } from '../contract/fixtures.js';
import { runStoreContract } from '../contract/store-contract.js';
import { openStore } from '../open-store.js';
import { POSTGRES_MIGRATIONS } from './migrations.js';
import { openPostgresStore, type PostgresStore } from './postgres-store.js';

const url = process.env.SLUICE_TEST_DATABASE_URL;
const SKIP = 'SLUICE_TEST_DATABASE_URL is not set';

if (url === undefined) {
  describe('store contract: postgres', { skip: SKIP }, () => undefined);
  describe('postgres store', { skip: SKIP }, () => undefined);
} else {
  const make = postgresStoreIn(url);
  runStoreContract('postgres', make);

  describe('postgres store', () => {
    it('declares the cluster capabilities and opens through openStore', async () => {
      const schema = `sluice_test_${randomBytes(6).toString('hex')}`;
      const store = await openStore(url, { schema, poolSize: 2 });
      try {
        assert.equal(store.dialect, 'postgres');
        assert.deepEqual(store.capabilities, {
          singleWriter: false,
          skipLocked: true,
          listenNotify: true,
          sortedImports: false,
        });
        assert.deepEqual(
          await store.migrate(),
          POSTGRES_MIGRATIONS.map((m) => m.id),
        );
      } finally {
        await store.close();
        await dropSchema(url, schema);
      }
    });

    it('applies each migration once when several nodes start together', async () => {
      const first = await make();
      const others = Array.from({ length: 3 }, () =>
        openPostgresStore(url, { schema: first.schema, poolSize: 1 }),
      );
      try {
        const applied = await Promise.all([first.store, ...others].map((s) => s.migrate()));
        assert.deepEqual(applied.flat().sort(), POSTGRES_MIGRATIONS.map((m) => m.id).sort());
      } finally {
        await Promise.all(others.map((s) => s.close()));
        await first.cleanup();
      }
    });

    it('returns epoch milliseconds as numbers, beyond 32 bits', async () => {
      const { store, cleanup } = await make();
      try {
        await store.migrate();
        const message = newMessage({ createdAt: T0, expiresAt: 8_000_000_000_000 });
        await store.messages.accept(message);
        const stored = await store.messages.get(message.id);
        assert.equal(stored?.createdAt, T0);
        assert.equal(stored?.expiresAt, 8_000_000_000_000);
        assert.equal(typeof (await store.messages.countByStatus()).queued, 'number');
      } finally {
        await cleanup();
      }
    });

    it('maps an unreachable server to ERR_STORE_UNAVAILABLE', async () => {
      const store: PostgresStore = openPostgresStore('postgres://sluice@127.0.0.1:1/none', {
        poolSize: 1,
      });
      try {
        await assert.rejects(
          store.ping(),
          (error: unknown) => isSluiceError(error) && error.code === 'ERR_STORE_UNAVAILABLE',
        );
      } finally {
        await store.close();
      }
    });

    it('refuses a schema name that is not a plain identifier', () => {
      assert.throws(
        () => openPostgresStore(url, { schema: 'x; DROP TABLE y' }),
        (error: unknown) => isSluiceError(error) && error.code === 'ERR_VALIDATION',
      );
    });
  });
}
