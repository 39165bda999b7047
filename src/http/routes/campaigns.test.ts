import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CampaignScheduler, UPKEEP_INTERVAL_MS } from '../../campaigns/scheduler.js';
import { DEFAULT_CAMPAIGNS_CONFIG, type SluiceConfig } from '../../config/config.js';
import { CAMPAIGN_HOLD } from '../../core/ports/store.js';
import { newId } from '../../core/ids.js';
import { silentLogger } from '../../delivery/logger.js';
import { errorOf, startTestApp, testConfig, type TestApp } from '../test-support.js';

interface CampaignBody {
  id: string;
  status: string;
  phase: string;
  pause?: { by: string; reason: string; resumedAt?: string };
  winner?: { index: number; name: string };
  stats?: {
    targeted: number;
    queued: number;
    suppressed: number;
    failed: number;
    bounced: number;
    bouncedByCategory: Record<string, number>;
    opened: number;
    sent: number;
    rates: { bounce: number; open: number };
    variants: { name: string; targeted: number; opened: number; openRate: number }[];
  };
}

const CONTACTS = 50;

describe('campaigns', () => {
  let t: TestApp;
  let config: SluiceConfig;
  let scheduler: CampaignScheduler;
  let listId: string;
  let otherListId: string;
  let woken = 0;

  /** One scheduler round and the fan-out it started. */
  async function round(): Promise<void> {
    await scheduler.tick();
    await scheduler.settled();
  }

  async function get(id: string): Promise<CampaignBody> {
    const response = await t.api<CampaignBody>('GET', `/v1/campaigns/${id}`);
    assert.equal(response.status, 200);
    return response.body;
  }

  const base = () => ({
    name: 'Spring',
    from: { email: 'news@example.com', name: 'News' },
    subject: 'Hi {{ contact.first_name | default: "there" }}',
    html: '<p>{{ greeting }} {{ contact.first_name | default: "friend" }}</p>',
    variables: { greeting: 'Hello' },
    lists: [listId],
  });

  before(async () => {
    config = testConfig({
      pools: [{ name: 'bulk-pool', relays: [], strategy: 'round-robin' }],
      campaigns: {
        ...DEFAULT_CAMPAIGNS_CONFIG,
        batchSize: 7,
        guard: { maxBounceRate: 0.2, maxComplaintRate: 0.5, minSample: 5 },
      },
    });
    t = await startTestApp({ config });
    scheduler = new CampaignScheduler({
      store: t.store,
      clock: t.clock,
      config,
      events: t.events,
      logger: silentLogger,
      nodeId: 'node-1',
      onBatch: () => {
        woken += 1;
      },
    });
    const at = t.clock.now();
    await t.store.contacts.upsertMany(
      Array.from({ length: CONTACTS }, (_, i) => ({
        id: `ct_${String(i).padStart(2, '0')}`,
        email: `user${i}@example.com`,
        attributes: { first_name: `User${i}`, plan: i % 2 === 0 ? 'pro' : 'free' },
        status: i === 3 || i === 4 ? ('unsubscribed' as const) : ('active' as const),
        at,
      })),
    );
    listId = (await t.api<{ id: string }>('POST', '/v1/lists', { name: 'news' })).body.id;
    otherListId = (await t.api<{ id: string }>('POST', '/v1/lists', { name: 'vip' })).body.id;
    const ids = Array.from({ length: CONTACTS }, (_, i) => `ct_${String(i).padStart(2, '0')}`);
    await t.store.lists.addMembers(listId, ids, at);
    await t.store.lists.addMembers(otherListId, ids.slice(0, 10), at);
    await t.store.suppressions.add({
      email: 'user5@example.com',
      reason: 'manual',
      at,
    });
  });
  after(async () => {
    await scheduler.stop();
    await t.close();
  });

  it('refuses bad input with 4xx naming the field, storing nothing', async () => {
    const cases: [Record<string, unknown>, number, string, string][] = [
      [{ from: undefined }, 400, 'ERR_VALIDATION', 'from'],
      [{ from: 'not-an-address' }, 400, 'ERR_ADDRESS_INVALID', 'from'],
      [{ sendAt: 'tomorrow' }, 400, 'ERR_VALIDATION', 'sendAt'],
      [{ sendAt: '2001-01-01T00:00:00Z' }, 400, 'ERR_VALIDATION', 'sendAt'],
      [{ lists: ['lst_nope'] }, 400, 'ERR_VALIDATION', 'lists[0]'],
      [{ lists: [], segment: undefined }, 400, 'ERR_VALIDATION', 'lists'],
      [
        { lists: [], segment: { attribute: 'plan', op: 'like', value: 'x' } },
        400,
        'ERR_SEGMENT_INVALID',
        'segment.op',
      ],
      [{ lists: [], segment: { nope: 1 } }, 400, 'ERR_SEGMENT_INVALID', 'segment'],
      [{ segmentId: 'seg_nope' }, 400, 'ERR_VALIDATION', 'segmentId'],
      [{ subject: 'Hi {{ contact.first_name ' }, 422, 'ERR_TEMPLATE_SYNTAX', 'subject'],
      [{ html: '<p>{{ unknown_variable }}</p>' }, 422, 'ERR_TEMPLATE_RENDER', 'html'],
      [{ subject: 'Hi {{ contact.first_name }}' }, 422, 'ERR_TEMPLATE_RENDER', 'subject'],
      [{ subject: undefined }, 400, 'ERR_MESSAGE_CONTENT_MISSING', 'subject'],
      [
        { templateId: 'tpl_nope', subject: undefined, html: undefined },
        422,
        'ERR_TEMPLATE_NOT_FOUND',
        'templateId',
      ],
      [{ variants: [{ name: 'A' }] }, 400, 'ERR_VALIDATION', 'variants'],
      [
        { variants: [{ name: 'A' }, { name: 'B', subject: '{{ oops }}' }] },
        422,
        'ERR_TEMPLATE_RENDER',
        'variants[1].subject',
      ],
      [{ test: { share: 0.2, metric: 'opens', window: '1h' } }, 400, 'ERR_VALIDATION', 'test'],
      [
        {
          variants: [{ name: 'A' }, { name: 'B' }],
          test: { share: 1.5, metric: 'opens', window: '1h' },
        },
        400,
        'ERR_VALIDATION',
        'test.share',
      ],
      [
        {
          variants: [{ name: 'A' }, { name: 'B' }],
          test: { share: 0.2, metric: 'opens', window: 'soon' },
        },
        400,
        'ERR_VALIDATION',
        'test.window',
      ],
      [{ pool: 'nope' }, 400, 'ERR_VALIDATION', 'pool'],
      [{ variables: { contact: 1 } }, 400, 'ERR_VALIDATION', 'variables.contact'],
      [{ subject: 'a\r\nBcc: x@y.z' }, 400, 'ERR_HEADER_INJECTION', 'subject'],
      [{ stream: 'transactional' }, 400, 'ERR_UNKNOWN_FIELD', 'stream'],
    ];
    for (const [patch, status, code, field] of cases) {
      const body = { ...base(), ...patch };
      const response = await t.api('POST', '/v1/campaigns', body);
      assert.equal(response.status, status, `${JSON.stringify(patch)}: ${response.text}`);
      assert.equal(errorOf(response).code, code, JSON.stringify(patch));
      assert.equal(errorOf(response).field, field, JSON.stringify(patch));
    }
    const list = await t.api<{ items: unknown[] }>('GET', '/v1/campaigns');
    assert.equal(list.body.items.length, 0);
  });

  it('sends to the active, unsuppressed contacts of its lists once each, and counts them', async () => {
    const created = await t.api<CampaignBody>('POST', '/v1/campaigns', {
      ...base(),
      lists: [listId, otherListId],
      pool: 'bulk-pool',
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.status, 'draft');
    const id = created.body.id;
    assert.equal((await get(id)).stats?.targeted, 0);

    const preview = await t.api<{ items: { subject: string; html: string }[] }>(
      'POST',
      `/v1/campaigns/${id}/preview`,
      { contactIds: ['ct_07'] },
    );
    assert.equal(preview.status, 200, preview.text);
    assert.deepEqual(preview.body.items[0], {
      contact: { id: 'ct_07', email: 'user7@example.com' },
      variant: 0,
      subject: 'Hi User7',
      html: '<p>Hello User7</p>',
    });

    const sent = await t.api<CampaignBody>('POST', `/v1/campaigns/${id}/send`);
    assert.equal(sent.status, 200, sent.text);
    assert.equal(sent.body.status, 'scheduled');
    const before = woken;
    await round();
    const after = await get(id);
    assert.equal(after.status, 'sent');
    assert.equal(after.phase, 'done');
    // 50 contacts − 2 unsubscribed − 1 suppressed; the 10 in both lists once.
    assert.equal(after.stats?.targeted, CONTACTS - 3);
    assert.equal(after.stats?.queued, CONTACTS - 3);
    assert.equal(after.stats?.suppressed, 1);
    assert.ok(woken - before >= 7, 'the worker is woken after each batch');

    // The patch and delete rules.
    const edit = await t.api('PATCH', `/v1/campaigns/${id}`, { name: 'x' });
    assert.equal(edit.status, 409);
    assert.equal(errorOf(edit).code, 'ERR_CAMPAIGN_STATE');
    assert.equal((await t.api('DELETE', `/v1/campaigns/${id}`)).status, 409);
    const again = await t.api('POST', `/v1/campaigns/${id}/send`);
    assert.equal(again.status, 409);
  });

  it('pauses (queued messages held), resumes, and cancels (queued messages failed)', async () => {
    const created = await t.api<CampaignBody>('POST', '/v1/campaigns', {
      ...base(),
      lists: [otherListId],
    });
    const id = created.body.id;
    await t.api('POST', `/v1/campaigns/${id}/send`);
    await round();
    assert.equal((await get(id)).status, 'sent');

    const paused = await t.api<CampaignBody>('POST', `/v1/campaigns/${id}/pause`);
    assert.equal(paused.status, 200, paused.text);
    assert.equal(paused.body.status, 'paused');
    assert.equal(paused.body.pause?.by, 'user');
    const claim = () =>
      t.store.messages.claim({ limit: 100, leaseMs: 60_000, owner: 'w', now: t.clock.now() });
    const held = (await claim()).filter((m) => m.campaignId === id);
    assert.equal(held.length, 0, 'held while paused');

    const resumed = await t.api<CampaignBody>('POST', `/v1/campaigns/${id}/resume`);
    assert.equal(resumed.body.status, 'sent');
    const claimed = (await claim()).filter((m) => m.campaignId === id);
    assert.equal(claimed.length, 7, '10 in the list − 2 unsubscribed − 1 suppressed');
    await t.store.messages.release(
      claimed.slice(0, 5).map((m) => m.id),
      'w',
      t.clock.now(),
    );

    const cancelled = await t.api<CampaignBody>('POST', `/v1/campaigns/${id}/cancel`);
    assert.equal(cancelled.body.status, 'cancelled');
    const stats = (await get(id)).stats;
    assert.equal(stats?.failed, 5, 'the queued ones');
    assert.equal((await t.api('POST', `/v1/campaigns/${id}/resume`)).status, 409);
  });

  it('schedules at sendAt, edits while scheduled, and deletes only drafts', async () => {
    const at = new Date(t.clock.now() + 3_600_000).toISOString();
    const created = await t.api<CampaignBody & { sendAt: string }>('POST', '/v1/campaigns', {
      ...base(),
      sendAt: at,
    });
    assert.equal(created.body.status, 'scheduled');
    const id = created.body.id;
    const renamed = await t.api<{ name: string }>('PATCH', `/v1/campaigns/${id}`, {
      name: 'Renamed',
      segment: { attribute: 'plan', op: 'eq', value: 'pro' },
      lists: [],
    });
    assert.equal(renamed.status, 200, renamed.text);
    assert.equal(renamed.body.name, 'Renamed');
    await round();
    assert.equal((await get(id)).status, 'scheduled', 'not yet');
    t.clock.advance(3_600_000);
    await round();
    const sent = await get(id);
    assert.equal(sent.status, 'sent');
    assert.equal(sent.stats?.targeted, 24, 'pro contacts (25) − one unsubscribed');

    const draft = await t.api<CampaignBody>('POST', '/v1/campaigns', base());
    assert.equal((await t.api('DELETE', `/v1/campaigns/${draft.body.id}`)).status, 204);
    assert.equal((await t.api('GET', `/v1/campaigns/${draft.body.id}`)).status, 404);
  });

  it('runs an A/B test: the test share first, then the winner to the rest', async () => {
    const created = await t.api<CampaignBody>('POST', '/v1/campaigns', {
      ...base(),
      variants: [
        { name: 'A', subject: 'A {{ contact.first_name | default: "" }}' },
        { name: 'B', subject: 'B {{ contact.first_name | default: "" }}' },
      ],
      test: { share: 0.4, metric: 'opens', window: '2h' },
    });
    assert.equal(created.status, 201, created.text);
    const id = created.body.id;
    await t.api('POST', `/v1/campaigns/${id}/send`);
    await round();
    const testing = await get(id);
    assert.equal(testing.status, 'sending');
    assert.equal(testing.phase, 'waiting');
    const tested = testing.stats?.targeted ?? 0;
    assert.ok(tested > 5 && tested < 35, `test share of 47: ${tested}`);
    const [a, b] = testing.stats?.variants ?? [];
    assert.ok(a && b && Math.abs(a.targeted - b.targeted) <= 1, 'split evenly');

    // Variant B gets opened.
    const messages = await t.store.messages.claim({
      limit: 100,
      leaseMs: 60_000,
      owner: 'w',
      now: t.clock.now(),
    });
    const ours = messages.filter((m) => m.campaignId === id);
    for (const m of ours.filter((m) => m.variant === 1)) {
      await t.store.engagement.record({
        id: newId('engagement'),
        kind: 'open',
        messageId: m.id,
        email: m.to.email,
        at: t.clock.now(),
      });
    }
    // Delivered, so the open rate has a denominator.
    const { delivered } = await import('../../store/contract/fixtures.js');
    await t.store.messages.settle(ours.map((m) => delivered(m.id, 'w', t.clock.now())));

    await round();
    assert.equal((await get(id)).phase, 'waiting', 'the window is not over');
    t.clock.advance(2 * 3_600_000);
    await round();
    const done = await get(id);
    assert.equal(done.status, 'sent');
    assert.deepEqual(done.winner, { index: 1, name: 'B', metric: 'opens' });
    assert.equal(done.stats?.targeted, CONTACTS - 3);
    const [va, vb] = done.stats?.variants ?? [];
    assert.equal(va?.targeted, a?.targeted, 'A got only its test share');
    assert.equal((vb?.targeted ?? 0) + (va?.targeted ?? 0), CONTACTS - 3);
    assert.equal(vb?.openRate, 1);
  });

  it('guard rails pause a campaign whose bounce rate passes the threshold', async () => {
    const created = await t.api<CampaignBody>('POST', '/v1/campaigns', {
      ...base(),
      lists: [otherListId],
    });
    const id = created.body.id;
    await t.api('POST', `/v1/campaigns/${id}/send`);
    await round();
    const claimed = (
      await t.store.messages.claim({ limit: 1000, leaseMs: 60_000, owner: 'w', now: t.clock.now() })
    ).filter((m) => m.campaignId === id);
    assert.equal(claimed.length, 7);
    const now = t.clock.now();
    await t.store.messages.settle(
      claimed.slice(0, 6).map((m, i) => ({
        id: m.id,
        leaseOwner: 'w',
        status: 'bounced' as const,
        ...(i < 3 ? { bounceCategory: 'bad-mailbox' as const } : {}),
        lastError: '550 5.1.1 no such user',
        at: now,
      })),
    );
    await t.store.messages.release(
      claimed.slice(6).map((m) => m.id),
      'w',
      now,
    );
    t.clock.advance(UPKEEP_INTERVAL_MS);
    await round();
    const paused = await get(id);
    assert.equal(paused.status, 'paused');
    assert.equal(paused.pause?.by, 'guard');
    assert.match(paused.pause?.reason ?? '', /bounce rate 100\.0% .*maxBounceRate 20\.0%/);
    assert.equal(paused.stats?.bounced, 6);
    assert.deepEqual(paused.stats?.bouncedByCategory, { 'bad-mailbox': 3, unknown: 3 });
    const held = await t.store.messages.get(claimed[6]?.id ?? '');
    assert.equal(held?.dueAt, CAMPAIGN_HOLD);

    // The user looked and goes on: the guard rails leave the campaign alone from now on.
    const resumed = await t.api<CampaignBody>('POST', `/v1/campaigns/${id}/resume`);
    assert.equal(resumed.body.status, 'sent');
    assert.equal(resumed.body.pause?.by, 'guard');
    assert.ok(resumed.body.pause?.resumedAt);
    t.clock.advance(UPKEEP_INTERVAL_MS);
    await round();
    assert.equal((await get(id)).status, 'sent', 'not paused again');
  });
});
