import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { errorOf, startTestApp, type TestApp } from '../test-support.js';

interface SuppressionBody {
  email: string;
  reason: string;
  category: string | null;
  sourceMessageId: string | null;
  createdAt: string;
  updatedAt: string;
}

interface PageBody {
  items: SuppressionBody[];
  next: string | null;
}

describe('suppressions', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(async () => {
    await t.close();
  });

  it('adds an address (201), renews it (200) and shows it case-insensitively', async () => {
    const created = await t.api<SuppressionBody>('POST', '/v1/suppressions', {
      email: 'Ann@Example.COM',
    });
    assert.equal(created.status, 201);
    const at = new Date(t.clock.now()).toISOString();
    assert.deepEqual(created.body, {
      email: 'ann@example.com',
      reason: 'added through the API',
      category: null,
      sourceMessageId: null,
      createdAt: at,
      updatedAt: at,
    });
    t.clock.advance(1000);
    const renewed = await t.api<SuppressionBody>('POST', '/v1/suppressions', {
      email: 'ann@example.com',
      reason: 'asked by phone',
    });
    assert.equal(renewed.status, 200);
    assert.equal(renewed.body.reason, 'asked by phone');
    assert.equal(renewed.body.createdAt, at);
    assert.equal(renewed.body.updatedAt, new Date(t.clock.now()).toISOString());
    const fetched = await t.api<SuppressionBody>('GET', '/v1/suppressions/ANN@example.com');
    assert.equal(fetched.status, 200);
    assert.deepEqual(fetched.body, renewed.body);
  });

  it('shows what a hard bounce added, with its category and message', async () => {
    await t.store.suppressions.add({
      email: 'gone@example.net',
      reason: '550 5.1.1 User unknown',
      category: 'bad-mailbox',
      sourceMessageId: 'msg_1',
      at: t.clock.now(),
    });
    const fetched = await t.api<SuppressionBody>('GET', '/v1/suppressions/gone@example.net');
    assert.equal(fetched.body.category, 'bad-mailbox');
    assert.equal(fetched.body.sourceMessageId, 'msg_1');
  });

  it('lists a page at a time, and by prefix', async () => {
    for (const email of ['zed@list.test', 'zara@list.test', 'zoe@list.test']) {
      assert.equal((await t.api('POST', '/v1/suppressions', { email })).status, 201);
    }
    const first = await t.api<PageBody>('GET', '/v1/suppressions?q=Z&limit=2');
    assert.equal(first.status, 200);
    assert.deepEqual(
      first.body.items.map((s) => s.email),
      ['zara@list.test', 'zed@list.test'],
    );
    assert.equal(first.body.next, 'zed@list.test');
    const second = await t.api<PageBody>(
      `GET`,
      `/v1/suppressions?q=z&limit=2&after=${encodeURIComponent(first.body.next ?? '')}`,
    );
    assert.deepEqual(
      second.body.items.map((s) => s.email),
      ['zoe@list.test'],
    );
    assert.equal(second.body.next, null);
    const all = await t.api<PageBody>('GET', '/v1/suppressions');
    assert.ok(all.body.items.length >= 5);
  });

  it('removes an address (204), then answers 404', async () => {
    await t.api('POST', '/v1/suppressions', { email: 'bye@example.org' });
    const removed = await t.api('DELETE', '/v1/suppressions/Bye@example.org');
    assert.equal(removed.status, 204);
    const again = await t.api('DELETE', '/v1/suppressions/bye@example.org');
    assert.equal(again.status, 404);
    assert.equal(errorOf(again).code, 'ERR_NOT_FOUND');
    const missing = await t.api('GET', '/v1/suppressions/bye@example.org');
    assert.equal(missing.status, 404);
    assert.match(errorOf(missing).message, /bye@example\.org/);
  });

  it('refuses an invalid address, an unknown field and a bad limit', async () => {
    const invalid = await t.api('POST', '/v1/suppressions', { email: 'not-an-address' });
    assert.equal(invalid.status, 400);
    assert.equal(errorOf(invalid).code, 'ERR_ADDRESS_INVALID');
    assert.equal(errorOf(invalid).field, 'email');
    const unknown = await t.api('POST', '/v1/suppressions', { email: 'a@b.test', why: 'x' });
    assert.equal(unknown.status, 400);
    assert.equal(errorOf(unknown).code, 'ERR_UNKNOWN_FIELD');
    const limit = await t.api('GET', '/v1/suppressions?limit=0');
    assert.equal(limit.status, 400);
    assert.equal(errorOf(limit).code, 'ERR_VALIDATION');
    const noKey = await fetch(`${t.baseUrl}/v1/suppressions`);
    assert.equal(noKey.status, 401);
  });
});
