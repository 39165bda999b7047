import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { delivered, DAY, MINUTE, newMessage, T0, withStore, type MakeStore } from './fixtures.js';

export function maintenanceContract(makeStore: MakeStore): void {
  describe('maintenance', () => {
    it('purges finished messages older than the cut-off with their attempts and keys, in batches, and nothing else', async () => {
      await withStore(makeStore, async (store) => {
        const old = [newMessage(), newMessage(), newMessage()];
        const recent = newMessage();
        const pending = newMessage();
        for (const [i, m] of old.entries()) {
          const result = await store.messages.accept(m, {
            scope: 'key_1',
            key: `k${i}`,
            requestHash: 'h',
          });
          assert.equal(result.kind, 'created');
        }
        await store.messages.accept(recent);
        await store.messages.accept(pending, { scope: 'key_1', key: 'pending', requestHash: 'h' });
        // Claim everything but `pending` at T0; settle the old ones at T0 and the recent one a day later.
        const claimed = await store.messages.claim({
          limit: 10,
          leaseMs: MINUTE,
          owner: 'node-a',
          now: T0,
        });
        assert.equal(claimed.length, 5);
        await store.messages.release([pending.id], 'node-a', T0);
        const settled = await store.messages.settle([
          ...old.map((m) => delivered(m.id, 'node-a', T0 + 1)),
          delivered(recent.id, 'node-a', T0 + DAY),
        ]);
        assert.equal(settled.length, 4);

        const cutOff = T0 + DAY - 1;
        assert.equal(await store.maintenance.purgeFinished(cutOff, 2), 2, 'one batch of two');
        assert.equal(await store.maintenance.purgeFinished(cutOff, 2), 1, 'then the last one');
        assert.equal(await store.maintenance.purgeFinished(cutOff, 2), 0);
        for (const m of old) {
          assert.equal(await store.messages.get(m.id), undefined);
          assert.deepEqual(await store.messages.attempts(m.id), []);
        }
        // An idempotency key of a purged message no longer replays it.
        const again = await store.messages.accept(newMessage({ id: 'msg_again' }), {
          scope: 'key_1',
          key: 'k0',
          requestHash: 'h',
        });
        assert.deepEqual(again, { kind: 'created', id: 'msg_again' });
        assert.equal((await store.messages.get(recent.id))?.status, 'delivered');
        assert.equal((await store.messages.get(pending.id))?.status, 'queued');
        const replay = await store.messages.accept(newMessage(), {
          scope: 'key_1',
          key: 'pending',
          requestHash: 'h',
        });
        assert.deepEqual(replay, { kind: 'replayed', id: pending.id });
      });
    });
  });
}
