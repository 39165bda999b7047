import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Contact, ContactUpsert, Store } from '../../core/ports/store.js';
import { rejectsWith, T0, withStore, type MakeStore } from './fixtures.js';

/** Like withStore, returning what `fn` returns. */
async function inStore<T>(make: MakeStore, fn: (store: Store) => Promise<T>): Promise<T> {
  const handle = await make();
  try {
    await handle.store.migrate();
    return await fn(handle.store);
  } finally {
    await handle.cleanup();
  }
}

/** The contacts as `upsert` and `upsertMany` leave them, minus the ids the store chose. */
async function snapshot(store: Store): Promise<Array<Omit<Contact, 'id'>>> {
  const page = await store.contacts.list({ limit: 100 });
  return page.items
    .map(({ id: _id, ...rest }) => rest)
    .sort((a, b) => a.email.localeCompare(b.email));
}

/** A mix of patches: new emails, merges, null removals, status changes, one email twice. */
const SEED: ContactUpsert[] = [
  { id: 'ct_a', email: 'a@x.test', attributes: { name: 'A', plan: 'free', n: 1 }, at: T0 },
  { id: 'ct_b', email: 'b@x.test', attributes: { tags: ['x'] }, status: 'bounced', at: T0 },
];
const BATCH: ContactUpsert[] = [
  { id: 'ct_a2', email: 'a@x.test', attributes: { plan: 'pro', n: null }, at: T0 + 1 },
  { id: 'ct_c', email: 'c@x.test', attributes: { name: 'C', gone: null }, at: T0 + 1 },
  { id: 'ct_b2', email: 'b@x.test', status: 'active', at: T0 + 1 },
  { id: 'ct_d', email: 'd@x.test', at: T0 + 1 },
  { id: 'ct_c2', email: 'c@x.test', attributes: { name: null, city: 'Oslo' }, at: T0 + 1 },
  { id: 'ct_a3', email: 'a@x.test', attributes: { n: 3 }, status: 'unsubscribed', at: T0 + 1 },
];

export function contactsBatchContract(make: MakeStore): void {
  describe('contacts: upsertMany', () => {
    it('merges exactly as one upsert a row does, and counts per distinct email', async () => {
      const one = await inStore(make, async (store) => {
        for (const row of [...SEED, ...BATCH]) await store.contacts.upsert(row);
        return snapshot(store);
      });
      const many = await inStore(make, async (store) => {
        assert.deepEqual(await store.contacts.upsertMany(SEED), { created: 2, updated: 0 });
        assert.deepEqual(await store.contacts.upsertMany(BATCH), { created: 2, updated: 2 });
        assert.equal((await store.contacts.getByEmail('a@x.test'))?.id, 'ct_a', 'the id is kept');
        assert.equal((await store.contacts.getByEmail('c@x.test'))?.id, 'ct_c', 'first id wins');
        return snapshot(store);
      });
      assert.deepEqual(many, one);
      assert.deepEqual(
        many.find((c) => c.email === 'a@x.test'),
        {
          email: 'a@x.test',
          attributes: { name: 'A', plan: 'pro', n: 3 },
          status: 'unsubscribed',
          createdAt: T0,
          updatedAt: T0 + 1,
        },
      );
      assert.deepEqual(many.find((c) => c.email === 'c@x.test')?.attributes, { city: 'Oslo' });
    });

    it('adds the batch to a list, leaving members alone; an empty batch does nothing', () =>
      withStore(make, async (store) => {
        await store.lists.create({ id: 'lst_1', name: 'news', description: '', at: T0 });
        await store.contacts.upsertMany(SEED.slice(0, 1), { listId: 'lst_1' });
        const counts = await store.contacts.upsertMany(SEED, { listId: 'lst_1' });
        assert.deepEqual(counts, { created: 1, updated: 1 });
        const members = await store.lists.members('lst_1', { limit: 10 });
        assert.deepEqual(
          members.items.map((c) => c.id),
          ['ct_a', 'ct_b'],
        );
        assert.deepEqual(await store.contacts.upsertMany([], { listId: 'lst_1' }), {
          created: 0,
          updated: 0,
        });
        assert.equal((await store.lists.getByName('news'))?.memberCount, 2);
        assert.equal(await store.lists.getByName('nope'), undefined);
      }));

    it('writes nothing for an unknown list (ERR_NOT_FOUND)', () =>
      withStore(make, async (store) => {
        await rejectsWith(store.contacts.upsertMany(SEED, { listId: 'lst_nope' }), 'ERR_NOT_FOUND');
        assert.equal((await store.contacts.list({ limit: 10 })).items.length, 0);
      }));

    it('a deferred batch merges and counts like a durable one, and fails alike', async () => {
      const durable = await inStore(make, async (store) => {
        await store.contacts.upsertMany(SEED);
        await store.contacts.upsertMany(BATCH);
        return snapshot(store);
      });
      const deferred = await inStore(make, async (store) => {
        await store.lists.create({ id: 'lst_1', name: 'news', description: '', at: T0 });
        const first = await store.contacts.upsertMany(SEED, {
          durability: 'deferred',
          listId: 'lst_1',
        });
        assert.deepEqual(first, { created: 2, updated: 0 });
        await rejectsWith(
          store.contacts.upsertMany(BATCH, { durability: 'deferred', listId: 'lst_nope' }),
          'ERR_NOT_FOUND',
        );
        assert.deepEqual(await store.contacts.upsertMany(BATCH, { durability: 'deferred' }), {
          created: 2,
          updated: 2,
        });
        assert.equal((await store.lists.getByName('news'))?.memberCount, 2);
        return snapshot(store);
      });
      assert.deepEqual(deferred, durable);
    });

    it('takes a batch of a thousand rows', () =>
      withStore(make, async (store) => {
        const rows = Array.from({ length: 1000 }, (_, i) => ({
          id: `ct_${String(i).padStart(4, '0')}`,
          email: `user${i}@x.test`,
          attributes: { i: String(i) },
          at: T0,
        }));
        assert.deepEqual(await store.contacts.upsertMany(rows), { created: 1000, updated: 0 });
        assert.deepEqual(await store.contacts.upsertMany(rows), { created: 0, updated: 1000 });
        assert.deepEqual((await store.contacts.getByEmail('user999@x.test'))?.attributes, {
          i: '999',
        });
      }));
  });
}
