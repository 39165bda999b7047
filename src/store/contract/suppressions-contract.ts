import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Settlement } from '../../core/outcome.js';
import {
  acceptAll,
  attemptRecord,
  delivered,
  MINUTE,
  T0,
  withStore,
  type MakeStore,
} from './fixtures.js';

const LEASE = 5 * MINUTE;

function hardBounce(id: string, owner: string, email: string, at: number): Settlement {
  return {
    id,
    leaseOwner: owner,
    status: 'bounced',
    lastError: '550 5.1.1 User unknown',
    bounceCategory: 'bad-mailbox',
    attempt: {
      ...attemptRecord(id, 'bounced', at),
      code: 550,
      enhancedCode: '5.1.1',
      response: '550 5.1.1 User unknown',
      category: 'bad-mailbox',
    },
    suppress: {
      email,
      reason: '550 5.1.1 User unknown',
      category: 'bad-mailbox',
      sourceMessageId: id,
      at,
    },
    at,
  };
}

export function suppressionsContract(make: MakeStore): void {
  describe('suppressions', () => {
    it('adds, renews (keeping createdAt), reads case-insensitively and removes', () =>
      withStore(make, async (store) => {
        const first = await store.suppressions.add({
          email: 'Ann@Example.com',
          reason: 'manual',
          at: T0,
        });
        assert.equal(first.created, true);
        assert.deepEqual(first.suppression, {
          email: 'ann@example.com',
          reason: 'manual',
          createdAt: T0,
          updatedAt: T0,
        });
        const again = await store.suppressions.add({
          email: 'ann@example.com',
          reason: '550 5.1.1 gone',
          category: 'bad-mailbox',
          sourceMessageId: 'msg_1',
          at: T0 + 5,
        });
        assert.equal(again.created, false);
        assert.deepEqual(again.suppression, {
          email: 'ann@example.com',
          reason: '550 5.1.1 gone',
          category: 'bad-mailbox',
          sourceMessageId: 'msg_1',
          createdAt: T0,
          updatedAt: T0 + 5,
        });
        assert.deepEqual(await store.suppressions.get('ANN@example.COM'), again.suppression);
        assert.equal(await store.suppressions.get('bob@example.com'), undefined);
        assert.equal(await store.suppressions.remove('Ann@example.com'), true);
        assert.equal(await store.suppressions.remove('ann@example.com'), false);
        assert.equal(await store.suppressions.get('ann@example.com'), undefined);
      }));

    it('lists by address a page at a time, optionally by prefix', () =>
      withStore(make, async (store) => {
        const emails = ['c@x.test', 'a_b@x.test', 'a@x.test', 'ab@x.test', 'b@x.test'];
        for (const email of emails) await store.suppressions.add({ email, reason: 'r', at: T0 });
        const first = await store.suppressions.list({ limit: 2 });
        assert.deepEqual(
          first.items.map((s) => s.email),
          ['a@x.test', 'a_b@x.test'],
        );
        assert.equal(first.next, 'a_b@x.test');
        const second = await store.suppressions.list({ limit: 10, after: first.next ?? '' });
        assert.deepEqual(
          second.items.map((s) => s.email),
          ['ab@x.test', 'b@x.test', 'c@x.test'],
        );
        assert.equal(second.next, undefined);
        const prefixed = await store.suppressions.list({ limit: 10, prefix: 'A_' });
        assert.deepEqual(
          prefixed.items.map((s) => s.email),
          ['a_b@x.test'],
          '_ is a character, not a wildcard',
        );
        const aPage = await store.suppressions.list({ limit: 1, prefix: 'a' });
        assert.deepEqual(
          aPage.items.map((s) => s.email),
          ['a@x.test'],
        );
        const aRest = await store.suppressions.list({
          limit: 5,
          prefix: 'a',
          after: aPage.next ?? '',
        });
        assert.deepEqual(
          aRest.items.map((s) => s.email),
          ['a_b@x.test', 'ab@x.test'],
        );
      }));

    it('tells which of a batch of addresses are suppressed, in one call', () =>
      withStore(make, async (store) => {
        assert.deepEqual(await store.suppressions.suppressedAmong([]), new Set());
        await store.suppressions.add({ email: 'gone@x.test', reason: 'r', at: T0 });
        await store.suppressions.add({ email: 'also.gone@x.test', reason: 'r', at: T0 });
        const found = await store.suppressions.suppressedAmong([
          'Gone@X.test',
          'here@x.test',
          'gone@x.test',
          'also.gone@x.test',
        ]);
        assert.deepEqual(found, new Set(['gone@x.test', 'also.gone@x.test']));
      }));

    it('records categories and suppresses in the settle transaction, only when it applies', () =>
      withStore(make, async (store) => {
        const [a, b] = await acceptAll(store, 2, (i) => ({
          to: { email: i === 0 ? 'Gone@x.test' : 'lost@x.test' },
          createdAt: T0 - i,
        }));
        await store.messages.claim({ limit: 2, leaseMs: LEASE, owner: 'w1', now: T0 });
        const applied = await store.messages.settle([
          hardBounce(a?.id ?? '', 'w1', 'Gone@x.test', T0 + 10),
          hardBounce(b?.id ?? '', 'stranger', 'lost@x.test', T0 + 10),
        ]);
        assert.deepEqual(applied, [a?.id]);
        const message = await store.messages.get(a?.id ?? '');
        assert.equal(message?.status, 'bounced');
        assert.equal(message?.bounceCategory, 'bad-mailbox');
        const [attempt] = await store.messages.attempts(a?.id ?? '');
        assert.equal(attempt?.category, 'bad-mailbox');
        assert.deepEqual(await store.suppressions.get('gone@x.test'), {
          email: 'gone@x.test',
          reason: '550 5.1.1 User unknown',
          category: 'bad-mailbox',
          sourceMessageId: a?.id,
          createdAt: T0 + 10,
          updatedAt: T0 + 10,
        });
        assert.equal(
          await store.suppressions.get('lost@x.test'),
          undefined,
          'lease lost: no suppression',
        );
      }));

    it('keeps the category of a deferral and clears it once delivered', () =>
      withStore(make, async (store) => {
        const [m] = await acceptAll(store, 1, () => ({}));
        const id = m?.id ?? '';
        await store.messages.claim({ limit: 1, leaseMs: LEASE, owner: 'w1', now: T0 });
        await store.messages.settle([
          {
            id,
            leaseOwner: 'w1',
            status: 'deferred',
            dueAt: T0 + MINUTE,
            lastError: '421 4.7.0 rate limited',
            bounceCategory: 'rate-limited',
            attempt: { ...attemptRecord(id, 'deferred', T0 + 1), category: 'rate-limited' },
            at: T0 + 1,
          },
        ]);
        assert.equal((await store.messages.get(id))?.bounceCategory, 'rate-limited');
        await store.messages.claim({ limit: 1, leaseMs: LEASE, owner: 'w1', now: T0 + MINUTE });
        await store.messages.settle([delivered(id, 'w1', T0 + MINUTE + 1)]);
        const done = await store.messages.get(id);
        assert.equal(done?.status, 'delivered');
        assert.equal(done && 'bounceCategory' in done, false);
        assert.deepEqual(
          (await store.messages.attempts(id)).map((a) => a.category),
          ['rate-limited', undefined],
        );
      }));
  });
}
