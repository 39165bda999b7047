import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IdempotencyClaim } from '../../core/ports/store.js';
import { acceptAll, newMessage, rejectsWith, T0, withStore, type MakeStore } from './fixtures.js';

function claimFor(key: string, requestHash: string, scope = 'key_a'): IdempotencyClaim {
  return { scope, key, requestHash };
}

export function acceptContract(make: MakeStore): void {
  describe('messages.accept', () => {
    it('stores the message as queued, due at once, with every field', () =>
      withStore(make, async (store) => {
        const message = newMessage({
          stream: 'bulk',
          to: { email: 'ada@example.test', name: 'Ada Lovelace' },
          replyTo: { email: 'help@example.test', name: 'Help' },
          html: '<p>Hi</p>',
        });
        assert.deepEqual(await store.messages.accept(message), {
          kind: 'created',
          id: message.id,
        });
        assert.deepEqual(await store.messages.get(message.id), {
          ...message,
          status: 'queued',
          attempts: 0,
          dueAt: message.createdAt,
          updatedAt: message.createdAt,
        });
      }));

    it('leaves optional fields out when they were not given', () =>
      withStore(make, async (store) => {
        const message = newMessage({ templateId: 'tpl_1', variables: {}, headers: {} });
        delete message.subject;
        delete message.text;
        await store.messages.accept(message);
        const stored = await store.messages.get(message.id);
        assert.ok(stored);
        for (const key of ['subject', 'text', 'html', 'replyTo', 'leaseOwner', 'lastError']) {
          assert.equal(key in stored, false, `${key} should be absent`);
        }
        assert.equal(stored.templateId, 'tpl_1');
        assert.deepEqual(stored.from, { email: 'sender@example.test', name: 'Sender' });
        assert.deepEqual(stored.to, { email: 'rcpt@example.test' });
      }));

    it('answers undefined and [] for an unknown id', () =>
      withStore(make, async (store) => {
        assert.equal(await store.messages.get('msg_nope'), undefined);
        assert.deepEqual(await store.messages.attempts('msg_nope'), []);
      }));

    it('replays the first message for the same key and body, storing nothing new', () =>
      withStore(make, async (store) => {
        const first = newMessage();
        const second = newMessage();
        const claim = claimFor('order-1', 'hash-1');
        assert.deepEqual(await store.messages.accept(first, claim), {
          kind: 'created',
          id: first.id,
        });
        assert.deepEqual(await store.messages.accept(second, claim), {
          kind: 'replayed',
          id: first.id,
        });
        assert.equal(await store.messages.get(second.id), undefined);
        assert.equal((await store.messages.countByStatus()).queued, 1);
      }));

    it('answers conflict for the same key with another body, storing nothing', () =>
      withStore(make, async (store) => {
        const first = newMessage();
        const other = newMessage();
        await store.messages.accept(first, claimFor('order-1', 'hash-1'));
        assert.deepEqual(await store.messages.accept(other, claimFor('order-1', 'hash-2')), {
          kind: 'conflict',
        });
        assert.equal(await store.messages.get(other.id), undefined);
        assert.equal((await store.messages.countByStatus()).queued, 1);
      }));

    it('scopes keys per API key', () =>
      withStore(make, async (store) => {
        const a = newMessage();
        const b = newMessage();
        await store.messages.accept(a, claimFor('order-1', 'hash-1', 'key_a'));
        assert.deepEqual(await store.messages.accept(b, claimFor('order-1', 'hash-1', 'key_b')), {
          kind: 'created',
          id: b.id,
        });
      }));

    it('settles one key used by concurrent requests: one created, the others replayed', () =>
      withStore(make, async (store) => {
        const messages = Array.from({ length: 5 }, () => newMessage());
        const results = await Promise.all(
          messages.map((m) => store.messages.accept(m, claimFor('same', 'hash-1'))),
        );
        const created = results.filter((r) => r.kind === 'created');
        assert.equal(created.length, 1);
        const winner = created[0]?.kind === 'created' ? created[0].id : '';
        for (const r of results) {
          if (r.kind !== 'created') assert.deepEqual(r, { kind: 'replayed', id: winner });
        }
        assert.equal((await store.messages.countByStatus()).queued, 1);
      }));

    it('judges a key repeated within one batch against the first use', () =>
      withStore(make, async (store) => {
        const [a, b, c] = [newMessage(), newMessage(), newMessage()];
        const results = await Promise.all([
          store.messages.accept(a, claimFor('k', 'hash-1')),
          store.messages.accept(b, claimFor('k', 'hash-2')),
          store.messages.accept(c, claimFor('k', 'hash-1')),
          store.messages.accept(newMessage(), claimFor('other', 'hash-1')),
        ]);
        assert.deepEqual(results.slice(0, 3), [
          { kind: 'created', id: a.id },
          { kind: 'conflict' },
          { kind: 'replayed', id: a.id },
        ]);
        assert.equal(results[3]?.kind, 'created');
        const again = await Promise.all([
          store.messages.accept(newMessage(), claimFor('k', 'hash-2')),
          store.messages.accept(newMessage(), claimFor('k', 'hash-1')),
        ]);
        assert.deepEqual(again, [{ kind: 'conflict' }, { kind: 'replayed', id: a.id }]);
        assert.equal((await store.messages.countByStatus()).queued, 2);
      }));

    it('rejects a duplicate id with ERR_CONFLICT without failing the other accepts', () =>
      withStore(make, async (store) => {
        const original = newMessage();
        await store.messages.accept(original);
        const others = [newMessage(), newMessage()];
        const [a, duplicate, b] = await Promise.allSettled([
          store.messages.accept(others[0] ?? newMessage()),
          store.messages.accept({ ...newMessage(), id: original.id }),
          store.messages.accept(others[1] ?? newMessage()),
        ]);
        assert.equal(a?.status, 'fulfilled');
        assert.equal(b?.status, 'fulfilled');
        assert.equal(duplicate?.status, 'rejected');
        if (duplicate?.status === 'rejected') {
          await rejectsWith(Promise.reject(duplicate.reason as Error), 'ERR_CONFLICT', 'id');
        }
        assert.equal((await store.messages.countByStatus()).queued, 3);
      }));

    it('stores 500 concurrent accepts, each once', () =>
      withStore(make, async (store) => {
        const messages = await acceptAll(store, 500, (i) => ({
          to: { email: `r${i}@example.test` },
          createdAt: T0 + i,
        }));
        assert.equal(new Set(messages.map((m) => m.id)).size, 500);
        assert.equal((await store.messages.countByStatus()).queued, 500);
        const sample = await store.messages.get(messages[499]?.id ?? '');
        assert.equal(sample?.to.email, 'r499@example.test');
      }));
  });
}
