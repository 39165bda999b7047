import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { errorOf, startTestApp, type TestApp } from '../test-support.js';

interface ContactBody {
  id: string;
  email: string;
  attributes: Record<string, unknown>;
  status: string;
  createdAt: string;
  updatedAt: string;
}

describe('contacts', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(async () => {
    await t.close();
  });

  it('creates a contact (201), then merges into it (200)', async () => {
    const created = await t.api<ContactBody>('POST', '/v1/contacts', {
      email: 'Ann@Example.COM',
      attributes: { first_name: 'Ann', plan: 'free', city: 'Oslo' },
    });
    assert.equal(created.status, 201);
    assert.match(created.body.id, /^ct_/);
    assert.equal(created.body.email, 'Ann@example.com');
    assert.equal(created.body.status, 'active');
    assert.equal(created.body.createdAt, new Date(t.clock.now()).toISOString());

    t.clock.advance(1000);
    const merged = await t.api<ContactBody>('POST', '/v1/contacts', {
      email: 'Ann@example.com',
      attributes: { plan: 'pro', city: null, vip: true },
      status: 'unsubscribed',
    });
    assert.equal(merged.status, 200);
    assert.equal(merged.body.id, created.body.id);
    assert.deepEqual(merged.body.attributes, { first_name: 'Ann', plan: 'pro', vip: true });
    assert.equal(merged.body.status, 'unsubscribed');
    assert.equal(merged.body.updatedAt, new Date(t.clock.now()).toISOString());

    const fetched = await t.api<ContactBody>('GET', `/v1/contacts/${created.body.id}`);
    assert.equal(fetched.status, 200);
    assert.deepEqual(fetched.body, merged.body);
  });

  it('refuses an invalid email and stores nothing', async () => {
    const before = await t.store.contacts.list({ limit: 1000 });
    for (const email of ['a@b@c.com', 'nodomain@', 'plain']) {
      const response = await t.api('POST', '/v1/contacts', { email });
      assert.equal(response.status, 400, email);
      assert.equal(errorOf(response).code, 'ERR_ADDRESS_INVALID');
      assert.equal(errorOf(response).field, 'email');
    }
    const unknownField = await t.api('POST', '/v1/contacts', { email: 'x@example.com', name: 'X' });
    assert.equal(unknownField.status, 400);
    assert.equal(errorOf(unknownField).code, 'ERR_UNKNOWN_FIELD');
    assert.equal(errorOf(unknownField).field, 'name');
    const badStatus = await t.api('POST', '/v1/contacts', {
      email: 'x@example.com',
      status: 'gone',
    });
    assert.equal(badStatus.status, 400);
    assert.equal(errorOf(badStatus).field, 'status');
    assert.deepEqual(await t.store.contacts.list({ limit: 1000 }), before);
  });

  it('pages through contacts with limit and after', async () => {
    for (let i = 0; i < 5; i++) {
      await t.api('POST', '/v1/contacts', { email: `page${i}@example.com` });
    }
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const query: string = after ? `?limit=2&after=${encodeURIComponent(after)}` : '?limit=2';
      const page = await t.api<{ items: ContactBody[]; next: string | null }>(
        'GET',
        `/v1/contacts${query}`,
      );
      assert.equal(page.status, 200);
      assert.ok(page.body.items.length <= 2);
      seen.push(...page.body.items.map((c) => c.email));
      after = page.body.next;
      pages += 1;
    } while (after !== null && pages < 20);
    assert.equal(new Set(seen).size, seen.length, 'no contact twice');
    for (let i = 0; i < 5; i++) assert.ok(seen.includes(`page${i}@example.com`));
  });

  it('refuses a bad page size', async () => {
    for (const query of ['?limit=0', '?limit=abc', '?limit=100000']) {
      const response = await t.api('GET', `/v1/contacts${query}`);
      assert.equal(response.status, 400, query);
      assert.equal(errorOf(response).code, 'ERR_VALIDATION');
      assert.equal(errorOf(response).field, 'limit');
    }
  });

  it('deletes a contact (204), then 404', async () => {
    const created = await t.api<ContactBody>('POST', '/v1/contacts', { email: 'gone@example.com' });
    const deleted = await t.api('DELETE', `/v1/contacts/${created.body.id}`);
    assert.equal(deleted.status, 204);
    assert.equal(deleted.text, '');
    const again = await t.api('DELETE', `/v1/contacts/${created.body.id}`);
    assert.equal(again.status, 404);
    assert.equal(errorOf(again).code, 'ERR_NOT_FOUND');
    const get = await t.api('GET', `/v1/contacts/${created.body.id}`);
    assert.equal(get.status, 404);
  });
});
