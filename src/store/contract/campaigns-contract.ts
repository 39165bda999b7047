import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initialProgress, type Campaign } from '../../core/campaign.js';
import { newId } from '../../core/ids.js';
import type { NewMessage } from '../../core/message.js';
import { CAMPAIGN_HOLD, type Store } from '../../core/ports/store.js';
import { delivered, MINUTE, newMessage, T0, withStore, type MakeStore } from './fixtures.js';

export function newCampaign(overrides: Partial<Campaign> = {}): Campaign {
  return {
    id: overrides.id ?? newId('campaign'),
    name: 'Spring sale',
    status: 'draft',
    from: { email: 'news@example.test', name: 'News' },
    content: { subject: 'Hi {{ contact.first_name }}', html: '<p>Sale</p>' },
    variables: { season: 'spring' },
    audience: { listIds: ['lst_1'] },
    variants: [],
    progress: initialProgress(),
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

function campaignMessage(campaignId: string, email: string, variant = 0): NewMessage {
  return newMessage({
    stream: 'bulk',
    to: { email },
    campaignId,
    variant,
    variables: {},
    headers: {},
  });
}

async function sending(store: Store, overrides: Partial<Campaign> = {}): Promise<Campaign> {
  const campaign = await store.campaigns.create(newCampaign(overrides));
  const started = await store.campaigns.transition(campaign.id, {
    from: ['draft'],
    to: 'sending',
    at: T0,
    sendAt: T0,
    startedAt: T0,
  });
  assert.ok(started);
  return started;
}

export function campaignsContract(makeStore: MakeStore): void {
  describe('campaigns', () => {
    it('stores, lists, edits a draft, and deletes only drafts', async () => {
      await withStore(makeStore, async (store) => {
        const campaign = newCampaign({
          variants: [
            { name: 'A', subject: 'A {{ x }}' },
            { name: 'B', subject: 'B', from: { email: 'b@example.test' } },
          ],
          test: { share: 0.2, metric: 'opens', windowMs: 3_600_000 },
          audience: { listIds: [], conditions: { attribute: 'plan', op: 'eq', value: 'pro' } },
          pool: 'bulk-pool',
          replyTo: { email: 'reply@example.test' },
        });
        await store.campaigns.create(campaign);
        assert.deepEqual(await store.campaigns.get(campaign.id), campaign);
        assert.equal(await store.campaigns.get('cmp_nope'), undefined);
        const other = await store.campaigns.create(newCampaign({ name: 'Other' }));
        assert.equal((await store.campaigns.getMany([campaign.id, other.id, 'x'])).length, 2);
        const page = await store.campaigns.list({ limit: 1 });
        assert.equal(page.items.length, 1);
        assert.ok(page.next);
        const drafts = await store.campaigns.list({ limit: 10, status: 'draft' });
        assert.equal(drafts.items.length, 2);
        assert.equal((await store.campaigns.list({ limit: 10, status: 'sent' })).items.length, 0);

        const edited = await store.campaigns.update(
          campaign.id,
          {
            name: 'Renamed',
            definition: { ...campaign, variants: [] },
            sendAt: T0 + 5,
            at: T0 + 1,
          },
          ['draft', 'scheduled'],
        );
        assert.equal(edited?.name, 'Renamed');
        assert.deepEqual(edited?.variants, []);
        assert.equal(edited?.sendAt, T0 + 5);
        assert.equal(edited?.updatedAt, T0 + 1);

        await store.campaigns.transition(other.id, {
          from: ['draft'],
          to: 'scheduled',
          at: T0,
          sendAt: T0 + MINUTE,
        });
        const refused = await store.campaigns.update(
          other.id,
          { name: 'x', definition: other, at: T0 },
          ['draft'],
        );
        assert.equal(refused, undefined, 'not a draft any more');
        assert.equal(await store.campaigns.deleteDraft(other.id), false);
        assert.equal(await store.campaigns.deleteDraft(campaign.id), true);
        assert.equal(await store.campaigns.get(campaign.id), undefined);
      });
    });

    it('schedules: due campaigns by sendAt, and a transition only from the states given', async () => {
      await withStore(makeStore, async (store) => {
        assert.equal(await store.campaigns.nextSendAt(), undefined);
        const a = await store.campaigns.create(newCampaign());
        const b = await store.campaigns.create(newCampaign());
        await store.campaigns.transition(a.id, {
          from: ['draft'],
          to: 'scheduled',
          at: T0,
          sendAt: T0 + 2 * MINUTE,
        });
        await store.campaigns.transition(b.id, {
          from: ['draft'],
          to: 'scheduled',
          at: T0,
          sendAt: T0 + MINUTE,
        });
        assert.equal(await store.campaigns.nextSendAt(), T0 + MINUTE);
        assert.deepEqual(await store.campaigns.due(T0, 10), []);
        assert.deepEqual(await store.campaigns.due(T0 + 3 * MINUTE, 10), [b.id, a.id]);
        const started = await store.campaigns.transition(b.id, {
          from: ['scheduled'],
          to: 'sending',
          at: T0 + MINUTE,
          startedAt: T0 + MINUTE,
        });
        assert.equal(started?.status, 'sending');
        assert.equal(started?.startedAt, T0 + MINUTE);
        const again = await store.campaigns.transition(b.id, {
          from: ['scheduled'],
          to: 'sending',
          at: T0 + MINUTE,
        });
        assert.equal(again, undefined, 'a second scheduler loses');
        const paused = await store.campaigns.transition(b.id, {
          from: ['sending'],
          to: 'paused',
          at: T0 + 2 * MINUTE,
          pause: { by: 'guard', reason: 'bounce rate 12% > 5%', at: T0 + 2 * MINUTE },
        });
        assert.deepEqual(paused?.pause, {
          by: 'guard',
          reason: 'bounce rate 12% > 5%',
          at: T0 + 2 * MINUTE,
        });
        const resumed = await store.campaigns.transition(b.id, {
          from: ['paused'],
          to: 'sending',
          at: T0 + 3 * MINUTE,
          pause: null,
          startedAt: T0 + 3 * MINUTE,
        });
        assert.equal(resumed?.pause, undefined);
        assert.equal(resumed?.startedAt, T0 + MINUTE, 'startedAt is kept');
      });
    });

    it('counts a large batch’s new recipients, duplicates within it and with earlier ones skipped', async () => {
      await withStore(makeStore, async (store) => {
        const campaign = await sending(store);
        const first = Array.from({ length: 30 }, (_, i) =>
          campaignMessage(campaign.id, `r${i}@x.test`),
        );
        assert.equal(await store.messages.acceptBatch(first, { campaignId: campaign.id }), 30);
        // 130 messages: r0 – r29 again, r30 – r129 new, r40 – r49 a second time in the batch.
        const emails = Array.from({ length: 120 }, (_, i) => `r${i + 10}@x.test`);
        emails.splice(0, 0, ...Array.from({ length: 10 }, (_, i) => `r${i}@x.test`));
        emails.splice(65, 0, ...Array.from({ length: 10 }, (_, i) => `r${i + 40}@x.test`));
        const batch = emails.map((e) => campaignMessage(campaign.id, e));
        assert.equal(batch.length, 140);
        assert.equal(await store.messages.acceptBatch(batch, { campaignId: campaign.id }), 100);
        const counts = await store.messages.countByStatus();
        assert.equal(counts.queued, 130);
        const last = batch[batch.length - 1];
        assert.equal((await store.messages.get(last?.id ?? ''))?.to.email, 'r129@x.test');
      });
    });

    it('accepts a fan-out batch once per recipient, only while the campaign is sending', async () => {
      await withStore(makeStore, async (store) => {
        const campaign = await sending(store);
        const batch = ['a@x.test', 'b@x.test', 'c@x.test'].map((e) =>
          campaignMessage(campaign.id, e),
        );
        assert.equal(await store.messages.acceptBatch(batch, { campaignId: campaign.id }), 3);
        const stored = await store.messages.get(batch[0]?.id ?? '');
        assert.equal(stored?.campaignId, campaign.id);
        assert.equal(stored?.variant, 0);
        // The same recipients again (a resumed fan-out, or a contact in two lists): nothing new.
        const again = ['a@x.test', 'b@x.test', 'd@x.test'].map((e) =>
          campaignMessage(campaign.id, e, 1),
        );
        assert.equal(await store.messages.acceptBatch(again, { campaignId: campaign.id }), 1);
        // Another campaign may write the same address.
        const other = await sending(store);
        assert.equal(
          await store.messages.acceptBatch([campaignMessage(other.id, 'a@x.test')], {
            campaignId: other.id,
          }),
          1,
        );
        // Messages without a campaign are not constrained.
        assert.equal(
          await store.messages.acceptBatch([
            newMessage({ to: { email: 'a@x.test' } }),
            newMessage({ to: { email: 'a@x.test' } }),
          ]),
          2,
        );
        await store.campaigns.transition(campaign.id, {
          from: ['sending'],
          to: 'paused',
          at: T0,
          messages: 'hold',
        });
        assert.equal(
          await store.messages.acceptBatch([campaignMessage(campaign.id, 'e@x.test')], {
            campaignId: campaign.id,
          }),
          0,
          'a paused campaign takes no batch',
        );
        assert.deepEqual(await store.messages.acceptBatch([]), 0);
        const counts = await store.campaigns.messageCounts(campaign.id);
        assert.deepEqual(
          counts.sort((x, y) => x.variant - y.variant),
          [
            { variant: 0, status: 'queued', count: 3 },
            { variant: 1, status: 'queued', count: 1 },
          ],
        );
      });
    });

    it('pause holds queued messages from the claimer, resume lets them go, cancel fails them', async () => {
      await withStore(makeStore, async (store) => {
        const campaign = await sending(store);
        const batch = Array.from({ length: 4 }, (_, i) =>
          campaignMessage(campaign.id, `r${i}@x.test`),
        );
        await store.messages.acceptBatch(batch, { campaignId: campaign.id });
        const [first] = await store.messages.claim({
          limit: 1,
          leaseMs: MINUTE,
          owner: 'w1',
          now: T0,
        });
        assert.ok(first);
        await store.campaigns.transition(campaign.id, {
          from: ['sending'],
          to: 'paused',
          at: T0 + 1,
          pause: { by: 'user', reason: 'paused by the API', at: T0 + 1 },
          messages: 'hold',
        });
        const held = await store.messages.get(batch.find((m) => m.id !== first.id)?.id ?? '');
        assert.equal(held?.dueAt, CAMPAIGN_HOLD);
        assert.deepEqual(
          await store.messages.claim({ limit: 10, leaseMs: MINUTE, owner: 'w1', now: T0 + 2 }),
          [],
        );
        // The message in flight at the pause settles as usual.
        assert.deepEqual(await store.messages.settle([delivered(first.id, 'w1', T0 + 3)]), [
          first.id,
        ]);
        assert.equal(await store.campaigns.sweepPaused(campaign.id, T0 + 3), 0);

        await store.campaigns.transition(campaign.id, {
          from: ['paused'],
          to: 'sending',
          at: T0 + 10,
          pause: null,
          messages: 'release',
        });
        const claimed = await store.messages.claim({
          limit: 10,
          leaseMs: MINUTE,
          owner: 'w1',
          now: T0 + 10,
        });
        assert.equal(claimed.length, 3);
        assert.ok(claimed.every((m) => m.campaignId === campaign.id));
        await store.messages.release(
          claimed.slice(0, 2).map((m) => m.id),
          'w1',
          T0 + 11,
        );

        const cancelled = await store.campaigns.transition(campaign.id, {
          from: ['sending', 'paused', 'sent'],
          to: 'cancelled',
          at: T0 + 12,
          messages: 'cancel',
        });
        assert.equal(cancelled?.status, 'cancelled');
        const counts = await store.campaigns.messageCounts(campaign.id);
        const byStatus = Object.fromEntries(counts.map((c) => [c.status, c.count]));
        assert.deepEqual(byStatus, { delivered: 1, failed: 2, sending: 1 });
        const failed = await store.messages.get(claimed[0]?.id ?? '');
        assert.equal(failed?.lastError, 'campaign cancelled');
        assert.equal(await store.campaigns.completeIfSettled(campaign.id, T0 + 13), false);
        // The one still leased: its lease runs out, the sweep settles it.
        assert.equal(await store.campaigns.sweepCancelled(campaign.id, T0 + 12), 0);
        assert.equal(await store.campaigns.sweepCancelled(campaign.id, T0 + 10 + MINUTE), 1);
        assert.equal(await store.campaigns.completeIfSettled(campaign.id, T0 + 2 * MINUTE), true);
        assert.equal((await store.campaigns.get(campaign.id))?.completedAt, T0 + 2 * MINUTE);
        assert.deepEqual(await store.campaigns.active(10), []);
      });
    });

    it('leases the fan-out of a campaign to one owner until the lease runs out', async () => {
      await withStore(makeStore, async (store) => {
        assert.equal(await store.campaigns.claimFanOut('n1', T0, MINUTE), undefined);
        const campaign = await sending(store);
        const mine = await store.campaigns.claimFanOut('n1', T0, MINUTE);
        assert.equal(mine?.id, campaign.id);
        assert.equal(await store.campaigns.claimFanOut('n2', T0 + 1, MINUTE), undefined);
        const progress = { ...campaign.progress, phase: 'all' as const, after: 'ct_5', created: 5 };
        assert.equal(
          await store.campaigns.saveFanOut(campaign.id, {
            owner: 'n1',
            progress,
            at: T0 + 2,
            leaseUntil: T0 + 2 + MINUTE,
          }),
          true,
        );
        assert.equal(await store.campaigns.claimFanOut('n2', T0 + MINUTE + 1, MINUTE), undefined);
        // n1 dies: after its lease, n2 takes over from the saved cursor.
        const taken = await store.campaigns.claimFanOut('n2', T0 + 2 * MINUTE + 3, MINUTE);
        assert.deepEqual(taken?.progress, progress);
        assert.equal(
          await store.campaigns.saveFanOut(campaign.id, {
            owner: 'n1',
            progress,
            at: T0 + 2 * MINUTE + 4,
            leaseUntil: T0 + 3 * MINUTE,
          }),
          false,
          'a lost lease saves nothing',
        );
        // A test waiting for its window is not ready before testEndsAt.
        assert.equal(
          await store.campaigns.saveFanOut(campaign.id, {
            owner: 'n2',
            progress: { ...progress, phase: 'waiting' },
            at: T0 + 2 * MINUTE + 5,
            testEndsAt: T0 + 10 * MINUTE,
            leaseUntil: T0 + 3 * MINUTE,
          }),
          true,
        );
        await store.campaigns.releaseFanOut(campaign.id, 'n2');
        assert.equal(await store.campaigns.claimFanOut('n1', T0 + 9 * MINUTE, MINUTE), undefined);
        const ready = await store.campaigns.claimFanOut('n1', T0 + 10 * MINUTE, MINUTE);
        assert.equal(ready?.testEndsAt, T0 + 10 * MINUTE);
        assert.equal(
          await store.campaigns.saveFanOut(campaign.id, {
            owner: 'n1',
            progress: { ...progress, phase: 'rest' },
            winner: 1,
            at: T0 + 10 * MINUTE,
            leaseUntil: T0 + 11 * MINUTE,
          }),
          true,
        );
        assert.equal(
          await store.campaigns.finishFanOut(campaign.id, 'n1', progress, T0 + 11 * MINUTE),
          true,
        );
        const sent = await store.campaigns.get(campaign.id);
        assert.equal(sent?.status, 'sent');
        assert.equal(sent?.winner, 1);
        assert.equal(sent?.progress.phase, 'done');
        assert.equal(sent?.fannedOutAt, T0 + 11 * MINUTE);
        assert.equal(await store.campaigns.claimFanOut('n1', T0 + 20 * MINUTE, MINUTE), undefined);
        assert.equal(await store.campaigns.completeIfSettled(campaign.id, T0), true, 'no messages');
      });
    });

    it('counts messages by variant and status, unique engagement, and complaints', async () => {
      await withStore(makeStore, async (store) => {
        const campaign = await sending(store);
        const messages = ['a@x.test', 'b@x.test', 'c@x.test'].map((e, i) =>
          campaignMessage(campaign.id, e, i % 2),
        );
        await store.messages.acceptBatch(messages, { campaignId: campaign.id });
        const [a, b] = messages;
        assert.ok(a && b);
        for (const kind of ['open', 'open', 'click'] as const) {
          await store.engagement.record({
            id: newId('engagement'),
            kind,
            messageId: a.id,
            email: a.to.email,
            at: T0,
          });
        }
        await store.engagement.record({
          id: newId('engagement'),
          kind: 'open',
          messageId: b.id,
          email: b.to.email,
          at: T0,
        });
        const engagement = await store.campaigns.engagementCounts(campaign.id);
        const sorted = engagement.sort((x, y) =>
          `${x.variant}${x.kind}`.localeCompare(`${y.variant}${y.kind}`),
        );
        assert.deepEqual(sorted, [
          { variant: 0, kind: 'click', messages: 1 },
          { variant: 0, kind: 'open', messages: 1 },
          { variant: 1, kind: 'open', messages: 1 },
        ]);
        const counts = await store.campaigns.messageCounts(campaign.id);
        assert.deepEqual(
          counts.sort((x, y) => x.variant - y.variant),
          [
            { variant: 0, status: 'queued', count: 2 },
            { variant: 1, status: 'queued', count: 1 },
          ],
        );
        assert.equal(await store.campaigns.complaints(campaign.id), 0);
        await store.contacts.upsert({
          id: newId('contact'),
          email: 'c@x.test',
          status: 'complained',
          at: T0,
        });
        assert.equal(await store.campaigns.complaints(campaign.id), 1);
      });
    });
  });
}
