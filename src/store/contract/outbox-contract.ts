import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MESSAGE_STATUSES } from '../../core/message.js';
import {
  acceptAll,
  deferred,
  delivered,
  MINUTE,
  newMessage,
  T0,
  withStore,
  type MakeStore,
} from './fixtures.js';

const LEASE = 5 * MINUTE;

export function outboxContract(make: MakeStore): void {
  describe('messages.claim', () => {
    it('takes transactional before bulk, then the earliest due, up to the limit', () =>
      withStore(make, async (store) => {
        const [bulkEarly, txLate, txEarly, bulkLate, future] = await acceptAll(store, 5, (i) => {
          const plan = [
            { stream: 'bulk', createdAt: T0 - 3000 },
            { stream: 'transactional', createdAt: T0 - 1000 },
            { stream: 'transactional', createdAt: T0 - 2000 },
            { stream: 'bulk', createdAt: T0 - 500 },
            { stream: 'transactional', createdAt: T0 + 1 },
          ] as const;
          return plan[i] ?? {};
        });
        const ids = (m: { id: string } | undefined): string => m?.id ?? '';
        const three = await store.messages.claim({
          limit: 3,
          leaseMs: LEASE,
          owner: 'w1',
          now: T0,
        });
        assert.deepEqual(
          three.map((m) => m.id),
          [ids(txEarly), ids(txLate), ids(bulkEarly)],
        );
        const rest = await store.messages.claim({
          limit: 10,
          leaseMs: LEASE,
          owner: 'w1',
          now: T0,
        });
        assert.deepEqual(
          rest.map((m) => m.id),
          [ids(bulkLate)],
          'a message due in the future is not claimed',
        );
        assert.equal((await store.messages.get(ids(future)))?.status, 'queued');
      }));

    it('leases the rows it returns: sending, due at the lease end, owned', () =>
      withStore(make, async (store) => {
        const [message] = await acceptAll(store, 1, () => ({}));
        const [claimed] = await store.messages.claim({
          limit: 10,
          leaseMs: LEASE,
          owner: 'w1',
          now: T0 + 10,
        });
        assert.ok(claimed && message);
        const expected = {
          ...message,
          status: 'sending' as const,
          attempts: 0,
          dueAt: T0 + 10 + LEASE,
          leaseOwner: 'w1',
          updatedAt: T0 + 10,
        };
        assert.deepEqual(claimed, expected);
        assert.deepEqual(await store.messages.get(message.id), expected);
      }));

    it('joins the contact whose email is the recipient', () =>
      withStore(make, async (store) => {
        const { contact } = await store.contacts.upsert({
          id: 'ct_1',
          email: 'known@example.test',
          attributes: { plan: 'pro', seats: 3 },
          at: T0,
        });
        await acceptAll(store, 2, (i) => ({
          to: { email: i === 0 ? 'known@example.test' : 'stranger@example.test' },
          createdAt: T0 + i,
        }));
        const [known, stranger] = await store.messages.claim({
          limit: 10,
          leaseMs: LEASE,
          owner: 'w1',
          now: T0 + 5,
        });
        assert.deepEqual(known?.contact, { id: contact.id, attributes: { plan: 'pro', seats: 3 } });
        assert.ok(stranger);
        assert.equal('contact' in stranger, false);
      }));

    it('returns every field as stored, a retried message’s error and category too', () =>
      withStore(make, async (store) => {
        const [message] = await acceptAll(store, 1, () => ({
          from: { email: 'news@example.test', name: 'News' },
          to: { email: 'ada@example.test', name: 'Ada' },
          replyTo: { email: 'help@example.test', name: 'Help' },
          templateId: 'tpl_1',
          html: '<p>Hi</p>',
          campaignId: 'cmp_1',
          variant: 1,
          eventReceivedAt: T0 - 5,
        }));
        assert.ok(message);
        const lease = { limit: 1, leaseMs: LEASE, owner: 'w1' };
        await store.messages.claim({ ...lease, now: T0 });
        await store.messages.settle([
          { ...deferred(message.id, 'w1', T0 + 1, T0 + 2), bounceCategory: 'rate-limited' },
        ]);
        const [claimed] = await store.messages.claim({ ...lease, now: T0 + 2 });
        assert.ok(claimed);
        assert.deepEqual(claimed, await store.messages.get(message.id));
        assert.equal(claimed.lastError, '451 4.3.0 try later');
        assert.equal(claimed.bounceCategory, 'rate-limited');
        assert.equal(claimed.attempts, 1);
        assert.equal(claimed.eventReceivedAt, T0 - 5);
        assert.equal(claimed.variant, 1);
        assert.deepEqual(claimed.replyTo, { email: 'help@example.test', name: 'Help' });
      }));

    it('does not hand a leased row out again until its lease runs out', () =>
      withStore(make, async (store) => {
        const [message] = await acceptAll(store, 1, () => ({}));
        const first = await store.messages.claim({
          limit: 10,
          leaseMs: LEASE,
          owner: 'w1',
          now: T0,
        });
        assert.equal(first.length, 1);
        const during = await store.messages.claim({
          limit: 10,
          leaseMs: LEASE,
          owner: 'w2',
          now: T0 + LEASE - 1,
        });
        assert.deepEqual(during, []);
        const after = await store.messages.claim({
          limit: 10,
          leaseMs: LEASE,
          owner: 'w2',
          now: T0 + LEASE,
        });
        assert.deepEqual(
          after.map((m) => [m.id, m.leaseOwner]),
          [[message?.id, 'w2']],
        );
      }));

    it('never gives one row to two concurrent claimers', () =>
      withStore(make, async (store) => {
        await acceptAll(store, 200, (i) => ({ createdAt: T0 - i }));
        const request = { limit: 150, leaseMs: LEASE, now: T0 };
        const [a, b] = await Promise.all([
          store.messages.claim({ ...request, owner: 'w1' }),
          store.messages.claim({ ...request, owner: 'w2' }),
        ]);
        const ids = [...a, ...b].map((m) => m.id);
        assert.equal(ids.length, 200);
        assert.equal(new Set(ids).size, 200);
        assert.ok(a.every((m) => m.leaseOwner === 'w1'));
        assert.ok(b.every((m) => m.leaseOwner === 'w2'));
      }));
  });

  describe('messages.settle', () => {
    it('applies a final state, counts the attempt and records it', () =>
      withStore(make, async (store) => {
        const [message] = await acceptAll(store, 1, () => ({}));
        const id = message?.id ?? '';
        await store.messages.claim({ limit: 1, leaseMs: LEASE, owner: 'w1', now: T0 });
        const settlement = delivered(id, 'w1', T0 + 200);
        assert.deepEqual(await store.messages.settle([settlement]), [id]);
        const stored = await store.messages.get(id);
        assert.equal(stored?.status, 'delivered');
        assert.equal(stored?.attempts, 1);
        assert.equal(stored?.updatedAt, T0 + 200);
        assert.equal(stored && 'leaseOwner' in stored, false);
        assert.deepEqual(await store.messages.attempts(id), [settlement.attempt]);
      }));

    it('skips a settlement whose owner no longer holds the lease', () =>
      withStore(make, async (store) => {
        const [message] = await acceptAll(store, 1, () => ({}));
        const id = message?.id ?? '';
        await store.messages.claim({ limit: 1, leaseMs: LEASE, owner: 'w1', now: T0 });
        await store.messages.claim({ limit: 1, leaseMs: LEASE, owner: 'w2', now: T0 + LEASE });
        assert.deepEqual(await store.messages.settle([delivered(id, 'w1', T0 + LEASE + 1)]), []);
        const stored = await store.messages.get(id);
        assert.equal(stored?.status, 'sending');
        assert.equal(stored?.leaseOwner, 'w2');
        assert.equal(stored?.attempts, 0);
        assert.deepEqual(await store.messages.attempts(id), []);
        assert.deepEqual(await store.messages.settle([delivered(id, 'w2', T0 + LEASE + 2)]), [id]);
      }));

    it('applies a batch in one call and skips rows already settled', () =>
      withStore(make, async (store) => {
        const messages = await acceptAll(store, 3, (i) => ({ createdAt: T0 - i }));
        const [a, b, c] = messages.map((m) => m.id);
        await store.messages.claim({ limit: 3, leaseMs: LEASE, owner: 'w1', now: T0 });
        const applied = await store.messages.settle([
          delivered(a ?? '', 'w1', T0 + 1),
          {
            id: b ?? '',
            leaseOwner: 'w1',
            status: 'failed',
            lastError: 'render error',
            at: T0 + 1,
          },
          delivered(c ?? '', 'w9', T0 + 1),
        ]);
        assert.deepEqual(applied, [a, b]);
        const failed = await store.messages.get(b ?? '');
        assert.equal(failed?.status, 'failed');
        assert.equal(failed?.lastError, 'render error');
        assert.equal(failed?.attempts, 0, 'no attempt given, none counted');
        assert.deepEqual(await store.messages.settle([delivered(a ?? '', 'w1', T0 + 2)]), []);
        assert.equal((await store.messages.attempts(a ?? '')).length, 1);
      }));

    it('makes a deferred row due again at its dueAt, and counts each attempt', () =>
      withStore(make, async (store) => {
        const [message] = await acceptAll(store, 1, () => ({}));
        const id = message?.id ?? '';
        await store.messages.claim({ limit: 1, leaseMs: LEASE, owner: 'w1', now: T0 });
        const retryAt = T0 + 10 * MINUTE;
        const first = deferred(id, 'w1', T0 + 100, retryAt);
        assert.deepEqual(await store.messages.settle([first]), [id]);
        const stored = await store.messages.get(id);
        assert.equal(stored?.status, 'deferred');
        assert.equal(stored?.dueAt, retryAt);
        assert.equal(stored?.lastError, '451 4.3.0 try later');
        assert.equal(stored?.attempts, 1);
        assert.equal(await store.messages.nextDueAt(), retryAt);
        const early = { limit: 1, leaseMs: LEASE, owner: 'w2', now: retryAt - 1 };
        assert.deepEqual(await store.messages.claim(early), []);
        const again = await store.messages.claim({ ...early, now: retryAt });
        assert.equal(again[0]?.attempts, 1);
        const second = delivered(id, 'w2', retryAt + 100);
        assert.deepEqual(await store.messages.settle([second]), [id]);
        assert.equal((await store.messages.get(id))?.attempts, 2);
        const history = await store.messages.attempts(id);
        assert.deepEqual(
          history.map((a) => [a.attempt, a.outcome, a.code, a.enhancedCode]),
          [
            [1, 'deferred', 451, '4.3.0'],
            [2, 'delivered', 250, undefined],
          ],
        );
      }));
  });

  describe('messages.release', () => {
    it('hands unsent claims back, due now, and only the owner can', () =>
      withStore(make, async (store) => {
        const messages = await acceptAll(store, 2, (i) => ({ createdAt: T0 - i }));
        const ids = messages.map((m) => m.id);
        await store.messages.claim({ limit: 2, leaseMs: LEASE, owner: 'w1', now: T0 });
        await store.messages.release(ids, 'w2', T0 + 5);
        assert.equal((await store.messages.countByStatus()).sending, 2, 'a stranger cannot');
        await store.messages.release(ids, 'w1', T0 + 5);
        for (const id of ids) {
          const stored = await store.messages.get(id);
          assert.equal(stored?.status, 'queued');
          assert.equal(stored?.dueAt, T0 + 5);
          assert.equal(stored && 'leaseOwner' in stored, false);
        }
        const again = await store.messages.claim({
          limit: 5,
          leaseMs: LEASE,
          owner: 'w3',
          now: T0 + 5,
        });
        assert.equal(again.length, 2);
      }));
  });

  describe('messages.reclaimAbandoned', () => {
    it('hands back every claim, whoever holds it, and only claims', () =>
      withStore(make, async (store) => {
        await acceptAll(store, 3, (i) => ({ createdAt: T0 - i }));
        const [first, second] = await store.messages.claim({
          limit: 2,
          leaseMs: LEASE,
          owner: 'dead',
          now: T0,
        });
        await store.messages.settle([delivered(first?.id ?? '', 'dead', T0 + 1)]);
        assert.equal(await store.messages.reclaimAbandoned(T0 + 2), 1);
        const back = await store.messages.get(second?.id ?? '');
        assert.equal(back?.status, 'queued');
        assert.equal(back?.dueAt, T0 + 2);
        assert.equal((await store.messages.get(first?.id ?? ''))?.status, 'delivered');
        const again = await store.messages.claim({
          limit: 5,
          leaseMs: LEASE,
          owner: 'next',
          now: T0 + 2,
        });
        assert.equal(again.length, 2, 'the reclaimed message and the never-claimed one');
      }));
  });

  describe('messages.countByStatus and nextDueAt', () => {
    it('counts every status, 0 when none', () =>
      withStore(make, async (store) => {
        const empty = await store.messages.countByStatus();
        assert.deepEqual(Object.keys(empty).sort(), [...MESSAGE_STATUSES].sort());
        assert.ok(Object.values(empty).every((n) => n === 0));
        await acceptAll(store, 4, (i) => ({ createdAt: T0 - i }));
        const claimed = await store.messages.claim({
          limit: 2,
          leaseMs: LEASE,
          owner: 'w1',
          now: T0,
        });
        await store.messages.settle([delivered(claimed[0]?.id ?? '', 'w1', T0 + 1)]);
        const counts = await store.messages.countByStatus();
        assert.deepEqual(
          { queued: counts.queued, sending: counts.sending, delivered: counts.delivered },
          { queued: 2, sending: 1, delivered: 1 },
        );
        assert.equal(counts.bounced, 0);
      }));

    it('gives the earliest dueAt of claimable rows, leases included', () =>
      withStore(make, async (store) => {
        assert.equal(await store.messages.nextDueAt(), undefined);
        await store.messages.accept(newMessage({ stream: 'bulk', createdAt: T0 + 300 }));
        await store.messages.accept(newMessage({ createdAt: T0 + 200 }));
        assert.equal(await store.messages.nextDueAt(), T0 + 200);
        const [claimed] = await store.messages.claim({
          limit: 1,
          leaseMs: LEASE,
          owner: 'w1',
          now: T0 + 250,
        });
        assert.equal(await store.messages.nextDueAt(), T0 + 300);
        await store.messages.claim({ limit: 1, leaseMs: LEASE, owner: 'w1', now: T0 + 300 });
        assert.equal(await store.messages.nextDueAt(), T0 + 250 + LEASE);
        await store.messages.settle([delivered(claimed?.id ?? '', 'w1', T0 + 400)]);
        assert.equal(await store.messages.nextDueAt(), T0 + 300 + LEASE);
      }));
  });
}
