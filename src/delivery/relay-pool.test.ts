import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { testConfig, testRelay } from '../../test/helpers/delivery-config.js';
import { startScriptedRelay, type ScriptedRelay } from '../../test/helpers/smtp-farm.js';
import type { RelayConfig } from '../config/config.js';
import { EventBus, type SluiceEventMap } from '../core/events.js';
import type { Stream } from '../core/message.js';
import type { RelayStrategy } from '../core/relay-selection.js';
import { silentLogger } from './logger.js';
import { RelayPools } from './relay-pool.js';

const relays: ScriptedRelay[] = [];
const pools: RelayPools[] = [];
after(async () => {
  await Promise.all(pools.map((p) => p.close()));
  await Promise.all(relays.map((r) => r.close()));
});

async function relay(options: Parameters<typeof startScriptedRelay>[0] = {}) {
  const r = await startScriptedRelay(options);
  relays.push(r);
  return r;
}

function build(
  relayConfigs: RelayConfig[],
  strategy: RelayStrategy = 'round-robin',
  delivery: Parameters<typeof testConfig>[0]['delivery'] = {},
) {
  const events = new EventBus<SluiceEventMap>();
  const p = new RelayPools({
    config: testConfig({ relays: relayConfigs, strategy, delivery }),
    events,
    logger: silentLogger,
  });
  pools.push(p);
  return { pools: p, events };
}

function mail(pools: RelayPools, to: string, lane: Stream = 'transactional') {
  const domain = to.slice(to.indexOf('@') + 1);
  return pools.forStream(lane).send(
    {
      lane,
      envelope: { from: 'a@sender.example', to: [to] },
      raw: Buffer.from(`Subject: ${to}\r\n\r\nbody\r\n`),
    },
    domain,
  );
}

describe('RelayPools', () => {
  it('weighted 3:1 across two relays', async () => {
    const [a, b] = [await relay(), await relay()];
    const { pools: p } = build(
      [testRelay(a.port, { name: 'a', weight: 3 }), testRelay(b.port, { name: 'b', weight: 1 })],
      'weighted',
    );
    const results = await Promise.all(
      Array.from({ length: 400 }, (_, i) => mail(p, `u${i}@example.com`)),
    );
    assert.ok(results.every((r) => r.kind === 'delivered'));
    assert.equal(a.messages.length, 300);
    assert.equal(b.messages.length, 100);
    assert.ok(a.peakConnections <= 4 && b.peakConnections <= 4);
  });

  it('hash keeps each recipient domain on one relay', async () => {
    const rs = [await relay(), await relay(), await relay()];
    const { pools: p } = build(
      rs.map((r, i) => testRelay(r.port, { name: `h${i}` })),
      'hash',
    );
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        Array.from({ length: 30 }, (_, d) => mail(p, `user${round}@domain${d}.example`)),
      );
    }
    const relayOf = new Map<string, number>();
    rs.forEach((r, i) => {
      for (const m of r.messages) {
        const domain = m.envelope.to[0]?.split('@')[1] ?? '';
        assert.equal(relayOf.get(domain) ?? i, i, `${domain} went to two relays`);
        relayOf.set(domain, i);
      }
    });
    assert.equal(relayOf.size, 30);
    assert.ok(
      rs.every((r) => r.messages.length > 0),
      'every relay got a share',
    );
  });

  it('a relay that refuses connections: the message is deferred with the reason', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const address = s.address();
        s.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const { pools: p, events } = build([testRelay(closedPort, { name: 'down' })]);
    const errors: string[] = [];
    events.on('relay:connection-error', (e) => errors.push(e.relay));
    const results = await Promise.all([mail(p, 'a@example.com'), mail(p, 'b@example.com')]);
    for (const result of results) {
      assert.equal(result.kind, 'deferred');
      assert.match(
        result.kind === 'deferred' ? result.response : '',
        /cannot connect to relay down: .*ECONNREFUSED/,
      );
    }
    assert.deepEqual(errors, ['down', 'down']);
    assert.equal(p.connectionCount, 0);
  });

  it('serves transactional waiters before bulk ones', async () => {
    const r = await relay({ behaviour: () => ({ slowMs: 50 }) });
    const { pools: p } = build([testRelay(r.port, { name: 'one', maxConnections: 1 })]);
    const sends = [mail(p, 'b0@example.com', 'bulk')];
    // Until b0 holds the only connection.
    while (r.attempts('b0@example.com') === 0) await new Promise((res) => setTimeout(res, 5));
    sends.push(mail(p, 'b1@example.com', 'bulk'), mail(p, 'b2@example.com', 'bulk'));
    sends.push(mail(p, 't1@example.com', 'transactional'));
    await Promise.all(sends);
    assert.deepEqual(
      r.messages.map((m) => m.envelope.to[0]),
      ['b0@example.com', 't1@example.com', 'b1@example.com', 'b2@example.com'],
    );
  });

  it('an aborted signal releases the messages waiting with it, in order, and no others', async () => {
    // Without PIPELINING: with it, w1 would take the connection with w0's
    // body (no longer waiting when the signal aborts).
    const r = await relay({ behaviour: () => ({ slowMs: 150 }), pipelining: false });
    const { pools: p } = build([testRelay(r.port, { name: 's', maxConnections: 1 })]);
    const stop = new AbortController();
    const other = new AbortController();
    const send = (to: string, signal: AbortSignal) =>
      p.forStream('bulk').send(
        {
          lane: 'bulk',
          envelope: { from: 'a@sender.example', to: [to] },
          raw: Buffer.from(`Subject: ${to}\r\n\r\nbody\r\n`),
          signal,
        },
        'example.com',
      );
    const order: string[] = [];
    const sends = ['w0', 'w1', 'x', 'w2'].map((name) => {
      const signal = name === 'x' ? other.signal : stop.signal;
      return send(`${name}@example.com`, signal).then((result) => {
        order.push(`${name}:${result.kind}`);
        return result;
      });
    });
    // Until w0 holds the only connection; the others wait for it.
    while (r.attempts('w0@example.com') === 0) await new Promise((res) => setTimeout(res, 5));
    assert.equal(getEventListeners(stop.signal, 'abort').length, 1, 'one listener for w1 and w2');
    stop.abort();
    await Promise.all(sends);
    assert.deepEqual(order, ['w1:released', 'w2:released', 'w0:delivered', 'x:delivered']);
    assert.deepEqual(
      r.messages.map((m) => m.envelope.to[0]),
      ['w0@example.com', 'x@example.com'],
    );
  });

  it('closes idle connections after idleTimeoutMs, and everything on close()', async () => {
    const r = await relay();
    const { pools: p } = build([testRelay(r.port, { name: 'idle' })], 'round-robin', {
      idleTimeoutMs: 100,
    });
    await Promise.all([mail(p, 'a@example.com'), mail(p, 'b@example.com')]);
    assert.ok(p.connectionCount >= 1);
    const deadline = Date.now() + 3_000;
    while (p.connectionCount > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(p.connectionCount, 0);
    while (r.openConnections > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(r.openConnections, 0, 'QUIT closed them at the relay too');
    await mail(p, 'c@example.com');
    await p.close();
    assert.equal(p.connectionCount, 0);
    assert.equal((await mail(p, 'd@example.com')).kind, 'throttled', 'closed pools take no more');
  });
});
