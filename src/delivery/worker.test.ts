import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { testConfig, testRelay } from '../../test/helpers/delivery-config.js';
import {
  startScriptedRelay,
  type ScriptedRelay,
  type ScriptedRelayOptions,
} from '../../test/helpers/smtp-farm.js';
import type { RelayConfig, SluiceConfig } from '../config/config.js';
import { ManualClock, systemClock, type Clock } from '../core/clock.js';
import { EventBus, type SluiceEventMap } from '../core/events.js';
import { newId, newMessageId } from '../core/ids.js';
import type { NewMessage } from '../core/message.js';
import type { Store } from '../core/ports/store.js';
import { TemplateEngine } from '../render/liquid.js';
import { openStore } from '../store/open-store.js';
import { silentLogger } from './logger.js';
import { DeliveryWorker } from './worker.js';

interface Harness {
  store: Store;
  relay: ScriptedRelay;
  worker: DeliveryWorker;
  events: { name: keyof SluiceEventMap; payload: unknown }[];
  accept(patch?: Partial<NewMessage>): Promise<NewMessage>;
  status(id: string): Promise<string | undefined>;
  close(): Promise<void>;
}

interface HarnessOptions extends ScriptedRelayOptions {
  relay?: Partial<RelayConfig>;
  delivery?: Parameters<typeof testConfig>[0]['delivery'];
  retry?: Parameters<typeof testConfig>[0]['retry'];
  clock?: Clock;
  start?: boolean;
}

const open: Harness[] = [];

async function harness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-worker-'));
  const store = await openStore(`sqlite:${join(dir, 'outbox.db')}`);
  await store.migrate();
  const relay = await startScriptedRelay(options);
  const config: SluiceConfig = testConfig({
    relays: [testRelay(relay.port, { name: 'r1', ...options.relay })],
    ...(options.delivery ? { delivery: options.delivery } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
  });
  const clock = options.clock ?? systemClock;
  const bus = new EventBus<SluiceEventMap>();
  const events: Harness['events'] = [];
  const names: (keyof SluiceEventMap)[] = [
    'message:claimed',
    'message:released',
    'send:delivered',
    'send:deferred',
    'send:bounced',
    'message:expired',
    'message:failed',
  ];
  for (const name of names) bus.on(name, (payload) => events.push({ name, payload }));
  const worker = new DeliveryWorker({
    store,
    config,
    clock,
    events: bus,
    logger: silentLogger,
    templates: new TemplateEngine({ strict: true, renderTimeoutMs: 100 }),
    nodeId: 'node-test',
    random: () => 0.5,
  });
  let closed = false;
  const h: Harness = {
    store,
    relay,
    worker,
    events,
    async accept(patch = {}) {
      const id = newId('message');
      const now = clock.now();
      const message: NewMessage = {
        id,
        stream: 'transactional',
        from: { email: 'shop@sender.example', name: 'The Shop' },
        to: { email: 'ada@example.com' },
        subject: 'Hello {{ contact.first_name | default: "there" }}',
        text: 'Your code is {{ code }}.',
        variables: { code: '4711' },
        headers: {},
        messageId: newMessageId(id, 'sender.example'),
        createdAt: now,
        expiresAt: now + config.delivery.retry.maxAgeMs,
        ...patch,
      };
      const result = await store.messages.accept(message);
      assert.equal(result.kind, 'created');
      return message;
    },
    async status(id) {
      return (await store.messages.get(id))?.status;
    },
    async close() {
      if (closed) return;
      closed = true;
      await worker.stop(2_000);
      await relay.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  open.push(h);
  if (options.start !== false) worker.start();
  return h;
}

/** Bounded polling: never a fixed sleep in an assertion. */
async function until(condition: () => Promise<boolean> | boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

after(async () => {
  await Promise.all(open.map((h) => h.close()));
});

describe('DeliveryWorker', () => {
  it('delivers a personalized message with its stable Message-ID', async () => {
    const h = await harness();
    await h.store.contacts.upsert({
      id: newId('contact'),
      email: 'ada@example.com',
      attributes: { first_name: 'Ada' },
      at: Date.now(),
    });
    await h.store.templates.create({
      id: 'tpl_welcome',
      name: 'welcome',
      subject: 'Welcome, {{ contact.first_name }}',
      html: '<p>Your plan: <b>{{ plan }}</b></p>',
      text: 'Your plan: {{ plan }}',
      createdAt: 1,
      updatedAt: 1,
    });
    const m = await h.accept({
      templateId: 'tpl_welcome',
      subject: undefined,
      text: undefined,
      variables: { plan: 'Pro' },
    });
    h.worker.wake();
    await until(async () => (await h.status(m.id)) === 'delivered');
    const received = h.relay.messages[0];
    assert.ok(received);
    assert.equal(received.messageId, m.messageId);
    assert.deepEqual(received.envelope, { from: 'shop@sender.example', to: ['ada@example.com'] });
    const raw = received.raw.toString();
    assert.match(raw, /^Subject: Welcome, Ada\r$/m);
    assert.match(raw, /Your plan: Pro/);
    const attempts = await h.store.messages.attempts(m.id);
    assert.equal(attempts.length, 1);
    assert.equal(attempts[0]?.outcome, 'delivered');
    assert.equal(attempts[0]?.relay, 'r1');
    assert.equal(attempts[0]?.code, 250);
    await until(() => h.events.some((e) => e.name === 'send:delivered'));
    assert.equal(h.worker.inFlight, 0);
    await h.close();
  });

  it('451 then 250: deferred, then delivered, two attempts in the history', async () => {
    const h = await harness({
      behaviour: (_rcpt, n) => (n === 1 ? { reply: '451 4.7.1 try later' } : 'accept'),
    });
    const m = await h.accept();
    h.worker.wake();
    await until(async () => (await h.status(m.id)) === 'delivered');
    const attempts = await h.store.messages.attempts(m.id);
    assert.deepEqual(
      attempts.map((a) => [a.attempt, a.outcome, a.code, a.enhancedCode]),
      [
        [1, 'deferred', 451, '4.7.1'],
        [2, 'delivered', 250, undefined],
      ],
    );
    assert.equal(attempts[0]?.response, '451 4.7.1 try later');
    // The retry waited for its delay (20 ms, no jitter here).
    assert.ok((attempts[1]?.startedAt ?? 0) - (attempts[0]?.finishedAt ?? 0) >= 15);
    assert.equal(h.relay.messages.length, 1);
    const names = h.events.map((e) => e.name).filter((n) => n.startsWith('send:'));
    assert.deepEqual(names, ['send:deferred', 'send:delivered']);
    await h.close();
  });

  it('550 5.1.1: bounced, not retried', async () => {
    const h = await harness({ behaviour: () => ({ reply: '550 5.1.1 user unknown' }) });
    const m = await h.accept();
    await until(async () => (await h.status(m.id)) === 'bounced');
    const stored = await h.store.messages.get(m.id);
    assert.equal(stored?.lastError, '550 5.1.1 user unknown');
    const attempts = await h.store.messages.attempts(m.id);
    assert.deepEqual(
      attempts.map((a) => [a.outcome, a.code, a.enhancedCode]),
      [['bounced', 550, '5.1.1']],
    );
    await until(() => h.events.some((e) => e.name === 'send:bounced'));
    assert.equal(h.relay.attempts('ada@example.com'), 1);
    await h.close();
  });

  it('a dropped connection after DATA: deferred, with a retry scheduled', async () => {
    const h = await harness({
      behaviour: () => 'drop',
      retry: { initialDelayMs: 60_000, maxDelayMs: 60_000 },
    });
    const m = await h.accept();
    await until(async () => (await h.status(m.id)) === 'deferred');
    const stored = await h.store.messages.get(m.id);
    assert.ok(stored);
    assert.equal(stored.attempts, 1);
    assert.ok(stored.dueAt > Date.now() + 30_000);
    const attempts = await h.store.messages.attempts(m.id);
    assert.equal(attempts[0]?.outcome, 'deferred');
    assert.equal(attempts[0]?.code, undefined);
    assert.equal(h.relay.messages.length, 0);
    await h.close();
  });

  it('an unknown template: failed at once, no connection opened', async () => {
    const h = await harness();
    const missing = await h.accept({ templateId: 'tpl_nope', subject: undefined, text: undefined });
    await until(async () => (await h.status(missing.id)) === 'failed');
    const [attempt] = await h.store.messages.attempts(missing.id);
    assert.equal(attempt?.outcome, 'failed');
    assert.match(attempt?.response ?? '', /tpl_nope/);
    assert.equal(h.relay.connections, 0);
    await until(() => h.events.some((e) => e.name === 'message:failed'));
    await h.close();
  });

  it('a render error (found when a connection is ready for the message): failed, nothing sent, the connection reused', async () => {
    const h = await harness({ relay: { maxConnections: 1 } });
    const broken = await h.accept({ text: 'Hi {{ nickname }}' });
    await until(async () => (await h.status(broken.id)) === 'failed');
    assert.match((await h.store.messages.get(broken.id))?.lastError ?? '', /nickname/);
    const [attempt] = await h.store.messages.attempts(broken.id);
    assert.equal(attempt?.outcome, 'failed');
    assert.equal(h.relay.messages.length, 0);
    await until(() => h.events.some((e) => e.name === 'message:failed'));
    const good = await h.accept();
    await until(async () => (await h.status(good.id)) === 'delivered');
    assert.equal(h.relay.messages.length, 1);
    assert.equal(h.relay.connections, 1);
    await h.close();
  });

  it('expires a message still deferred at its maximum age', async () => {
    const clock = new ManualClock(Date.now());
    const h = await harness({
      clock,
      behaviour: () => ({ reply: '421 4.4.2 busy' }),
      retry: { maxAgeMs: 1_000 },
    });
    const m = await h.accept();
    await until(async () => (await h.status(m.id)) === 'deferred');
    clock.advance(5_000);
    h.worker.wake();
    await until(async () => (await h.status(m.id)) === 'expired');
    const attempts = await h.store.messages.attempts(m.id);
    assert.ok(attempts.length >= 2);
    assert.equal(attempts.at(-1)?.outcome, 'deferred');
    assert.match((await h.store.messages.get(m.id))?.lastError ?? '', /maximum age/);
    await until(() => h.events.some((e) => e.name === 'message:expired'));
    await h.close();
  });

  it('1,000 messages reuse at most maxConnections connections, never more at once', async () => {
    const h = await harness({
      relay: { maxConnections: 3 },
      delivery: { concurrency: 200, claimBatch: 100 },
      start: false,
    });
    const ids: string[] = [];
    for (let i = 0; i < 1_000; i++) {
      const stream = i % 2 === 0 ? 'transactional' : 'bulk';
      ids.push((await h.accept({ to: { email: `r${i}@d${i % 7}.example` }, stream })).id);
    }
    const started = performance.now();
    h.worker.start();
    await until(async () => (await h.store.messages.countByStatus()).delivered === 1_000, 30_000);
    const seconds = (performance.now() - started) / 1000;
    assert.ok(h.relay.connections <= 3, `${h.relay.connections} connections`);
    assert.ok(h.relay.peakConnections <= 3, `peak ${h.relay.peakConnections}`);
    assert.equal(h.relay.messages.length, 1_000);
    assert.equal(new Set(h.relay.messages.map((r) => r.messageId)).size, 1_000);
    process.stdout.write(`# 1,000 messages in ${seconds.toFixed(2)} s over 3 connections\n`);
    await h.close();
  });

  it('peak concurrency at the relay stays within maxConnections under a slow relay', async () => {
    const h = await harness({
      behaviour: () => ({ slowMs: 30 }),
      relay: { maxConnections: 2 },
      delivery: { concurrency: 40 },
    });
    const ids = await Promise.all(
      Array.from({ length: 20 }, (_, i) => h.accept({ to: { email: `s${i}@example.com` } })),
    );
    h.worker.wake();
    await until(async () => (await h.store.messages.countByStatus()).delivered === ids.length);
    assert.equal(h.relay.peakConnections, 2);
    await h.close();
  });

  it('wake() claims at once, without waiting for the poll', async () => {
    const h = await harness({ delivery: { pollIntervalMs: 60_000 } });
    // Let the first (empty) claim happen so the loop is asleep on the long poll.
    await until(() => h.events.length === 0);
    await new Promise((r) => setImmediate(r));
    const m = await h.accept();
    const woken = Date.now();
    h.worker.wake();
    await until(async () => (await h.status(m.id)) === 'delivered', 5_000);
    assert.ok(Date.now() - woken < 5_000);
    await h.close();
  });

  it('a slot frees when its transaction ends: a slow settlement write does not hold the next sends', async () => {
    const h = await harness({ delivery: { concurrency: 2, claimBatch: 2 }, start: false });
    for (let i = 0; i < 6; i++) await h.accept({ to: { email: `s${i}@example.com` } });
    // The store's settlement writes wait for the gate (the database itself is real).
    let openGate: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const settle = h.store.messages.settle.bind(h.store.messages);
    let written = 0;
    h.store.messages.settle = async (batch) => {
      await gate;
      written += batch.length;
      return settle(batch);
    };
    h.worker.start();
    // Two slots, six messages: all six reach the relay before any outcome is written.
    await until(() => h.relay.messages.length === 6);
    assert.equal(written, 0);
    assert.equal(h.worker.inFlight, 6, 'claimed and not yet settled');
    assert.equal((await h.store.messages.countByStatus()).sending, 6);
    openGate();
    await until(async () => (await h.store.messages.countByStatus()).delivered === 6);
    await until(() => h.worker.inFlight === 0);
    await h.close();
  });

  it('graceful stop: in-flight sends finish, unsent claims are released, nothing left sending', async () => {
    const h = await harness({
      behaviour: () => ({ slowMs: 200 }),
      relay: { maxConnections: 2 },
      delivery: { concurrency: 50 },
    });
    for (let i = 0; i < 20; i++) await h.accept({ to: { email: `g${i}@example.com` } });
    h.worker.wake();
    await until(() => h.relay.attempts('g0@example.com') + h.relay.attempts('g1@example.com') > 0);
    await until(() => h.worker.inFlight === 20);
    await h.worker.stop(5_000);
    const counts = await h.store.messages.countByStatus();
    assert.equal(counts.sending, 0);
    assert.equal(counts.delivered, h.relay.messages.length);
    assert.ok(counts.delivered >= 1 && counts.delivered <= 4, `delivered ${counts.delivered}`);
    assert.equal(counts.queued, 20 - counts.delivered);
    const released = h.events.filter((e) => e.name === 'message:released');
    assert.equal(
      released.reduce((n, e) => n + (e.payload as { count: number }).count, 0),
      counts.queued,
    );
    assert.equal(h.worker.inFlight, 0);
    assert.equal(h.worker.pools.connectionCount, 0);
    await h.close();
  });

  it('stop timeout: sends still running are cut and deferred, not left sending', async () => {
    const h = await harness({
      behaviour: () => ({ slowMs: 30_000 }),
      relay: { maxConnections: 2 },
      retry: { initialDelayMs: 60_000, maxDelayMs: 60_000 },
    });
    for (let i = 0; i < 5; i++) await h.accept({ to: { email: `t${i}@example.com` } });
    h.worker.wake();
    await until(() => h.relay.openConnections === 2 && h.relay.attempts('t1@example.com') > 0);
    const stopping = Date.now();
    await h.worker.stop(200);
    assert.ok(Date.now() - stopping < 3_000);
    const counts = await h.store.messages.countByStatus();
    assert.equal(counts.sending, 0);
    assert.equal(counts.deferred, 2);
    assert.equal(counts.queued, 3);
    await h.close();
  });
});
