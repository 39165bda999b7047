import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { errorOf, startTestApp, type TestApp } from '../test-support.js';

interface ListBody {
  id: string;
  name: string;
  description: string;
  memberCount: number;
  createdAt: string;
}

interface Page<T> {
  items: T[];
  next: string | null;
}

describe('lists and members', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(async () => {
    await t.close();
  });

  async function contactCount(): Promise<number> {
    return (await t.store.contacts.list({ limit: 1000 })).items.length;
  }

  it('creates, reads, renames, lists and deletes a list', async () => {
    const created = await t.api<ListBody>('POST', '/v1/lists', { name: 'newsletter' });
    assert.equal(created.status, 201);
    assert.match(created.body.id, /^lst_/);
    assert.equal(created.body.description, '');
    assert.equal(created.body.memberCount, 0);

    const duplicate = await t.api('POST', '/v1/lists', { name: 'newsletter' });
    assert.equal(duplicate.status, 409);
    assert.equal(errorOf(duplicate).code, 'ERR_CONFLICT');

    const patched = await t.api<ListBody>('PATCH', `/v1/lists/${created.body.id}`, {
      description: 'Monthly news',
    });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.name, 'newsletter');
    assert.equal(patched.body.description, 'Monthly news');

    const emptyPatch = await t.api('PATCH', `/v1/lists/${created.body.id}`, {});
    assert.equal(emptyPatch.status, 400);
    assert.equal(errorOf(emptyPatch).code, 'ERR_VALIDATION');

    const all = await t.api<Page<ListBody>>('GET', '/v1/lists');
    assert.ok(all.body.items.some((l) => l.id === created.body.id));

    assert.equal((await t.api('DELETE', `/v1/lists/${created.body.id}`)).status, 204);
    const gone = await t.api('GET', `/v1/lists/${created.body.id}`);
    assert.equal(gone.status, 404);
    assert.equal(errorOf(gone).code, 'ERR_NOT_FOUND');
  });

  it('adds members by id and by email (upserting contacts), counts only new ones', async () => {
    const list = await t.api<ListBody>('POST', '/v1/lists', { name: 'members' });
    const ann = await t.api<{ id: string }>('POST', '/v1/contacts', { email: 'ann@example.com' });

    const added = await t.api<{ added: number }>('POST', `/v1/lists/${list.body.id}/members`, {
      contactIds: [ann.body.id],
      emails: ['bob@example.com', 'Cy@Example.com', 'bob@example.com'],
    });
    assert.equal(added.status, 200);
    assert.equal(added.body.added, 3);
    const bob = await t.store.contacts.getByEmail('bob@example.com');
    assert.ok(bob, 'the email became a contact');

    const again = await t.api<{ added: number }>('POST', `/v1/lists/${list.body.id}/members`, {
      emails: ['ann@example.com'],
    });
    assert.equal(again.body.added, 0);

    const members = await t.api<Page<{ email: string }>>(
      'GET',
      `/v1/lists/${list.body.id}/members`,
    );
    assert.equal(members.status, 200);
    assert.deepEqual(members.body.items.map((c) => c.email).sort(), [
      'Cy@example.com',
      'ann@example.com',
      'bob@example.com',
    ]);
    const fetched = await t.api<ListBody>('GET', `/v1/lists/${list.body.id}`);
    assert.equal(fetched.body.memberCount, 3);

    const removed = await t.api('DELETE', `/v1/lists/${list.body.id}/members/${ann.body.id}`);
    assert.equal(removed.status, 204);
    const removedAgain = await t.api('DELETE', `/v1/lists/${list.body.id}/members/${ann.body.id}`);
    assert.equal(removedAgain.status, 404);
    const after = await t.api<ListBody>('GET', `/v1/lists/${list.body.id}`);
    assert.equal(after.body.memberCount, 2);
  });

  it('refuses bad members and stores nothing (no contact upserted either)', async () => {
    const list = await t.api<ListBody>('POST', '/v1/lists', { name: 'strict' });
    const path = `/v1/lists/${list.body.id}/members`;
    const contacts = await contactCount();

    const badEmail = await t.api('POST', path, { emails: ['ok@example.com', 'a@b@c.com'] });
    assert.equal(badEmail.status, 400);
    assert.equal(errorOf(badEmail).code, 'ERR_ADDRESS_INVALID');
    assert.equal(errorOf(badEmail).field, 'emails[1]');

    const unknownId = await t.api('POST', path, {
      emails: ['fresh@example.com'],
      contactIds: ['ct_nope'],
    });
    assert.equal(unknownId.status, 404);
    assert.equal(errorOf(unknownId).code, 'ERR_NOT_FOUND');
    assert.equal(errorOf(unknownId).field, 'contactIds[0]');

    const nothing = await t.api('POST', path, {});
    assert.equal(nothing.status, 400);
    assert.equal(errorOf(nothing).code, 'ERR_VALIDATION');

    const wrongType = await t.api('POST', path, { emails: 'ok@example.com' });
    assert.equal(wrongType.status, 400);
    assert.equal(errorOf(wrongType).field, 'emails');

    const noList = await t.api('POST', '/v1/lists/lst_nope/members', { emails: ['x@example.com'] });
    assert.equal(noList.status, 404);

    assert.equal(await contactCount(), contacts);
    const fetched = await t.api<ListBody>('GET', `/v1/lists/${list.body.id}`);
    assert.equal(fetched.body.memberCount, 0);
  });

  it('answers 404 for the members of an unknown list', async () => {
    const response = await t.api('GET', '/v1/lists/lst_nope/members');
    assert.equal(response.status, 404);
    assert.equal(errorOf(response).code, 'ERR_NOT_FOUND');
  });
});
