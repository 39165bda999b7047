import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newId } from '../../core/ids.js';
import { newCampaign } from './campaigns-contract.js';
import {
  delivered,
  MINUTE,
  newMessage,
  rejectsWith,
  T0,
  withStore,
  type MakeStore,
} from './fixtures.js';

export function dashboardContract(makeStore: MakeStore): void {
  describe('dashboard queries', () => {
    it('finds messages by recipient, newest first, a page at a time, the domain compared lower-cased', async () => {
      await withStore(makeStore, async (store) => {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) {
          const id = newId('message');
          ids.push(id);
          await store.messages.accept(
            newMessage({ id, to: { email: 'Ada@example.test' }, createdAt: T0 + i * MINUTE }),
          );
        }
        await store.messages.accept(newMessage({ to: { email: 'bob@example.test' } }));
        const first = await store.dashboard.searchMessages({
          recipient: ' Ada@EXAMPLE.test ',
          limit: 3,
        });
        assert.deepEqual(
          first.items.map((m) => m.id),
          [ids[4], ids[3], ids[2]],
        );
        assert.ok(first.next);
        const second = await store.dashboard.searchMessages({
          recipient: 'Ada@example.test',
          limit: 3,
          after: first.next,
        });
        assert.deepEqual(
          second.items.map((m) => m.id),
          [ids[1], ids[0]],
        );
        assert.equal(second.next, undefined);
        const item = first.items[0];
        assert.equal(item?.to, 'Ada@example.test');
        assert.equal(item?.status, 'queued');
        assert.equal(item?.subject, 'Hello {{ name }}');
        assert.equal(item?.createdAt, T0 + 4 * MINUTE);
        assert.deepEqual(
          (await store.dashboard.searchMessages({ recipient: 'nobody@example.test', limit: 3 }))
            .items,
          [],
        );
        await rejectsWith(
          store.dashboard.searchMessages({ recipient: 'x@y.test', limit: 3, after: 'garbage' }),
          'ERR_VALIDATION',
          'after',
        );
      });
    });

    it('lists the messages not yet final oldest first, and tells the oldest one', async () => {
      await withStore(makeStore, async (store) => {
        assert.equal(await store.dashboard.oldestPendingAt(), undefined);
        const old = newMessage({ createdAt: T0 });
        const newer = newMessage({ createdAt: T0 + MINUTE });
        const newest = newMessage({ createdAt: T0 + 2 * MINUTE });
        for (const m of [newest, old, newer]) await store.messages.accept(m);
        assert.equal(await store.dashboard.oldestPendingAt(), T0);

        const claimed = await store.messages.claim({
          limit: 1,
          leaseMs: MINUTE,
          owner: 'node-a',
          now: T0 + 3 * MINUTE,
        });
        assert.equal(claimed[0]?.id, old.id, 'claimed (sending) is still waiting');
        assert.equal(await store.dashboard.oldestPendingAt(), T0);
        await store.messages.settle([delivered(old.id, 'node-a', T0 + 3 * MINUTE)]);
        assert.equal(await store.dashboard.oldestPendingAt(), T0 + MINUTE);

        const page1 = await store.dashboard.searchMessages({ limit: 1 });
        assert.deepEqual(
          page1.items.map((m) => m.id),
          [newer.id],
        );
        const page2 = await store.dashboard.searchMessages({ limit: 5, after: page1.next });
        assert.deepEqual(
          page2.items.map((m) => m.id),
          [newest.id],
        );
        const found = await store.dashboard.searchMessages({
          recipient: 'rcpt@example.test',
          limit: 5,
        });
        assert.deepEqual(
          found.items.map((m) => [m.id, m.status, m.attempts]),
          [
            [newest.id, 'queued', 0],
            [newer.id, 'queued', 0],
            [old.id, 'delivered', 1],
          ],
        );
      });
    });

    it('pages the waiting list across queued, deferred and sending messages in (created_at, id) order', async () => {
      await withStore(makeStore, async (store) => {
        // 9 messages, three at each of three times, ids in order within a time.
        const messages = Array.from({ length: 9 }, (_, i) =>
          newMessage({ id: `msg_${i}`, createdAt: T0 + Math.floor(i / 3) * MINUTE }),
        );
        for (const m of [...messages].reverse()) await store.messages.accept(m);
        const lease = { leaseMs: MINUTE, owner: 'node-a' };
        // msg_0 – msg_3 sending; then msg_1 deferred, msg_2 delivered (no longer waiting).
        await store.messages.claim({ ...lease, limit: 4, now: T0 + 3 * MINUTE });
        await store.messages.settle([
          {
            id: 'msg_1',
            leaseOwner: 'node-a',
            status: 'deferred',
            dueAt: T0 + 60 * MINUTE,
            lastError: '451 4.3.0 try later',
            at: T0 + 3 * MINUTE,
          },
          delivered('msg_2', 'node-a', T0 + 3 * MINUTE),
        ]);
        const waiting = ['msg_0', 'msg_1', 'msg_3', 'msg_4', 'msg_5', 'msg_6', 'msg_7', 'msg_8'];
        const seen: string[] = [];
        let after: string | undefined;
        for (let pages = 0; pages < 10; pages++) {
          const page = await store.dashboard.searchMessages({
            limit: 3,
            ...(after !== undefined ? { after } : {}),
          });
          seen.push(...page.items.map((m) => m.id));
          if (page.next === undefined) break;
          after = page.next;
        }
        assert.deepEqual(seen, waiting);
        assert.equal(await store.dashboard.oldestPendingAt(), T0);
      });
    });

    it("lists one campaign's messages by address a page at a time, or its message to one address", async () => {
      await withStore(makeStore, async (store) => {
        const make = async () => {
          const created = await store.campaigns.create(newCampaign());
          const started = await store.campaigns.transition(created.id, {
            from: ['draft'],
            to: 'sending',
            at: T0,
            sendAt: T0,
            startedAt: T0,
          });
          assert.ok(started);
          return started;
        };
        const campaign = await make();
        const other = await make();
        const batch = (id: string, emails: string[]) =>
          emails.map((email) =>
            newMessage({ stream: 'bulk', to: { email }, campaignId: id, variant: 0 }),
          );
        await store.messages.acceptBatch(
          batch(campaign.id, ['c@x.test', 'a@x.test', 'e.f@x.test', 'b@x.test']),
          { campaignId: campaign.id },
        );
        await store.messages.acceptBatch(batch(other.id, ['a@x.test', 'aa@x.test']), {
          campaignId: other.id,
        });
        await store.messages.accept(newMessage({ to: { email: 'a@x.test' } }));

        const first = await store.dashboard.searchMessages({ campaignId: campaign.id, limit: 3 });
        assert.deepEqual(
          first.items.map((m) => m.to),
          ['a@x.test', 'b@x.test', 'c@x.test'],
        );
        assert.ok(first.next);
        const second = await store.dashboard.searchMessages({
          campaignId: campaign.id,
          limit: 3,
          after: first.next,
        });
        assert.deepEqual(
          second.items.map((m) => m.to),
          ['e.f@x.test'],
        );
        assert.equal(second.next, undefined);
        const one = await store.dashboard.searchMessages({
          campaignId: other.id,
          recipient: 'a@X.TEST',
          limit: 3,
        });
        assert.deepEqual(
          one.items.map((m) => [m.to, m.status]),
          [['a@x.test', 'queued']],
        );
        assert.deepEqual(
          (await store.dashboard.searchMessages({ campaignId: 'campaign_none', limit: 3 })).items,
          [],
        );
        await rejectsWith(
          store.dashboard.searchMessages({ campaignId: campaign.id, limit: 3, after: '%%' }),
          'ERR_VALIDATION',
          'after',
        );
      });
    });
  });
}
