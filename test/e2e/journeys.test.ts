/**
 * Journeys end to end, on real SQLite files, real HTTP and a real SMTP
 * relay, with the node's clock injected (days pass without sleeping):
 *
 * - a welcome journey (signup → send → wait a day → branch on opened →
 *   follow-up) runs exactly once per contact across a restart of the node on
 *   the same database file, the open recorded through the real pixel URL;
 * - a frequency cap across journeys holds;
 * - wait-for: the event takes the `then` branch, the timeout the other;
 * - quiet hours in the contact's time zone postpone a send to their end.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { ManualClock } from '../../src/core/clock.js';
import { startSluice, type RunningSluice } from '../../src/main.js';
import { createLogger } from '../../src/observability/logger.js';
import { createThrowawayDatabase, type ThrowawayDatabase } from '../helpers/postgres.js';
import { startScriptedRelay, type ScriptedRelay } from '../helpers/smtp-farm.js';
import { callApi, relayAt, TEST_ADMIN_KEY, waitFor, type ApiReply } from '../helpers/sluice.js';

const PUBLIC_URL = 'https://track.example.test';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface Node {
  sluice: RunningSluice;
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiReply<T>>;
}

/** Starts a node on `dir` (same folder = same SQLite file, unless `config` names a database) with `clock`. */
async function startNode(
  dir: string,
  clock: ManualClock,
  config: Record<string, unknown>,
  nodeId?: string,
): Promise<Node> {
  const file = join(dir, 'sluice.config.json');
  writeFileSync(
    file,
    JSON.stringify({
      http: { port: 0 },
      database: { url: `sqlite:${join(dir, 'sluice.db')}` },
      dataDir: dir,
      auth: { adminApiKey: TEST_ADMIN_KEY },
      ...config,
    }),
  );
  const sluice = await startSluice(loadConfig({ file, env: {} }), {
    clock,
    ...(nodeId ? { nodeId } : {}),
    logger: createLogger(process.env.SLUICE_TEST_LOG ?? 'silent'),
  });
  return { sluice, api: (method, path, body) => callApi(sluice.url, method, path, body) };
}

function subjectOf(raw: Buffer): string {
  return /^Subject: (.*)$/m.exec(raw.toString('utf8'))?.[1]?.trim() ?? '';
}

/** "rcpt subject" of every message the relay accepted, sorted. */
function received(relay: ScriptedRelay): string[] {
  return relay.messages.map((m) => `${m.envelope.to.join(',')} ${subjectOf(m.raw)}`).sort();
}

async function template(node: Node, name: string, html = `<p>${name}</p>`): Promise<string> {
  const reply = await node.api<{ id: string }>('POST', '/v1/templates', {
    name,
    subject: name,
    html,
  });
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
  return reply.body.id;
}

async function journey(node: Node, name: string, definition: unknown): Promise<string> {
  const reply = await node.api<{ id: string }>('POST', '/v1/journeys', {
    name,
    definition,
    status: 'active',
  });
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
  return reply.body.id;
}

async function event(node: Node, email: string, name: string, extra: Record<string, unknown> = {}) {
  const reply = await node.api('POST', '/v1/events', { contact: { email }, name, ...extra });
  assert.equal(reply.status, 202, JSON.stringify(reply.body));
}

/**
 * Waits until the relay has `n` messages and every message is settled: the
 * clock must not jump while a send is in flight, or its lease would run out
 * and the message be sent again (at least once, by design).
 */
async function waitForCount(
  relay: ScriptedRelay,
  n: number,
  what: string,
  node?: Node,
): Promise<void> {
  await waitFor(what, () => (relay.messages.length >= n ? true : undefined));
  if (!node) return;
  await waitFor(`${what} settled`, async () => {
    const counts = await node.sluice.store.messages.countByStatus();
    return counts.queued + counts.sending + counts.deferred === 0 ? true : undefined;
  });
}

/** Lets the hook and the timers finish what they have, so that "nothing more" can be asserted. */
async function settle(node: Node): Promise<void> {
  const runner = node.sluice.journeys;
  assert.ok(runner);
  await runner.idle();
  await runner.runDue();
  await runner.idle();
}

describe('journeys: a welcome journey across a restart', () => {
  let relay: ScriptedRelay;
  let dir: string;
  const clock = new ManualClock(Date.parse('2026-01-15T10:00:00Z'));
  const config = () => ({
    relays: [relayAt(relay.port)],
    tracking: {
      publicUrl: PUBLIC_URL,
      secret: 'e2e-tracking-secret-0123456789abcdef',
      opens: true,
      transactional: true,
    },
    journeys: { pollInterval: '20ms', backstopInterval: '20ms', backstopDelay: '1s' },
  });

  before(async () => {
    relay = await startScriptedRelay();
    dir = mkdtempSync(join(tmpdir(), 'sluice-journeys-'));
  });
  after(async () => {
    await relay.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends the welcome at once, then after a day the follow-up chosen by the open, once per contact', async () => {
    let node = await startNode(dir, clock, config());
    let journeyId: string;
    try {
      const welcome = await template(node, 'Welcome');
      const tips = await template(node, 'Tips');
      const nudge = await template(node, 'Nudge');
      journeyId = await journey(node, 'Welcome', {
        entry: { event: 'signup' },
        from: 'hello@example.com',
        steps: [
          { id: 'welcome', type: 'send', template: welcome },
          { type: 'wait', duration: '1d' },
          {
            type: 'branch',
            if: { engagement: 'opened', step: 'welcome' },
            then: [{ type: 'send', template: tips }],
            else: [{ type: 'send', template: nudge }],
          },
        ],
      });
      await event(node, 'ada@example.net', 'signup');
      await event(node, 'bob@example.net', 'signup');
      await waitForCount(relay, 2, 'the two welcome messages', node);
      assert.deepEqual(received(relay), ['ada@example.net Welcome', 'bob@example.net Welcome']);

      // Ada opens hers through the pixel of the message as received.
      const adaMail = relay.messages.find((m) => m.envelope.to.includes('ada@example.net'));
      const pixel = /<img src="https:\/\/track\.example\.test(\/t\/o\/[^"]+)"/.exec(
        adaMail?.raw
          .toString('utf8')
          .replace(/=\r?\n/g, '')
          .replace(/=3D/g, '=') ?? '',
      )?.[1];
      assert.ok(pixel, 'the welcome carries an open pixel');
      const open = await fetch(node.sluice.url + pixel);
      assert.equal(open.status, 200);
      await open.arrayBuffer();

      // A second signup of Ada (another event) does not start her journey again.
      await event(node, 'ada@example.net', 'signup');
      await settle(node);

      const metrics = await (await fetch(`${node.sluice.url}/metrics`)).text();
      assert.match(metrics, /sluice_event_to_delivery_seconds_count 2\b/);
      assert.match(metrics, /sluice_journey_entries_total\{outcome="refused"\} 1\b/);
    } finally {
      await node.sluice.stop();
    }
    assert.equal(relay.messages.length, 2, 'nothing more before the day has passed');

    // The day passes while the node is down; it comes back on the same file.
    clock.advance(DAY + 1000);
    node = await startNode(dir, clock, config());
    try {
      node.sluice.journeys?.wake();
      await waitForCount(relay, 4, 'the two follow-ups', node);
      await settle(node);
      clock.advance(DAY);
      await settle(node);
      assert.deepEqual(received(relay), [
        'ada@example.net Tips',
        'ada@example.net Welcome',
        'bob@example.net Nudge',
        'bob@example.net Welcome',
      ]);
      const view = await node.api<{ runs: Record<string, number> }>(
        'GET',
        `/v1/journeys/${journeyId}`,
      );
      assert.deepEqual(view.body.runs, { active: 0, completed: 2, exited: 0, failed: 0 });
    } finally {
      await node.sluice.stop();
    }
  });
});

describe('journeys: caps, wait-for and quiet hours', () => {
  let relay: ScriptedRelay;
  let dir: string;
  let node: Node;
  const clock = new ManualClock(Date.parse('2026-01-15T14:00:00Z'));

  before(async () => {
    relay = await startScriptedRelay();
    dir = mkdtempSync(join(tmpdir(), 'sluice-journeys-'));
    node = await startNode(dir, clock, {
      relays: [relayAt(relay.port)],
      journeys: {
        pollInterval: '20ms',
        backstopInterval: '20ms',
        backstopDelay: '1s',
        frequencyCaps: [{ messages: 1, per: '1d' }],
      },
    });
  });
  after(async () => {
    await node.sluice.stop();
    await relay.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a bad definition with 400 naming the field', async () => {
    const reply = await node.api<{ error: { code: string; field: string } }>(
      'POST',
      '/v1/journeys',
      {
        name: 'bad',
        definition: {
          entry: { event: 'x' },
          from: 'a@example.com',
          steps: [
            {
              type: 'branch',
              if: { engagement: 'opened' },
              then: [{ type: 'send', template: 'tpl_missing' }],
            },
          ],
        },
      },
    );
    assert.equal(reply.status, 400);
    assert.equal(reply.body.error.code, 'ERR_JOURNEY_INVALID');
    assert.equal(reply.body.error.field, 'definition.steps[0].then[0].template');
  });

  it('holds a frequency cap across journeys', async () => {
    const receipt = await template(node, 'Receipt');
    const upsell = await template(node, 'Upsell');
    for (const [name, tpl] of [
      ['Receipts', receipt],
      ['Upsell', upsell],
    ] as const) {
      await journey(node, name, {
        entry: { event: 'order.placed' },
        from: 'shop@example.com',
        reentry: 'always',
        steps: [{ type: 'send', template: tpl }],
      });
    }
    await event(node, 'cap@example.net', 'order.placed');
    await event(node, 'cap@example.net', 'order.placed');
    await waitForCount(relay, 1, 'one message', node);
    await settle(node);
    assert.equal(
      relay.messages.filter((m) => m.envelope.to.includes('cap@example.net')).length,
      1,
      'four sends decided, one allowed a day',
    );
    const metrics = await (await fetch(`${node.sluice.url}/metrics`)).text();
    assert.match(metrics, /sluice_journey_sends_total\{outcome="capped"\} 3\b/);
  });

  it('takes the then branch when the event comes, the timeout branch when it does not', async () => {
    const thanks = await template(node, 'Thanks');
    const reminder = await template(node, 'Reminder');
    await journey(node, 'Cart', {
      entry: { event: 'cart.abandoned', where: { property: 'total', op: 'gt', value: 10 } },
      from: 'shop@example.com',
      steps: [
        {
          type: 'wait-for',
          event: 'purchase',
          timeout: '1h',
          then: [{ type: 'send', template: thanks }],
          onTimeout: [{ type: 'send', template: reminder }],
        },
      ],
    });
    const before = relay.messages.length;
    await event(node, 'buyer@example.net', 'cart.abandoned', { properties: { total: 50 } });
    await event(node, 'idle@example.net', 'cart.abandoned', { properties: { total: 50 } });
    await event(node, 'cheap@example.net', 'cart.abandoned', { properties: { total: 5 } });
    await settle(node);
    assert.equal(relay.messages.length, before, 'everyone waits');
    await event(node, 'buyer@example.net', 'purchase');
    await waitForCount(relay, before + 1, 'the thanks', node);
    clock.advance(HOUR + 1000);
    node.sluice.journeys?.wake();
    await waitForCount(relay, before + 2, 'the reminder', node);
    await settle(node);
    assert.deepEqual(
      received(relay).filter((r) => !r.startsWith('cap@')),
      ['buyer@example.net Thanks', 'idle@example.net Reminder'],
    );
  });

  it('postpones a send in quiet hours to their end in the contact’s time zone', async () => {
    const hello = await template(node, 'Quiet hello');
    // 15:30 UTC on Jan 15: 00:30 in Tokyo (quiet until 08:00 = 23:00 UTC), 15:30 in London.
    clock.set(Date.parse('2026-01-15T15:30:00Z'));
    await journey(node, 'Quiet', {
      entry: { event: 'hello' },
      from: 'hello@example.com',
      quietHours: { start: '21:00', end: '08:00' },
      steps: [{ type: 'send', template: hello }],
    });
    const before = relay.messages.length;
    await event(node, 'tokyo@example.net', 'hello', { attributes: { timezone: 'Asia/Tokyo' } });
    await event(node, 'london@example.net', 'hello', { attributes: { timezone: 'Europe/London' } });
    await waitForCount(relay, before + 1, 'the London message', node);
    await settle(node);
    assert.deepEqual(
      relay.messages.slice(before).map((m) => m.envelope.to.join(',')),
      ['london@example.net'],
    );
    clock.set(Date.parse('2026-01-15T22:59:00Z'));
    await settle(node);
    assert.equal(relay.messages.length, before + 1, 'still quiet at 07:59 in Tokyo');
    clock.set(Date.parse('2026-01-15T23:00:00Z'));
    node.sluice.journeys?.wake();
    await waitForCount(relay, before + 2, 'the Tokyo message at 08:00 local', node);
    assert.equal(relay.messages[before + 1]?.envelope.to.join(','), 'tokyo@example.net');
  });
  it('starts runs for events the in-process hook never saw (the backstop scan)', async () => {
    const missed = await template(node, 'Missed');
    await journey(node, 'Backstop', {
      entry: { event: 'imported' },
      from: 'hello@example.com',
      steps: [{ type: 'send', template: missed }],
    });
    const before = relay.messages.length;
    // Stored without the HTTP route, so nothing is announced on the bus: as
    // if the node had died between the commit and the hook.
    const now = clock.now();
    await node.sluice.store.events.append([
      {
        id: 'evt_backstop_1',
        contact: { email: 'late@example.net' },
        newContactId: 'ct_backstop_1',
        name: 'imported',
        properties: {},
        occurredAt: now,
        receivedAt: now,
      },
    ]);
    await settle(node);
    assert.equal(relay.messages.length, before, 'the scan waits for backstopDelay');
    clock.advance(2000);
    await waitForCount(relay, before + 1, 'the message of the missed event', node);
    assert.equal(relay.messages[before]?.envelope.to.join(','), 'late@example.net');
  });

  it('hands each send to the worker without a claim, and the backstop skips the events the hook handled', async () => {
    const receipt = await template(node, 'Receipt once');
    await journey(node, 'Receipts once', {
      entry: { event: 'paid' },
      from: 'hello@example.com',
      reentry: 'always',
      steps: [{ type: 'send', template: receipt }],
    });
    const metric = async (pattern: RegExp): Promise<number> => {
      const text = await (await fetch(`${node.sluice.url}/metrics`)).text();
      return Number(pattern.exec(text)?.[1] ?? 0);
    };
    const duplicates = () => metric(/^sluice_journey_entries_total\{outcome="duplicate"\} (\d+)/m);
    const wakeups = () => metric(/^sluice_wakeups_total\{source="local"\} (\d+)/m);
    const before = relay.messages.length;
    const duplicatesBefore = await duplicates();
    const wakeupsBefore = await wakeups();
    for (const who of ['pay1', 'pay2', 'pay3']) await event(node, `${who}@example.net`, 'paid');
    await waitForCount(relay, before + 3, 'three receipts', node);
    assert.equal(
      await wakeups(),
      wakeupsBefore,
      'each send was accepted leased to this node and handed to its worker: no wake-up, no claim',
    );
    const runner = node.sluice.journeys;
    assert.ok(runner);
    // Past backstopDelay: the scan reads the three events and leaves them alone.
    clock.advance(2000);
    let read = 0;
    for (let pass = 0; pass < 5 && read < 3; pass++) read += await runner.scanBackstop();
    assert.ok(read >= 3, `the scan reached the events (${read} read)`);
    await settle(node);
    assert.equal(await duplicates(), duplicatesBefore, 'no event was handled a second time');
    assert.equal(relay.messages.length, before + 3);
  });

  it('the hook wakes a run waiting on a version whose wait-for the current version dropped', async () => {
    const thanks = await template(node, 'Thanks for the review');
    const id = await journey(node, 'Review', {
      entry: { event: 'delivered' },
      from: 'hello@example.com',
      steps: [
        {
          type: 'wait-for',
          event: 'reviewed',
          timeout: '7d',
          then: [{ type: 'send', template: thanks }],
        },
      ],
    });
    await event(node, 'reviewer@example.net', 'delivered');
    await settle(node);
    // Version 2 waits for nothing: only the run of version 1 waits for `reviewed`.
    const updated = await node.api('PATCH', `/v1/journeys/${id}`, {
      definition: {
        entry: { event: 'delivered' },
        from: 'hello@example.com',
        steps: [{ type: 'send', template: thanks }],
      },
    });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    await node.sluice.journeys?.journeysChanged();
    const before = relay.messages.length;
    await event(node, 'reviewer@example.net', 'reviewed');
    // The hook alone (no clock move, so no backstop scan reaches the event).
    await waitForCount(relay, before + 1, 'the thanks of the version 1 run', node);
    assert.equal(
      subjectOf(relay.messages[before]?.raw ?? Buffer.alloc(0)),
      'Thanks for the review',
    );
  });

  it('starts a journey when a contact enters a segment through an event', async () => {
    const vip = await template(node, 'Welcome VIP');
    const segment = await node.api<{ id: string }>('POST', '/v1/segments', {
      name: 'big spenders',
      conditions: { event: 'purchase', atLeast: 2 },
    });
    assert.equal(segment.status, 201);
    await journey(node, 'VIP', {
      entry: { segment: segment.body.id },
      from: 'hello@example.com',
      steps: [{ type: 'send', template: vip }],
    });
    const before = relay.messages.length;
    await event(node, 'vip@example.net', 'purchase');
    await settle(node);
    assert.equal(relay.messages.length, before, 'one purchase: not in the segment yet');
    await event(node, 'vip@example.net', 'purchase');
    await waitForCount(relay, before + 1, 'the VIP welcome', node);
    await event(node, 'vip@example.net', 'purchase');
    await settle(node);
    assert.deepEqual(
      relay.messages.slice(before).map((m) => `${m.envelope.to.join(',')} ${subjectOf(m.raw)}`),
      ['vip@example.net Welcome VIP'],
      'staying in the segment is not entering it again',
    );
  });
});

const pgUrl = process.env.SLUICE_TEST_DATABASE_URL;

describe(
  'journeys on PostgreSQL: two nodes share the runs',
  { skip: pgUrl ? false : 'SLUICE_TEST_DATABASE_URL is not set' },
  () => {
    let relay: ScriptedRelay;
    let db: ThrowawayDatabase;
    const dirs: string[] = [];
    const nodes: Node[] = [];
    const clock = new ManualClock(Date.parse('2026-01-15T10:00:00Z'));

    before(async () => {
      relay = await startScriptedRelay();
      db = await createThrowawayDatabase(pgUrl ?? '', 'sluice_journeys');
      for (const name of ['a', 'b']) {
        const dir = mkdtempSync(join(tmpdir(), 'sluice-journeys-pg-'));
        dirs.push(dir);
        nodes.push(
          await startNode(
            dir,
            clock,
            {
              database: { url: db.url },
              relays: [relayAt(relay.port)],
              journeys: { pollInterval: '20ms', backstopInterval: '20ms', backstopDelay: '1s' },
            },
            `node-${name}`,
          ),
        );
      }
    });
    after(async () => {
      for (const node of nodes) await node.sluice.stop();
      await relay.close();
      await db.drop();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    });

    it('starts each run once and fires each timer once, whichever node holds it', async () => {
      const [a, b] = nodes;
      assert.ok(a && b);
      const first = await template(a, 'First');
      const second = await template(a, 'Second');
      await journey(a, 'Two steps', {
        entry: { event: 'signup' },
        from: 'hello@example.com',
        steps: [
          { type: 'send', template: first },
          { type: 'wait', duration: '1h' },
          { type: 'send', template: second },
        ],
      });
      await b.sluice.journeys?.journeysChanged();
      for (let i = 0; i < 10; i++) {
        await event(i % 2 === 0 ? a : b, `pg${i}@example.net`, 'signup');
      }
      await waitForCount(relay, 10, 'the ten first messages', a);
      // Both nodes' backstop scans see the same events: still one run each.
      clock.advance(2000);
      for (const node of nodes) await node.sluice.journeys?.scanBackstop();
      clock.advance(HOUR);
      for (const node of nodes) node.sluice.journeys?.wake();
      await waitForCount(relay, 20, 'the ten second messages', a);
      for (const node of nodes) await settle(node);
      const counts = new Map<string, number>();
      for (const line of received(relay)) counts.set(line, (counts.get(line) ?? 0) + 1);
      assert.equal(counts.size, 20);
      assert.ok(
        [...counts.values()].every((n) => n === 1),
        'each message once',
      );
    });
  },
);
