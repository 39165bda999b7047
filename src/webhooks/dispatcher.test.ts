import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ManualClock } from '../core/clock.js';
import { EventBus, type SluiceEventMap } from '../core/events.js';
import type { Store } from '../core/ports/store.js';
import { newWebhookEventId } from '../core/webhook-events.js';
import { verifyWebhook } from '../core/webhook-signature.js';
import { silentLogger } from '../delivery/logger.js';
import { openStore } from '../store/open-store.js';
import { SETTLE_WAKE_DELAY_MS, WebhookDispatcher, type DispatcherConfig } from './dispatcher.js';
import { HttpSender } from './http-sender.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  url: string;
}

/** A receiver on 127.0.0.1 whose answer a test scripts per request. */
class Receiver {
  readonly received: Received[] = [];
  answer: (n: number, res: ServerResponse) => void = (_n, res) => res.writeHead(200).end();
  private server: Server | undefined;
  port = 0;

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        this.received.push({ headers: req.headers, body, url: req.url ?? '' });
        this.answer(this.received.length, res);
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

const SECRET = 'whsec_dispatcher_test';
const SECOND = 1000;

const config = (overrides: Partial<DispatcherConfig> = {}): DispatcherConfig => ({
  concurrency: 8,
  perEndpointConcurrency: 4,
  timeoutMs: 2000,
  pollIntervalMs: 1000,
  retentionMs: 7 * 86_400_000,
  retry: {
    initialDelayMs: 30 * SECOND,
    multiplier: 2,
    maxDelayMs: 3_600_000,
    jitter: 0,
    maxAgeMs: 86_400_000,
  },
  ...overrides,
});

describe('webhook dispatcher', () => {
  let dir: string;
  let store: Store;
  let clock: ManualClock;
  let events: EventBus;
  let receiver: Receiver;
  let attempts: SluiceEventMap['webhook:attempt'][];
  const dispatchers: WebhookDispatcher[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-webhooks-'));
    store = await openStore('sqlite:' + join(dir, 'sluice.db'));
    await store.migrate();
    clock = new ManualClock();
    events = new EventBus();
    attempts = [];
    events.on('webhook:attempt', (e) => attempts.push(e));
    receiver = await new Receiver().start();
  });
  afterEach(async () => {
    for (const d of dispatchers.splice(0)) await d.stop();
    await receiver.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  function dispatcher(
    overrides: Partial<DispatcherConfig> = {},
    allowPrivateNetworks = true,
  ): WebhookDispatcher {
    const d = new WebhookDispatcher({
      store,
      clock,
      events,
      logger: silentLogger,
      nodeId: 'node-a',
      sender: new HttpSender({ guard: { allowPrivateNetworks }, timeoutMs: 2000 }),
      config: config(overrides),
      random: () => 0.5,
    });
    dispatchers.push(d);
    return d;
  }

  async function endpointWithEvent(url: string, count = 1) {
    const endpoint = await store.webhooks.createEndpoint({
      id: 'wh_test',
      url,
      events: ['delivered'],
      description: '',
      enabled: true,
      secret: SECRET,
      at: clock.now(),
    });
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const id = newWebhookEventId(clock.now());
      ids.push(id);
      await store.webhooks.enqueue(endpoint.id, {
        id,
        type: 'delivered',
        createdAt: clock.now(),
        data: { messageId: `msg_${i}`, recipient: 'a@example.test' },
      });
    }
    return { endpoint, ids };
  }

  async function log() {
    return (await store.webhooks.listDeliveries('wh_test', { limit: 100 })).items;
  }

  it('retries a 500 with backoff on the injected clock, then delivers a signed, stable event', async () => {
    const { ids } = await endpointWithEvent(receiver.url());
    receiver.answer = (n, res) => res.writeHead(n <= 2 ? 500 : 200).end();
    const d = dispatcher();
    assert.equal(await d.round(), 1);
    await d.settled();
    let [row] = await log();
    assert.equal(row?.status, 'pending');
    assert.equal(row?.lastStatus, 500);
    assert.equal(row?.nextAttemptAt, clock.now() + 30 * SECOND);
    assert.equal(await d.round(), 0, 'not due before its backoff');
    clock.advance(30 * SECOND);
    assert.equal(await d.round(), 1);
    await d.settled();
    [row] = await log();
    assert.equal(row?.nextAttemptAt, clock.now() + 60 * SECOND, 'the delay doubles');
    clock.advance(60 * SECOND);
    assert.equal(await d.round(), 1);
    await d.settled();
    [row] = await log();
    assert.equal(row?.status, 'delivered');
    assert.equal(row?.attempts, 3);
    assert.equal(row?.lastStatus, 200);
    assert.equal(row?.lastError, undefined);

    assert.equal(receiver.received.length, 3);
    const bodies = new Set(receiver.received.map((r) => r.body));
    assert.equal(bodies.size, 1, 'every retry sends the same bytes');
    for (const request of receiver.received) {
      assert.equal(request.headers['sluice-event-id'], ids[0]);
      assert.equal(request.headers['sluice-event-type'], 'delivered');
      assert.equal(request.headers['content-type'], 'application/json');
      const check = verifyWebhook(
        SECRET,
        String(request.headers['sluice-signature']),
        request.body,
        clock.now(),
        10 * 60_000,
      );
      assert.equal(check.ok, true, JSON.stringify(check));
    }
    assert.deepEqual(JSON.parse(receiver.received[0]?.body ?? ''), {
      id: ids[0],
      type: 'delivered',
      createdAt: new Date(1_700_000_000_000).toISOString(),
      data: { messageId: 'msg_0', recipient: 'a@example.test' },
    });
    assert.deepEqual(
      attempts.map((a) => a.outcome),
      ['retry', 'retry', 'delivered'],
    );
  });

  it('gives up when the retry window is spent, the last try at its end', async () => {
    const created = clock.now();
    await endpointWithEvent(receiver.url());
    receiver.answer = (_n, res) => res.writeHead(503).end();
    const d = dispatcher();
    for (let i = 0; i < 100; i++) {
      await d.round();
      await d.settled();
      const [row] = await log();
      if (row?.status !== 'pending') break;
      assert.ok(row.nextAttemptAt !== undefined && row.nextAttemptAt <= created + 86_400_000);
      clock.set(row.nextAttemptAt);
    }
    const [row] = await log();
    assert.equal(row?.status, 'failed');
    assert.equal(row?.lastStatus, 503);
    assert.equal(row?.finishedAt, created + 86_400_000, 'the last try is at the end of the window');
    // 30 s, 1, 2, 4, 8, 16, 32 min, then hourly to the 24 h mark.
    assert.equal(row?.attempts, 31);
    assert.equal(attempts.filter((a) => a.outcome === 'failed').length, 1);
    clock.advance(86_400_000);
    assert.equal(await d.round(), 0, 'a given-up delivery is not sent again');
  });

  it('does not follow a redirect: a 3xx is a failure', async () => {
    await endpointWithEvent(receiver.url('/old'));
    receiver.answer = (_n, res) =>
      res.writeHead(308, { location: receiver.url('/elsewhere') }).end();
    const d = dispatcher();
    await d.round();
    await d.settled();
    const [row] = await log();
    assert.equal(row?.status, 'pending');
    assert.equal(row?.lastStatus, 308);
    assert.match(row?.lastError ?? '', /redirects are not followed/);
    assert.deepEqual(
      receiver.received.map((r) => r.url),
      ['/old'],
      'the Location was never requested',
    );
  });

  it('refuses a private address at connect time unless allowed; nothing reaches the receiver', async () => {
    await endpointWithEvent(`http://localhost:${receiver.port}/hook`);
    const d = dispatcher({}, false);
    await d.round();
    await d.settled();
    const [row] = await log();
    assert.equal(row?.status, 'pending');
    assert.equal(row?.lastStatus, undefined);
    assert.match(row?.lastError ?? '', /localhost: .* is a loopback address/);
    assert.equal(receiver.received.length, 0);
  });

  it('keeps at most perEndpointConcurrency requests in flight to one endpoint', async () => {
    await endpointWithEvent(receiver.url(), 5);
    const held: ServerResponse[] = [];
    receiver.answer = (_n, res) => held.push(res);
    const d = dispatcher({ perEndpointConcurrency: 2 });
    assert.equal(await d.round(), 2);
    assert.equal(await d.round(), 0, 'the endpoint is full');
    for (let i = 0; i < 50 && held.length < 2; i++) await new Promise((r) => setImmediate(r));
    assert.equal(held.length, 2);
    for (const res of held.splice(0)) res.writeHead(204).end();
    await d.settled();
    assert.equal(await d.round(), 2);
    for (let i = 0; i < 50 && held.length < 2; i++) await new Promise((r) => setImmediate(r));
    for (const res of held.splice(0)) res.writeHead(204).end();
    await d.settled();
    assert.equal(await d.round(), 1);
    for (let i = 0; i < 50 && held.length < 1; i++) await new Promise((r) => setImmediate(r));
    for (const res of held.splice(0)) res.writeHead(204).end();
    await d.settled();
    assert.ok((await log()).every((r) => r.status === 'delivered'));
  });

  it('signs with both secrets during a rotation', async () => {
    await endpointWithEvent(receiver.url());
    await store.webhooks.rotateSecret('wh_test', {
      secret: 'whsec_new',
      previousExpiresAt: clock.now() + 60_000,
      at: clock.now(),
    });
    const d = dispatcher();
    await d.round();
    await d.settled();
    const [request] = receiver.received;
    assert.ok(request);
    const header = String(request.headers['sluice-signature']);
    assert.equal(header.split('v1=').length, 3, header);
    for (const secret of [SECRET, 'whsec_new']) {
      assert.equal(verifyWebhook(secret, header, request.body, clock.now()).ok, true, secret);
    }
  });

  it('sends again what a node that died mid-request had leased, once its lease runs out', async () => {
    const { ids } = await endpointWithEvent(receiver.url());
    // A node claims the row and dies before recording anything.
    const lost = await store.webhooks.claim({
      endpointId: 'wh_test',
      limit: 10,
      leaseMs: 2000 + 30_000,
      owner: 'node-dead',
      now: clock.now(),
    });
    assert.equal(lost.length, 1);
    const d = dispatcher();
    assert.equal(await d.round(), 0, 'leased to the dead node');
    clock.advance(32_000);
    assert.equal(await d.round(), 1);
    await d.settled();
    const [row] = await log();
    assert.equal(row?.status, 'delivered');
    assert.equal(receiver.received[0]?.headers['sluice-event-id'], ids[0]);
  });

  it('wakeSoon gathers many wakes (settle batches) into one round, soon, not at the next poll', async () => {
    await endpointWithEvent(receiver.url(), 1);
    let rounds = 0;
    const dueEndpoints = store.webhooks.dueEndpoints.bind(store.webhooks);
    store.webhooks.dueEndpoints = (now, limit) => {
      rounds += 1;
      return dueEndpoints(now, limit);
    };
    const d = dispatcher({ pollIntervalMs: 60_000 });
    d.start();
    for (let i = 0; i < 200 && rounds < 1; i++) await new Promise((r) => setTimeout(r, 5));
    await d.settled();
    assert.equal(receiver.received.length, 1, 'the first round sent the due event');
    await new Promise((r) => setTimeout(r, 100)); // the loop's own rounds after a send end
    const before = rounds;
    for (let i = 0; i < 50; i++) d.wakeSoon();
    await new Promise((r) => setTimeout(r, SETTLE_WAKE_DELAY_MS + 100));
    assert.equal(rounds - before, 1, 'fifty wakes with nothing due, one round');
    await endpointWithEventAgain();
    const started = Date.now();
    d.wakeSoon();
    for (let i = 0; i < 200 && receiver.received.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(receiver.received.length, 2, 'sent within the wake delay, not at the 60 s poll');
    assert.ok(Date.now() - started >= SETTLE_WAKE_DELAY_MS - 5, 'after the delay');
  });

  async function endpointWithEventAgain() {
    await store.webhooks.enqueue('wh_test', {
      id: newWebhookEventId(clock.now()),
      type: 'delivered',
      createdAt: clock.now(),
      data: { messageId: 'msg_again', recipient: 'a@example.test' },
    });
  }

  it('runs by itself: started, it sends due events and stops cleanly', async () => {
    await endpointWithEvent(receiver.url(), 2);
    const d = dispatcher({ pollIntervalMs: 20 });
    d.start();
    for (let i = 0; i < 200 && receiver.received.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await d.stop();
    dispatchers.splice(0);
    assert.equal(receiver.received.length, 2);
  });
});
