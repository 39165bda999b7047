/**
 * PostgreSQL-only behaviour of the webhook outbox: dispatchers on several
 * nodes claim an endpoint's due rows at the same moment and never get the
 * same row (FOR UPDATE SKIP LOCKED). The rest is in the contract suite.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { newWebhookEventId } from '../../core/webhook-events.js';
import { dropSchema, T0 } from '../contract/fixtures.js';
import { openPostgresStore } from './postgres-store.js';

const url = process.env.SLUICE_TEST_DATABASE_URL;

describe(
  'postgres webhook outbox',
  { skip: url ? false : 'SLUICE_TEST_DATABASE_URL is not set' },
  () => {
    it('concurrent claims of one endpoint never share a row', async () => {
      const connectionString = url ?? '';
      const schema = `sluice_test_${randomBytes(6).toString('hex')}`;
      const store = openPostgresStore(connectionString, { schema, poolSize: 8 });
      try {
        await store.migrate();
        await store.webhooks.createEndpoint({
          id: 'wh_pg',
          url: 'https://hooks.example.test/',
          events: ['delivered'],
          description: '',
          enabled: true,
          secret: 'whsec_pg',
          at: T0,
        });
        for (let i = 0; i < 60; i++) {
          await store.webhooks.enqueue('wh_pg', {
            id: newWebhookEventId(T0 + i),
            type: 'test',
            createdAt: T0 + i,
            data: { i },
          });
        }
        const claims = await Promise.all(
          Array.from({ length: 6 }, (_, n) =>
            store.webhooks.claim({
              endpointId: 'wh_pg',
              limit: 15,
              leaseMs: 60_000,
              owner: `node-${n}`,
              now: T0 + 100,
            }),
          ),
        );
        const ids = claims.flat().map((d) => d.eventId);
        assert.equal(new Set(ids).size, ids.length, 'no row claimed twice');
        assert.equal(ids.length, 60, 'every row claimed by someone');
        assert.deepEqual(await store.webhooks.countByStatus(), {
          pending: 0,
          sending: 60,
          delivered: 0,
          failed: 0,
        });
      } finally {
        await store.close();
        await dropSchema(connectionString, schema);
      }
    });
  },
);
