/**
 * RelayPools with relays that fail: failover to a healthy relay without a
 * deferral, retry on another relay after a 4xx, routing rules, warm-up caps
 * and the active probe. Real scripted relays on loopback.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  testConfig,
  testRelay,
  type TestConfigOptions,
} from '../../test/helpers/delivery-config.js';
import { startScriptedRelay, type ScriptedRelay } from '../../test/helpers/smtp-farm.js';
import { EventBus, type SluiceEventMap } from '../core/events.js';
import type { ClaimedMessage, Stream } from '../core/message.js';
import { silentLogger } from './logger.js';
import { RelayPools } from './relay-pool.js';

const relays = new Set<ScriptedRelay>();
const pools: RelayPools[] = [];
after(async () => {
  await Promise.all(pools.map((p) => p.close()));
  await Promise.all([...relays].map((r) => r.close()));
});

async function relay(options: Parameters<typeof startScriptedRelay>[0] = {}) {
  const r = await startScriptedRelay(options);
  relays.add(r);
  return r;
}

/** A port where nothing listens (a relay started and stopped). */
async function deadPort(): Promise<number> {
  const r = await startScriptedRelay();
  await r.close();
  return r.port;
}

function build(options: TestConfigOptions) {
  const events = new EventBus<SluiceEventMap>();
  const p = new RelayPools({ config: testConfig(options), events, logger: silentLogger });
  pools.push(p);
  const states: string[] = [];
  events.on('relay:state', (e) => states.push(`${e.relay}:${e.state}`));
  return { pools: p, events, states };
}

let next = 0;
function message(to: string, patch: Partial<ClaimedMessage> = {}): ClaimedMessage {
  const now = Date.now();
  return {
    id: `msg_${++next}`,
    stream: 'transactional',
    from: { email: 'app@sender.example' },
    to: { email: to },
    variables: {},
    headers: {},
    messageId: `m${next}@sender.example`,
    createdAt: now,
    expiresAt: now + 60_000,
    status: 'sending',
    attempts: 0,
    dueAt: now,
    updatedAt: now,
    ...patch,
  };
}

function send(p: RelayPools, m: ClaimedMessage, lane: Stream = 'transactional') {
  return p.send(m, {
    lane,
    envelope: { from: m.from.email, to: [m.to.email] },
    raw: Buffer.from(`Subject: ${m.to.email}\r\n\r\nbody\r\n`),
  });
}

const names = (r: ScriptedRelay) => r.messages.map((m) => m.envelope.to[0]);

describe('relay failover', () => {
  it('a relay that refuses connections: its messages go to the others at once, its circuit opens', async () => {
    const good = await relay();
    const { pools: p, states } = build({
      relays: [
        testRelay(await deadPort(), { name: 'dead' }),
        testRelay(good.port, { name: 'good' }),
      ],
      health: { failureThreshold: 2, cooldownMs: 60_000 },
    });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => send(p, message(`u${i}@example.com`))),
    );
    assert.deepEqual(
      results.map((r) => r.kind),
      Array.from({ length: 20 }, () => 'delivered'),
    );
    assert.equal(good.messages.length, 20);
    assert.ok(states.includes('dead:open'), states.join(' '));
    assert.equal(p.relays.get('dead')?.accepting, false);
  });

  it('every relay down: throttled until the earliest cool-down ends, no attempt', async () => {
    const { pools: p } = build({
      relays: [testRelay(await deadPort(), { name: 'x' })],
      health: { failureThreshold: 1, cooldownMs: 5_000 },
    });
    const first = await send(p, message('a@example.com'));
    assert.equal(first.kind, 'deferred', 'the failure that opened the circuit');
    const before = Date.now();
    const second = await send(p, message('b@example.com'));
    assert.equal(second.kind, 'throttled');
    if (second.kind === 'throttled') {
      assert.ok(second.retryAt >= before + 4_000 && second.retryAt <= before + 5_100);
      assert.match(second.reason, /no relay of pool default is available/);
    }
  });

  it('a message deferred by one relay is tried on another next time', async () => {
    // The first try anywhere is refused; counted over both relays.
    let tries = 0;
    const behaviour = (rcpt: string) =>
      rcpt.startsWith('later') && ++tries === 1 ? { reply: '451 4.3.0 try later' } : 'accept';
    const [a, b] = [await relay({ behaviour }), await relay({ behaviour })];
    const { pools: p } = build({
      relays: [testRelay(a.port, { name: 'a' }), testRelay(b.port, { name: 'b' })],
      strategy: 'hash',
    });
    const m = message('later@example.com');
    const first = await send(p, m);
    assert.equal(first.kind, 'deferred');
    const firstRelay = first.kind === 'deferred' ? first.relay : undefined;
    const second = await send(p, m);
    assert.equal(second.kind, 'delivered');
    assert.notEqual(second.kind === 'delivered' ? second.relay : undefined, firstRelay);
    // Only once: the hash strategy's own choice holds again afterwards.
    const third = await send(p, message('later@example.com'));
    assert.equal(
      third.kind === 'deferred' || third.kind === 'delivered' ? third.relay : '',
      firstRelay,
    );
  });

  it('routing rules pick the pool before the stream does', async () => {
    const [main, google, promo] = [await relay(), await relay(), await relay()];
    const { pools: p } = build({
      relays: [
        testRelay(main.port, { name: 'main' }),
        testRelay(google.port, { name: 'google' }),
        testRelay(promo.port, { name: 'promo' }),
      ],
      pools: [
        { name: 'main', relays: ['main'], strategy: 'round-robin' },
        { name: 'google', relays: ['google'], strategy: 'round-robin' },
        { name: 'promo', relays: ['promo'], strategy: 'round-robin' },
      ],
      routing: {
        transactional: 'main',
        bulk: 'main',
        rules: [
          { match: { campaign: 'spring' }, pool: 'promo' },
          { match: { recipientDomain: 'gmail.com' }, pool: 'google' },
        ],
      },
    });
    await send(p, message('a@gmail.com'));
    await send(p, message('b@example.com'));
    await send(p, message('c@gmail.com', { headers: { 'X-Sluice-Campaign': 'spring' } }), 'bulk');
    assert.deepEqual(names(google), ['a@gmail.com']);
    assert.deepEqual(names(main), ['b@example.com']);
    assert.deepEqual(names(promo), ['c@gmail.com']);
  });

  it('warm-up: a relay takes no more than its daily cap; the rest go elsewhere', async () => {
    const [young, old] = [await relay(), await relay()];
    const today = new Date().toISOString().slice(0, 10);
    const { pools: p } = build({
      relays: [
        testRelay(young.port, { name: 'young', warmup: { start: today, dailyCaps: [3, 10] } }),
        testRelay(old.port, { name: 'old' }),
      ],
    });
    for (let i = 0; i < 12; i++)
      assert.equal((await send(p, message(`w${i}@example.com`))).kind, 'delivered');
    assert.equal(young.messages.length, 3);
    assert.equal(old.messages.length, 9);
  });

  it('the active probe notices a relay going down and coming back without traffic', async () => {
    const port = await deadPort();
    const { states } = build({
      relays: [testRelay(port, { name: 'probed' })],
      health: { failureThreshold: 1, cooldownMs: 50, maxCooldownMs: 100, probeIntervalMs: 30 },
    });
    const until = async (state: string) => {
      const deadline = Date.now() + 5_000;
      while (!states.includes(state) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.ok(states.includes(state), `${state} in ${states.join(' ')}`);
    };
    await until('probed:open');
    await relay({ port });
    await until('probed:closed');
  });
});
