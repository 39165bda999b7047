import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Contact, Page, PageQuery, Store } from '../../core/ports/store.js';
import { rejectsWith, T0, withStore, type MakeStore } from './fixtures.js';

/** Walks every page, asserting each is at most `limit` long and only the last lacks `next`. */
export async function allPages<T extends { id: string }>(
  fetch: (query: PageQuery) => Promise<Page<T>>,
  limit: number,
): Promise<T[][]> {
  const pages: T[][] = [];
  let after: string | undefined;
  for (;;) {
    const page = await fetch(after === undefined ? { limit } : { limit, after });
    assert.ok(page.items.length <= limit);
    pages.push(page.items);
    if (page.next === undefined) return pages;
    assert.equal(page.next, page.items[page.items.length - 1]?.id, 'the cursor is the last id');
    after = page.next;
  }
}

async function seedContacts(store: Store, ids: string[]): Promise<Contact[]> {
  const contacts: Contact[] = [];
  for (const id of ids) {
    const { contact } = await store.contacts.upsert({ id, email: `${id}@example.test`, at: T0 });
    contacts.push(contact);
  }
  return contacts;
}

export function contactsContract(make: MakeStore): void {
  describe('contacts', () => {
    it('inserts a new email, dropping null attributes', () =>
      withStore(make, async (store) => {
        const result = await store.contacts.upsert({
          id: 'ct_1',
          email: 'ada@example.test',
          attributes: { name: 'Ada', gone: null, nested: { a: [1, 2] } },
          at: T0,
        });
        const expected: Contact = {
          id: 'ct_1',
          email: 'ada@example.test',
          attributes: { name: 'Ada', nested: { a: [1, 2] } },
          status: 'active',
          createdAt: T0,
          updatedAt: T0,
        };
        assert.deepEqual(result, { contact: expected, created: true });
        assert.deepEqual(await store.contacts.get('ct_1'), expected);
        assert.deepEqual(await store.contacts.getByEmail('ada@example.test'), expected);
        assert.equal(await store.contacts.get('ct_nope'), undefined);
        assert.equal(await store.contacts.getByEmail('nope@example.test'), undefined);
      }));

    it('merges into the contact with the same email, key by key; null removes a key', () =>
      withStore(make, async (store) => {
        await store.contacts.upsert({
          id: 'ct_1',
          email: 'ada@example.test',
          attributes: { name: 'Ada', plan: 'free', city: 'London' },
          at: T0,
        });
        const result = await store.contacts.upsert({
          id: 'ct_other',
          email: 'ada@example.test',
          attributes: { plan: 'pro', city: null, seats: 3 },
          status: 'unsubscribed',
          at: T0 + 1000,
        });
        assert.equal(result.created, false);
        assert.deepEqual(result.contact, {
          id: 'ct_1',
          email: 'ada@example.test',
          attributes: { name: 'Ada', plan: 'pro', seats: 3 },
          status: 'unsubscribed',
          createdAt: T0,
          updatedAt: T0 + 1000,
        });
        const kept = await store.contacts.upsert({
          id: 'x',
          email: 'ada@example.test',
          at: T0 + 2000,
        });
        assert.equal(kept.contact.status, 'unsubscribed', 'an absent status is kept');
        assert.deepEqual(kept.contact.attributes, { name: 'Ada', plan: 'pro', seats: 3 });
        assert.equal(await store.contacts.get('ct_other'), undefined);
      }));

    it('refuses a new email under an id already taken', () =>
      withStore(make, async (store) => {
        await store.contacts.upsert({ id: 'ct_1', email: 'a@example.test', at: T0 });
        await rejectsWith(
          store.contacts.upsert({ id: 'ct_1', email: 'b@example.test', at: T0 }),
          'ERR_CONFLICT',
          'id',
        );
      }));

    it('pages by id with the last id as cursor', () =>
      withStore(make, async (store) => {
        const ids = ['ct_e', 'ct_a', 'ct_d', 'ct_b', 'ct_c'];
        await seedContacts(store, ids);
        const pages = await allPages((q) => store.contacts.list(q), 2);
        assert.deepEqual(
          pages.map((page) => page.map((c) => c.id)),
          [['ct_a', 'ct_b'], ['ct_c', 'ct_d'], ['ct_e']],
        );
        assert.deepEqual(await store.contacts.list({ limit: 10, after: 'ct_e' }), { items: [] });
      }));

    it('deletes a contact with its memberships', () =>
      withStore(make, async (store) => {
        await seedContacts(store, ['ct_1', 'ct_2']);
        await store.lists.create({ id: 'lst_1', name: 'News', description: '', at: T0 });
        await store.lists.addMembers('lst_1', ['ct_1', 'ct_2'], T0);
        assert.equal(await store.contacts.delete('ct_1'), true);
        assert.equal(await store.contacts.delete('ct_1'), false);
        assert.equal(await store.contacts.get('ct_1'), undefined);
        assert.equal((await store.lists.get('lst_1'))?.memberCount, 1);
        const members = await store.lists.members('lst_1', { limit: 10 });
        assert.deepEqual(
          members.items.map((c) => c.id),
          ['ct_2'],
        );
      }));
  });

  describe('lists', () => {
    it('creates, reads, renames and refuses a taken name', () =>
      withStore(make, async (store) => {
        const created = await store.lists.create({
          id: 'lst_1',
          name: 'News',
          description: 'Monthly',
          at: T0,
        });
        const expected = {
          id: 'lst_1',
          name: 'News',
          description: 'Monthly',
          createdAt: T0,
          memberCount: 0,
        };
        assert.deepEqual(created, expected);
        assert.deepEqual(await store.lists.get('lst_1'), expected);
        assert.equal(await store.lists.get('lst_nope'), undefined);
        const error = await rejectsWith(
          store.lists.create({ id: 'lst_2', name: 'News', description: '', at: T0 }),
          'ERR_CONFLICT',
          'name',
        );
        assert.equal(error.message, 'name: "News" is already taken');
        await store.lists.create({ id: 'lst_2', name: 'Offers', description: '', at: T0 });
        assert.deepEqual(await store.lists.update('lst_1', { description: 'Weekly' }), {
          ...expected,
          description: 'Weekly',
        });
        assert.equal((await store.lists.update('lst_1', { name: 'Digest' }))?.name, 'Digest');
        await rejectsWith(store.lists.update('lst_2', { name: 'Digest' }), 'ERR_CONFLICT', 'name');
        assert.equal(await store.lists.update('lst_nope', { name: 'X' }), undefined);
        const pages = await allPages((q) => store.lists.list(q), 1);
        assert.deepEqual(
          pages.map((page) => page.map((l) => l.name)),
          [['Digest'], ['Offers']],
        );
      }));

    it('adds members once, lists them by contact id, and removes them', () =>
      withStore(make, async (store) => {
        await seedContacts(store, ['ct_c', 'ct_a', 'ct_b']);
        await store.lists.create({ id: 'lst_1', name: 'News', description: '', at: T0 });
        assert.equal(await store.lists.addMembers('lst_1', ['ct_c', 'ct_a'], T0), 2);
        assert.equal(await store.lists.addMembers('lst_1', ['ct_a', 'ct_b', 'ct_b'], T0), 1);
        assert.equal((await store.lists.get('lst_1'))?.memberCount, 3);
        const pages = await allPages((q) => store.lists.members('lst_1', q), 2);
        assert.deepEqual(
          pages.map((page) => page.map((c) => c.id)),
          [['ct_a', 'ct_b'], ['ct_c']],
        );
        assert.equal(pages[0]?.[0]?.email, 'ct_a@example.test');
        assert.equal(await store.lists.removeMember('lst_1', 'ct_b'), true);
        assert.equal(await store.lists.removeMember('lst_1', 'ct_b'), false);
        assert.equal((await store.lists.get('lst_1'))?.memberCount, 2);
      }));

    it('adds nothing when a contact id is unknown', () =>
      withStore(make, async (store) => {
        await seedContacts(store, ['ct_a']);
        await store.lists.create({ id: 'lst_1', name: 'News', description: '', at: T0 });
        await rejectsWith(
          store.lists.addMembers('lst_1', ['ct_a', 'ct_ghost'], T0),
          'ERR_NOT_FOUND',
        );
        assert.equal((await store.lists.get('lst_1'))?.memberCount, 0);
        await rejectsWith(store.lists.addMembers('lst_ghost', ['ct_a'], T0), 'ERR_NOT_FOUND');
      }));

    it('deletes a list with its memberships, not its contacts', () =>
      withStore(make, async (store) => {
        await seedContacts(store, ['ct_a']);
        await store.lists.create({ id: 'lst_1', name: 'News', description: '', at: T0 });
        await store.lists.addMembers('lst_1', ['ct_a'], T0);
        assert.equal(await store.lists.delete('lst_1'), true);
        assert.equal(await store.lists.delete('lst_1'), false);
        assert.equal(await store.lists.get('lst_1'), undefined);
        assert.deepEqual(await store.lists.members('lst_1', { limit: 10 }), { items: [] });
        assert.ok(await store.contacts.get('ct_a'));
        await store.lists.create({ id: 'lst_2', name: 'News', description: '', at: T0 });
      }));
  });
}
