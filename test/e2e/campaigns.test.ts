/**
 * Campaigns end to end, on a real node (SQLite) with two scripted relays:
 * contacts imported from CSV, a segment, an A/B campaign over it. The test
 * share reaches the relays split between the variants, personalized; opens
 * of variant B (through the real pixel) make it the winner when the window
 * ends, and the rest of the segment gets B. Counts reconcile: every
 * targeted contact has exactly one message, every message is delivered
 * (final), and nobody outside the segment got anything. Then a one-click
 * unsubscribe POST keeps that contact out of the next campaign, and bad
 * input gets 4xx naming the field.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import {
  startScriptedRelay,
  type RecordedMessage,
  type ScriptedRelay,
} from '../helpers/smtp-farm.js';
import { relayAt, startTestSluice, waitFor, type TestSluice } from '../helpers/sluice.js';

const PUBLIC_URL = 'https://track.example.test';
/** The size: a 20k-contact campaign over a segment. */
const CONTACTS = 30_000;
/** Contacts 0, 1, 2 (mod 3): 0 and 1 are `pro`, the segment. */
const SEGMENT_SIZE = 20_000;
/** Bound on each wait for the campaign to move on (20k messages on a loaded CI machine). */
const WAIT_MS = 180_000;

interface Stats {
  targeted: number;
  queued: number;
  sending: number;
  delivered: number;
  deferred: number;
  bounced: number;
  failed: number;
  suppressed: number;
  opened: number;
  variants: { name: string; targeted: number; opened: number }[];
}

interface CampaignView {
  id: string;
  status: string;
  phase: string;
  winner?: { index: number; name: string };
  stats: Stats;
}

function header(raw: Buffer, name: string): string {
  const text = raw.subarray(0, raw.indexOf('\r\n\r\n')).toString('latin1');
  const match = new RegExp(`^${name}:(.*(?:\\r\\n[ \\t].*)*)`, 'im').exec(text);
  return (match?.[1] ?? '').replace(/\r\n[ \t]+/g, ' ').trim();
}

describe('campaigns end to end', () => {
  let relays: ScriptedRelay[];
  let t: TestSluice;
  let segmentId: string;
  let listId: string;
  const received = (): RecordedMessage[] => relays.flatMap((r) => r.messages);
  const ofCampaign = (id: string) =>
    received().filter((m) => header(m.raw, 'X-Sluice-Campaign') === id);

  before(async () => {
    relays = await Promise.all([startScriptedRelay(), startScriptedRelay()]);
    t = await startTestSluice({
      relays: relays.map((r, i) => relayAt(r.port, `relay${i}`, { maxConnections: 8 })),
      pools: [{ name: 'campaigns', relays: ['relay0', 'relay1'], strategy: 'round-robin' }],
      tracking: {
        publicUrl: PUBLIC_URL,
        secret: 'e2e-campaign-secret-0123456789abcdef',
        opens: true,
      },
      delivery: { concurrency: 1000, claimBatch: 500, pollInterval: '50ms' },
      campaigns: { pollInterval: '50ms', batchSize: 500 },
    });
    const rows = Array.from(
      { length: CONTACTS },
      (_, i) => `user${i}@example.net,Name${i},${i % 3 === 2 ? 'free' : 'pro'}`,
    );
    const csv = `email,first_name,plan\n${rows.join('\n')}\n`;
    const response = await fetch(`${t.sluice.url}/v1/contacts/import?list=newsletter`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${'sk_test_0123456789abcdefghijklmnop'}`,
        'content-type': 'text/csv',
      },
      body: csv,
    });
    assert.equal(response.status, 200, await response.text());
    const list = await t.api<{ items: { id: string; name: string }[] }>('GET', '/v1/lists');
    listId = list.body.items.find((l) => l.name === 'newsletter')?.id ?? '';
    const segment = await t.api<{ id: string }>('POST', '/v1/segments', {
      name: 'pro',
      conditions: { and: [{ inList: listId }, { attribute: 'plan', op: 'eq', value: 'pro' }] },
    });
    assert.equal(segment.status, 201);
    segmentId = segment.body.id;
  });
  after(async () => {
    await t.close();
    await Promise.all(relays.map((r) => r.close()));
  });

  /** The latest view read, for the message of a failed wait. */
  let lastView: CampaignView | undefined;
  const campaignView = async (id: string) => {
    lastView = (await t.api<CampaignView>('GET', `/v1/campaigns/${id}`)).body;
    return lastView;
  };
  /** Waits (bounded) for the campaign's view to satisfy `ok`; a timeout shows the last view. */
  const untilView = async (id: string, what: string, ok: (view: CampaignView) => boolean) => {
    try {
      return await waitFor(
        what,
        async () => {
          const view = await campaignView(id);
          return ok(view) ? view : undefined;
        },
        WAIT_MS,
        100,
      );
    } catch (error) {
      throw new Error(`${String(error)}; last view: ${JSON.stringify(lastView)}`);
    }
  };

  let firstCampaign: string;

  it('runs an A/B campaign over a segment: test split, winner by opens, the rest gets the winner', async () => {
    const created = await t.api<CampaignView>('POST', '/v1/campaigns', {
      name: 'Spring',
      from: { email: 'news@example.com', name: 'Example News' },
      segmentId,
      pool: 'campaigns',
      subject: 'unused',
      html: '<p>Hello {{ contact.first_name | default: "friend" }}, {{ offer }}</p>',
      text: 'Hello {{ contact.first_name | default: "friend" }}, {{ offer }}',
      variables: { offer: 'spring sale' },
      variants: [
        { name: 'A', subject: 'A for {{ contact.first_name | default: "you" }}' },
        { name: 'B', subject: 'B for {{ contact.first_name | default: "you" }}' },
      ],
      // Long enough for the test share to be delivered and opened before it ends.
      test: { share: 0.2, metric: 'opens', window: '20s' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    firstCampaign = id;
    assert.equal((await t.api('POST', `/v1/campaigns/${id}/send`)).status, 200);

    // The test share goes out and is delivered.
    const testing = await untilView(
      id,
      'the test share to be delivered',
      (view) => view.phase === 'waiting' && view.stats.delivered === view.stats.targeted,
    );
    const tested = testing.stats.targeted;
    assert.ok(
      Math.abs(tested - 0.2 * SEGMENT_SIZE) < 0.02 * SEGMENT_SIZE,
      `about 20 % of ${SEGMENT_SIZE}: ${tested}`,
    );
    const [a, b] = testing.stats.variants;
    assert.ok(a && b && Math.abs(a.targeted - b.targeted) <= 1, 'split evenly');

    // Some recipients of B open it (the real pixel, through the public URL).
    const bMessages = ofCampaign(id).filter((m) => header(m.raw, 'Subject').startsWith('B for'));
    assert.equal(bMessages.length, b?.targeted);
    for (const message of bMessages.slice(0, 20)) {
      const mail = await simpleParser(message.raw);
      const html = typeof mail.html === 'string' ? mail.html : '';
      const pixel = /<img src="https:\/\/track\.example\.test(\/t\/o\/[^"]+)"/.exec(html);
      assert.ok(pixel, html);
      assert.equal((await fetch(t.sluice.url + (pixel[1] ?? ''))).status, 200);
    }

    // After the window, B wins and the rest of the segment gets it.
    const done = await untilView(
      id,
      'the campaign to be sent and delivered',
      (view) => view.status === 'sent' && view.stats.delivered === view.stats.targeted,
    );
    assert.equal(done.winner?.name, 'B');
    assert.equal(done.winner?.index, 1);
    assert.equal(done.stats.targeted, SEGMENT_SIZE);
    assert.equal(done.stats.variants[0]?.targeted, a?.targeted, 'A: only its test share');
    assert.equal(done.stats.variants[1]?.targeted, SEGMENT_SIZE - (a?.targeted ?? 0));
    assert.equal(done.stats.opened, 20);
    for (const key of ['queued', 'sending', 'deferred', 'bounced', 'failed', 'suppressed'] as const)
      assert.equal(done.stats[key], 0, key);

    // Reconcile at the relays: one message per segment contact, personalized.
    const messages = ofCampaign(id);
    assert.equal(messages.length, SEGMENT_SIZE);
    const recipients = new Set<string>();
    for (const message of messages) {
      const to = message.envelope.to[0] ?? '';
      assert.equal(message.envelope.to.length, 1);
      assert.ok(!recipients.has(to), `${to} got two messages`);
      recipients.add(to);
      const n = Number(/^user(\d+)@/.exec(to)?.[1]);
      assert.notEqual(n % 3, 2, `${to} is not in the segment`);
      assert.match(header(message.raw, 'Subject'), new RegExp(`^[AB] for Name${n}$`));
    }
    const rest = messages.filter((m) => header(m.raw, 'Subject').startsWith('A for'));
    assert.equal(rest.length, a?.targeted, 'after the test, only B');
    const sample = await simpleParser(messages[0]?.raw ?? Buffer.alloc(0));
    const n = Number(/^user(\d+)@/.exec(messages[0]?.envelope.to[0] ?? '')?.[1]);
    assert.equal(sample.text?.trim(), `Hello Name${n}, spring sale`);
    assert.deepEqual(sample.from?.value, [{ address: 'news@example.com', name: 'Example News' }]);
  });

  it('keeps a contact who unsubscribed with one click out of the next campaign', async () => {
    const [message] = ofCampaign(firstCampaign);
    assert.ok(message);
    const who = message.envelope.to[0] ?? '';
    const link = /<https:\/\/track\.example\.test(\/t\/u\/[^>]+)>/.exec(
      header(message.raw, 'List-Unsubscribe'),
    );
    assert.ok(link, message.raw.toString('latin1').slice(0, 2000));
    const response = await fetch(t.sluice.url + (link[1] ?? ''), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    assert.equal(response.status, 200);

    const created = await t.api<CampaignView>('POST', '/v1/campaigns', {
      name: 'Summer',
      from: 'news@example.com',
      segmentId,
      subject: 'Summer, {{ contact.first_name | default: "friend" }}',
      text: 'Hot.',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    await t.api('POST', `/v1/campaigns/${id}/send`);
    const done = await untilView(
      id,
      'the second campaign to be delivered',
      (view) => view.status === 'sent' && view.stats.delivered === view.stats.targeted,
    );
    assert.equal(done.stats.targeted, SEGMENT_SIZE - 1);
    const second = ofCampaign(id);
    assert.equal(second.length, SEGMENT_SIZE - 1);
    assert.ok(!second.some((m) => m.envelope.to.includes(who)), `${who} got the next campaign`);
  });

  it('refuses bad input with a 4xx naming the field', async () => {
    const segment = await t.api<{ error: { code: string; field: string } }>(
      'POST',
      '/v1/segments',
      { name: 'bad', conditions: { attribute: 'plan', op: 'like', value: 'p%' } },
    );
    assert.equal(segment.status, 400);
    assert.deepEqual(
      [segment.body.error.code, segment.body.error.field],
      ['ERR_SEGMENT_INVALID', 'conditions.op'],
    );
    const good = {
      name: 'Bad',
      from: 'news@example.com',
      lists: [listId],
      subject: 'Hi',
      text: 'Body',
    };
    const cases: [Record<string, unknown>, number, string, string][] = [
      [
        { segment: { attribute: 'plan', op: 'like', value: 'x' } },
        400,
        'ERR_SEGMENT_INVALID',
        'segment.op',
      ],
      [{ segment: { colour: 'blue' } }, 400, 'ERR_SEGMENT_INVALID', 'segment'],
      [{ subject: 'Hi {% if %}' }, 422, 'ERR_TEMPLATE_SYNTAX', 'subject'],
      [{ text: 'Hi {{ nobody_knows }}' }, 422, 'ERR_TEMPLATE_RENDER', 'text'],
      [{ sendAt: '31/12/2030' }, 400, 'ERR_VALIDATION', 'sendAt'],
      [{ from: undefined }, 400, 'ERR_VALIDATION', 'from'],
    ];
    for (const [patch, status, code, field] of cases) {
      const reply = await t.api<{ error: { code: string; field: string } }>(
        'POST',
        '/v1/campaigns',
        { ...good, ...patch },
      );
      assert.equal(reply.status, status, JSON.stringify(patch));
      assert.deepEqual([reply.body.error.code, reply.body.error.field], [code, field]);
    }
  });
});
