/**
 * The cluster rate limiter on a real PostgreSQL (SLUICE_TEST_DATABASE_URL):
 * three limiters, each on its own pool as three nodes would be, share one
 * bucket; together they grant no more than the bucket allows; a store that
 * cannot be reached grants nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../core/clock.js';
import type { RateRequest } from '../core/ports/rate-limiter.js';
import { dropSchema } from '../store/contract/fixtures.js';
import { openPostgresStore, type PostgresStore } from '../store/postgres/postgres-store.js';
import { ClusterRateLimiter } from './cluster-rate-limiter.js';

const baseUrl = process.env.SLUICE_TEST_DATABASE_URL;

describe(
  'ClusterRateLimiter (PostgreSQL)',
  { skip: baseUrl ? false : 'SLUICE_TEST_DATABASE_URL is not set' },
  () => {
    const schema = `rate_${randomBytes(5).toString('hex')}`;
    const stores: PostgresStore[] = [];
    before(async () => {
      for (let i = 0; i < 3; i++) {
        stores.push(openPostgresStore(baseUrl ?? '', { schema, poolSize: 2 }));
      }
      await stores[0]?.migrate();
    });
    after(async () => {
      await Promise.all(stores.map((s) => s.close()));
      await dropSchema(baseUrl ?? '', schema);
    });

    it('three nodes together take no more than capacity + rate × (time + hold)', async () => {
      const rate = 100;
      const holdMs = 100;
      const limiters = stores.map(
        (s) =>
          new ClusterRateLimiter({
            tokens: s.rateTokens,
            clock: systemClock,
            chunkMs: 100,
            aheadMs: 0,
            holdMs,
          }),
      );
      const request: RateRequest[] = [{ key: 'domain:shared', limit: { perSecond: rate } }];
      const started = Date.now();
      const runMs = 1_000;
      let granted = 0;
      let attempts = 0;
      await Promise.all(
        limiters.map(async (limiter) => {
          while (Date.now() - started < runMs) {
            attempts++;
            const r = await limiter.reserve(request, Date.now(), 0);
            if (r.ok) granted++;
            else await new Promise((resolve) => setTimeout(resolve, 5));
          }
        }),
      );
      const elapsed = Date.now() - started;
      const bound = rate + (rate * (elapsed + holdMs)) / 1000;
      assert.ok(granted <= bound, `${granted} granted in ${elapsed} ms; bound ${bound}`);
      assert.ok(granted >= rate, `at least the first second's capacity (${granted})`);
      assert.ok(attempts > granted, 'the limit refused some');
    });

    it('grants nothing when the database cannot be reached, and says when to come back', async () => {
      const down = openPostgresStore('postgres://nobody@127.0.0.1:1/none', {
        connectionTimeoutMs: 500,
      });
      const errors: unknown[] = [];
      const limiter = new ClusterRateLimiter({
        tokens: down.rateTokens,
        clock: systemClock,
        chunkMs: 100,
        aheadMs: 1_000,
        onStoreError: (e) => errors.push(e),
      });
      const now = Date.now();
      const r = await limiter.reserve([{ key: 'relay:r1', limit: { perSecond: 10 } }], now, 1_000);
      assert.equal(r.ok, false);
      if (!r.ok) assert.ok(r.retryAt >= now + 500);
      assert.equal(errors.length, 1);
      // Meanwhile it answers at once, without another round trip.
      const again = limiter.reserve([{ key: 'relay:r1', limit: { perSecond: 10 } }], now, 1_000);
      assert.equal((await again).ok, false);
      assert.equal(errors.length, 1);
      await down.close();
    });
  },
);
