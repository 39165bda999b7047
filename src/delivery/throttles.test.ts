import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { testConfig } from '../../test/helpers/delivery-config.js';
import type { SluiceConfig } from '../config/config.js';
import { systemClock } from '../core/clock.js';
import { EventBus, type SluiceEventMap } from '../core/events.js';
import { MemoryRateLimiter } from '../core/token-bucket.js';
import { silentLogger } from './logger.js';
import { Throttles, type ThrottleGrant } from './throttles.js';

function throttles(patch: Partial<SluiceConfig['throttles']>, concurrency = 50) {
  const events = new EventBus<SluiceEventMap>();
  const config = testConfig({ relays: [], throttles: patch, delivery: { concurrency } });
  const t = new Throttles({
    config,
    limiter: new MemoryRateLimiter(),
    clock: systemClock,
    events,
    logger: silentLogger,
  });
  return { t, events };
}

const google = { name: 'google', domains: ['gmail.com', 'googlemail.com'] };
const ask = (t: Throttles, lane: 'transactional' | 'bulk' = 'bulk', domain = 'gmail.com') =>
  t.acquire({ lane, pool: 'default', recipientDomain: domain });

function go(grant: ThrottleGrant): Extract<ThrottleGrant, { kind: 'go' }> {
  if (grant.kind !== 'go') assert.fail(`expected go, got ${grant.kind}`);
  return grant;
}

describe('Throttles', () => {
  it('rate: a burst, then waits within maxWait, then sends the rest back to the queue', async () => {
    const { t } = throttles({ maxWaitMs: 200, domainGroups: [{ ...google, perSecond: 10 }] });
    const started = Date.now();
    const grants = await Promise.all(Array.from({ length: 14 }, () => ask(t)));
    const kinds = grants.map((g) => g.kind);
    assert.equal(kinds.filter((k) => k === 'go').length, 12, 'a burst of 10, then 2 within 200 ms');
    const held = grants.filter((g) => g.kind === 'throttled');
    assert.equal(held.length, 2);
    for (const g of held) {
      if (g.kind === 'throttled')
        assert.ok(g.retryAt > started + 200 && g.retryAt < started + 1_000);
    }
    assert.ok(Date.now() - started >= 190, 'the waiting ones waited');
    assert.equal((await ask(t, 'bulk', 'other.example')).kind, 'go', 'other domains are free');
  });

  it('connections of a group: waiters queue, transactional first, and time out to the queue', async () => {
    const { t } = throttles({ maxWaitMs: 300, domainGroups: [{ ...google, maxConnections: 2 }] });
    const a = go(await ask(t));
    const b = go(await ask(t, 'bulk', 'googlemail.com'));
    const order: string[] = [];
    const bulk = ask(t, 'bulk').then((g) => {
      order.push('bulk');
      return g;
    });
    const tx = ask(t, 'transactional').then((g) => {
      order.push('tx');
      return g;
    });
    a.release();
    a.release(); // idempotent
    const first = go(await tx);
    assert.deepEqual(order, ['tx']);
    b.release();
    go(await bulk);
    first.release();
    const late = await Promise.all([ask(t), ask(t)]);
    assert.equal(late[0]?.kind, 'go');
    assert.equal(late[1]?.kind, 'throttled', 'no slot within maxWait: back to the queue');
  });

  it('bulk may hold at most half the worker window while waiting', async () => {
    const { t } = throttles(
      { maxWaitMs: 500, domainGroups: [{ ...google, maxConnections: 1 }] },
      2,
    );
    const holder = go(await ask(t));
    const waitingBulk = ask(t, 'bulk');
    const overflow = await ask(t, 'bulk');
    assert.equal(
      overflow.kind,
      'throttled',
      'a second waiting bulk message would exceed half of 2',
    );
    const waitingTx = ask(t, 'transactional');
    holder.release();
    go(await waitingTx).release();
    go(await waitingBulk).release();
  });

  it('an aborted signal releases the messages waiting with it, in order, through one listener', async () => {
    const { t } = throttles({
      maxWaitMs: 10_000,
      domainGroups: [
        { ...google, maxConnections: 1 },
        { name: 'slow', domains: ['slow.example'], perSecond: 1 },
      ],
    });
    const stop = new AbortController();
    const other = new AbortController();
    const holder = go(await ask(t));
    // Takes the one token of `slow`: the next message for it waits ~1 s for a token.
    go(
      await t.acquire({ lane: 'bulk', pool: 'default', recipientDomain: 'slow.example' }),
    ).release();
    const order: string[] = [];
    const wait = (name: string, signal: AbortSignal, domain = 'gmail.com') =>
      t.acquire({ lane: 'bulk', pool: 'default', recipientDomain: domain, signal }).then((g) => {
        order.push(`${name}:${g.kind}`);
        return g;
      });
    const w0 = wait('w0', stop.signal);
    const x = wait('x', other.signal);
    const w1 = wait('w1', stop.signal);
    const sleeper = wait('sleeper', stop.signal, 'slow.example');
    // Until every one waits (a grant is decided a few microtasks after acquire).
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, []);
    const aborted = Date.now();
    assert.equal(getEventListeners(stop.signal, 'abort').length, 1, 'one for every wait');
    stop.abort();
    await Promise.all([w0, w1, sleeper]);
    assert.deepEqual(order, ['w0:released', 'w1:released', 'sleeper:released']);
    assert.ok(Date.now() - aborted < 500, 'the sleeper did not wait for its token');
    assert.equal(getEventListeners(other.signal, 'abort').length, 1);
    holder.release();
    go(await x).release();
    assert.deepEqual(order.at(-1), 'x:go');
    assert.equal(
      getEventListeners(other.signal, 'abort').length,
      0,
      'the last waiter took its listener',
    );
  });

  it('adaptive: a rate-limit reply halves the group, an echo of an older send does not', () => {
    const { t, events } = throttles({
      domainGroups: [{ ...google, perSecond: 10, maxConnections: 4 }],
    });
    const seen: SluiceEventMap['throttle:rate'][] = [];
    events.on('throttle:rate', (e) => seen.push(e));
    const reply = {
      kind: 'deferred' as const,
      relay: 'r',
      code: 421,
      enhancedCode: '4.7.0',
      response: '421 4.7.0 Try again later',
    };
    const before = Date.now() - 1_000;
    t.onResult('google', reply, Date.now());
    t.onResult('google', reply, before);
    t.onResult(
      'google',
      { ...reply, code: 451, enhancedCode: '4.3.0', response: '451 4.3.0 later' },
      Date.now(),
    );
    t.onResult('example.org', reply, Date.now());
    assert.deepEqual(seen, [{ group: 'google', factor: 0.5, perSecond: 5 }]);
  });
});
