import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { errorOf, startTestApp, type TestApp } from '../test-support.js';

interface SegmentBody {
  id: string;
  name: string;
  conditions: unknown;
  createdAt: string;
  updatedAt: string;
}

interface PreviewBody {
  count: number;
  items: { id: string; email: string }[];
}

const DAY = 86_400_000;

describe('segments', () => {
  let t: TestApp;
  let listId: string;
  before(async () => {
    t = await startTestApp();
    const at = t.clock.now();
    await t.store.contacts.upsertMany(
      ['ann', 'bob', 'cy', 'dee'].map((name, i) => ({
        id: `ct_${i}`,
        email: `${name}@example.com`,
        attributes: { plan: i % 2 === 0 ? 'pro' : 'free', age: 30 + i },
        at,
      })),
    );
    const list = await t.api<{ id: string }>('POST', '/v1/lists', { name: 'vip' });
    listId = list.body.id;
    await t.store.lists.addMembers(listId, ['ct_1', 'ct_2'], at);
    await t.store.events.append(
      [1, 2, 40].map((ago, i) => ({
        id: `evt_${i}`,
        contact: { id: 'ct_2' },
        newContactId: 'unused',
        name: 'purchase',
        properties: {},
        occurredAt: at - ago * DAY,
        receivedAt: at,
      })),
    );
  });
  after(async () => {
    await t.close();
  });

  it('creates, reads, counts, previews, patches, lists and deletes a segment', async () => {
    const conditions = { and: [{ attribute: 'plan', op: 'eq', value: 'pro' }] };
    const created = await t.api<SegmentBody>('POST', '/v1/segments', { name: 'pro', conditions });
    assert.equal(created.status, 201);
    assert.match(created.body.id, /^seg_/);
    assert.deepEqual(created.body.conditions, conditions);
    const id = created.body.id;

    const duplicate = await t.api('POST', '/v1/segments', { name: 'pro', conditions });
    assert.equal(duplicate.status, 409);
    assert.equal(errorOf(duplicate).code, 'ERR_CONFLICT');

    assert.deepEqual((await t.api<SegmentBody>('GET', `/v1/segments/${id}`)).body, created.body);
    assert.deepEqual((await t.api('GET', `/v1/segments/${id}/count`)).body, { count: 2 });
    const preview = await t.api<PreviewBody>('GET', `/v1/segments/${id}/preview?limit=1`);
    assert.equal(preview.status, 200);
    assert.equal(preview.body.count, 2);
    assert.deepEqual(
      preview.body.items.map((c) => c.email),
      ['ann@example.com'],
    );

    t.clock.advance(1000);
    const patched = await t.api<SegmentBody>('PATCH', `/v1/segments/${id}`, {
      conditions: { event: 'purchase', atLeast: 2, withinDays: 7 },
    });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.name, 'pro');
    assert.notEqual(patched.body.updatedAt, created.body.updatedAt);
    const buyers = await t.api<PreviewBody>('GET', `/v1/segments/${id}/preview`);
    assert.deepEqual(
      buyers.body.items.map((c) => c.id),
      ['ct_2'],
    );

    const all = await t.api<{ items: SegmentBody[] }>('GET', '/v1/segments');
    assert.deepEqual(
      all.body.items.map((s) => s.id),
      [id],
    );
    assert.equal((await t.api('DELETE', `/v1/segments/${id}`)).status, 204);
    for (const path of [`/v1/segments/${id}`, `/v1/segments/${id}/count`]) {
      const gone = await t.api('GET', path);
      assert.equal(gone.status, 404);
      assert.equal(errorOf(gone).code, 'ERR_NOT_FOUND');
    }
    assert.equal((await t.api('DELETE', `/v1/segments/${id}`)).status, 404);
    assert.equal((await t.api('PATCH', `/v1/segments/${id}`, { name: 'x' })).status, 404);
  });

  it('counts and previews an unsaved condition', async () => {
    const response = await t.api<PreviewBody>('POST', '/v1/segments/count', {
      conditions: {
        or: [{ inList: listId }, { attribute: 'age', op: 'gt', value: 32 }],
      },
      limit: 2,
    });
    assert.equal(response.status, 200);
    assert.equal(response.body.count, 3);
    assert.deepEqual(
      response.body.items.map((c) => c.id),
      ['ct_1', 'ct_2'],
    );
    const countOnly = await t.api<PreviewBody>('POST', '/v1/segments/count', {
      conditions: { not: { inList: listId } },
      limit: 0,
    });
    assert.deepEqual(countOnly.body, { count: 2, items: [] });
  });

  it('refuses a bad condition with 400 naming its path', async () => {
    const cases: [string, string, unknown][] = [
      [
        'POST',
        '/v1/segments',
        {
          name: 'bad',
          conditions: { and: [{ inList: 'x' }, { attribute: 'plan', op: 'like', value: 1 }] },
        },
      ],
      [
        'POST',
        '/v1/segments/count',
        { conditions: { and: [{ inList: 'x' }, { attribute: 'plan', op: 'like', value: 1 }] } },
      ],
    ];
    for (const [method, path, body] of cases) {
      const response = await t.api(method, path, body);
      assert.equal(response.status, 400, path);
      const error = errorOf(response);
      assert.equal(error.code, 'ERR_SEGMENT_INVALID');
      assert.equal(error.field, 'conditions.and[1].op');
      assert.match(error.message, /unknown operator "like"; expected one of eq, ne/);
    }
    const created = await t.api<SegmentBody>('POST', '/v1/segments', {
      name: 'ok',
      conditions: { inList: listId },
    });
    const patch = await t.api('PATCH', `/v1/segments/${created.body.id}`, {
      conditions: { field: 'phone', op: 'eq', value: '1' },
    });
    assert.equal(patch.status, 400);
    assert.equal(errorOf(patch).field, 'conditions.field');
    const opened = await t.api('POST', '/v1/segments/count', {
      conditions: { opened: 'cmp_1' },
    });
    assert.equal(opened.status, 400);
    assert.match(errorOf(opened).message, /must hold one of .*event, engagement/);
    const viewed = await t.api('POST', '/v1/segments/count', {
      conditions: { not: { engagement: 'viewed', campaign: 'cmp_1' } },
    });
    assert.equal(viewed.status, 400);
    assert.equal(errorOf(viewed).field, 'conditions.not.engagement');
    assert.match(errorOf(viewed).message, /expected one of opened, clicked/);

    const missing = await t.api('POST', '/v1/segments', { name: 'no conditions' });
    assert.equal(missing.status, 400);
    assert.equal(errorOf(missing).code, 'ERR_VALIDATION');
    const tooMany = await t.api('GET', `/v1/segments/${created.body.id}/preview?limit=101`);
    assert.equal(tooMany.status, 400);
    assert.equal(errorOf(tooMany).field, 'limit');
  });

  it('counts opens and clicks, windowed by the app clock', async () => {
    const at = t.clock.now();
    const rows = [
      { kind: 'open', contactId: 'ct_1', email: 'bob@example.com', ago: 3 },
      { kind: 'open', contactId: 'ct_1', email: 'bob@example.com', ago: 40 },
      // Recorded with only the address (no contact had it then): still Dee's.
      { kind: 'click', email: 'dee@example.com', ago: 1 },
    ] as const;
    for (const [i, row] of rows.entries()) {
      await t.store.engagement.record({
        id: `eng_${i}`,
        kind: row.kind,
        messageId: `msg_${i}`,
        email: row.email,
        ...('contactId' in row ? { contactId: row.contactId } : {}),
        at: at - row.ago * DAY,
      });
    }
    const count = async (conditions: unknown): Promise<string[]> => {
      const response = await t.api<PreviewBody>('POST', '/v1/segments/count', { conditions });
      assert.equal(response.status, 200, JSON.stringify(conditions));
      assert.equal(response.body.count, response.body.items.length);
      return response.body.items.map((c) => c.email);
    };
    assert.deepEqual(await count({ engagement: 'opened' }), ['bob@example.com']);
    assert.deepEqual(await count({ engagement: 'opened', withinDays: 2 }), []);
    assert.deepEqual(await count({ engagement: 'opened', atLeast: 2, withinDays: 40 }), [
      'bob@example.com',
    ]);
    assert.deepEqual(await count({ engagement: 'clicked' }), ['dee@example.com']);
    assert.deepEqual(
      await count({
        and: [{ attribute: 'plan', op: 'eq', value: 'pro' }, { not: { engagement: 'clicked' } }],
      }),
      ['ann@example.com', 'cy@example.com'],
    );
  });
});
