import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SluiceEventMap } from '../../core/events.js';
import { errorOf, startTestApp, testConfig, type TestApp } from '../test-support.js';

interface Accepted {
  accepted: number;
  duplicates: number;
  ids: string[];
  results: { id: string; contactId: string; status: 'stored' | 'duplicate' }[];
}

interface EventPage {
  items: {
    id: string;
    eventId: string | null;
    contactId: string;
    name: string;
    properties: Record<string, unknown>;
    timestamp: string;
    receivedAt: string;
  }[];
  next: string | null;
}

const DAY = 86_400_000;

describe('events API', () => {
  let t: TestApp;
  const ingested: SluiceEventMap['event:ingested'][] = [];
  before(async () => {
    t = await startTestApp();
    t.events.on('event:ingested', (e) => ingested.push(e));
  });
  after(async () => {
    await t.close();
  });

  it('stores one event (202), readable at once, and announces it on the bus', async () => {
    ingested.length = 0;
    const response = await t.api<Accepted>('POST', '/v1/events', {
      contact: { email: 'Ann@Example.com' },
      name: 'signup',
      properties: { plan: 'free' },
      attributes: { first_name: 'Ann' },
    });
    assert.equal(response.status, 202);
    assert.equal(response.body.accepted, 1);
    assert.equal(response.body.duplicates, 0);
    const [id] = response.body.ids;
    assert.match(id ?? '', /^evt_/);
    const contactId = response.body.results[0]?.contactId ?? '';
    const contact = await t.store.contacts.get(contactId);
    assert.equal(contact?.email, 'Ann@example.com');
    assert.deepEqual(contact?.attributes, { first_name: 'Ann' });
    assert.deepEqual(ingested, [
      {
        id,
        contactId,
        name: 'signup',
        occurredAt: t.clock.now(),
        receivedAt: t.clock.now(),
        properties: { plan: 'free' },
      },
    ]);

    const page = await t.api<EventPage>('GET', `/v1/contacts/${contactId}/events`);
    assert.equal(page.status, 200);
    assert.deepEqual(page.body, {
      items: [
        {
          id,
          eventId: null,
          contactId,
          name: 'signup',
          properties: { plan: 'free' },
          timestamp: new Date(t.clock.now()).toISOString(),
          receivedAt: new Date(t.clock.now()).toISOString(),
        },
      ],
      next: null,
    });
  });

  it('stores a batch with duplicate event ids once per id, and says which were duplicates', async () => {
    const contact = { email: 'dup@example.com' };
    const first = await t.api<Accepted>('POST', '/v1/events/batch', {
      events: [
        { contact, name: 'cart.viewed', id: 'e-1' },
        { contact, name: 'cart.viewed', id: 'e-1' },
        { contact, name: 'order.placed', id: 'e-2', timestamp: '2020-01-01T00:00:00Z' },
      ],
    });
    assert.equal(first.status, 202);
    assert.equal(first.body.accepted, 2);
    assert.equal(first.body.duplicates, 1);
    assert.deepEqual(
      first.body.results.map((r) => r.status),
      ['stored', 'duplicate', 'stored'],
    );
    assert.equal(first.body.ids[0], first.body.ids[1]);
    const retry = await t.api<Accepted>('POST', '/v1/events/batch', {
      events: [
        { contact, name: 'order.placed', id: 'e-2' },
        { contact, name: 'cart.viewed', id: 'e-3' },
      ],
    });
    assert.equal(retry.status, 202);
    assert.deepEqual([retry.body.accepted, retry.body.duplicates], [1, 1]);
    assert.equal(retry.body.ids[0], first.body.ids[2]);
    const contactId = first.body.results[0]?.contactId ?? '';
    const page = await t.api<EventPage>('GET', `/v1/contacts/${contactId}/events?limit=10`);
    assert.deepEqual(page.body.items.map((e) => e.eventId).sort(), ['e-1', 'e-2', 'e-3']);
    assert.equal(page.body.items.at(-1)?.eventId, 'e-2', 'newest first: the 2020 event last');
  });

  it('refuses a batch with one bad event, naming it, and stores nothing', async () => {
    const good = { contact: { email: 'batch@example.com' }, name: 'ok' };
    const cases: [unknown, string, string][] = [
      [{ ...good, name: 'has space' }, 'events[2].name', 'ERR_VALIDATION'],
      [{ ...good, name: '' }, 'events[2].name', 'ERR_VALIDATION'],
      [{ ...good, contact: { email: 'nope' } }, 'events[2].contact.email', 'ERR_ADDRESS_INVALID'],
      [{ ...good, timestamp: 'yesterday' }, 'events[2].timestamp', 'ERR_VALIDATION'],
      [{ ...good, extra: 1 }, 'events[2].extra', 'ERR_UNKNOWN_FIELD'],
      [{ ...good, properties: [1] }, 'events[2].properties', 'ERR_VALIDATION'],
    ];
    for (const [bad, field, code] of cases) {
      const response = await t.api('POST', '/v1/events/batch', { events: [good, good, bad] });
      assert.equal(response.status, 400, field);
      assert.equal(errorOf(response).code, code, field);
      assert.equal(errorOf(response).field, field);
    }
    assert.equal(await t.store.contacts.getByEmail('batch@example.com'), undefined);
  });

  it('refuses an empty batch and one of 1,001 events', async () => {
    const event = { contact: { email: 'many@example.com' }, name: 'x' };
    const tooMany = await t.api('POST', '/v1/events/batch', {
      events: Array.from({ length: 1001 }, () => event),
    });
    assert.equal(tooMany.status, 400);
    assert.equal(errorOf(tooMany).field, 'events');
    const empty = await t.api('POST', '/v1/events/batch', { events: [] });
    assert.equal(empty.status, 400);
    assert.equal(errorOf(empty).field, 'events');
    const thousand = await t.api<Accepted>('POST', '/v1/events/batch', {
      events: Array.from({ length: 1000 }, () => event),
    });
    assert.equal(thousand.status, 202);
    assert.equal(thousand.body.accepted, 1000);
  });

  it('answers 404 for an unknown contact id, storing nothing of the batch', async () => {
    const single = await t.api('POST', '/v1/events', { contact: { id: 'ct_nope' }, name: 'x' });
    assert.equal(single.status, 404);
    assert.equal(errorOf(single).code, 'ERR_CONTACT_NOT_FOUND');
    assert.equal(errorOf(single).field, 'contact.id');
    const batch = await t.api('POST', '/v1/events/batch', {
      events: [
        { contact: { email: 'first@example.com' }, name: 'x' },
        { contact: { id: 'ct_nope' }, name: 'x' },
      ],
    });
    assert.equal(batch.status, 404);
    assert.equal(errorOf(batch).field, 'events[1].contact.id');
    assert.equal(await t.store.contacts.getByEmail('first@example.com'), undefined);
    const list = await t.api('GET', '/v1/contacts/ct_nope/events');
    assert.equal(list.status, 404);
  });

  it('refuses a timestamp more than a day ahead, accepts one within the day', async () => {
    const contact = { email: 'time@example.com' };
    const ahead = new Date(t.clock.now() + DAY + 1000).toISOString();
    const refused = await t.api('POST', '/v1/events', { contact, name: 'x', timestamp: ahead });
    assert.equal(refused.status, 400);
    assert.equal(errorOf(refused).field, 'timestamp');
    const soon = new Date(t.clock.now() + DAY - 1000).toISOString();
    const ok = await t.api('POST', '/v1/events', { contact, name: 'x', timestamp: soon });
    assert.equal(ok.status, 202);
    const offset = await t.api('POST', '/v1/events', {
      contact,
      name: 'x',
      timestamp: '2023-11-15T01:13:20+03:00',
    });
    assert.equal(offset.status, 202);
  });

  it('refuses properties and attributes over 32 KB', async () => {
    const big = { blob: 'x'.repeat(33 * 1024) };
    const contact = { email: 'big@example.com' };
    const props = await t.api('POST', '/v1/events', { contact, name: 'x', properties: big });
    assert.equal(props.status, 400);
    assert.equal(errorOf(props).field, 'properties');
    const attrs = await t.api('POST', '/v1/events/batch', {
      events: [{ contact, name: 'x', attributes: big }],
    });
    assert.equal(attrs.status, 400);
    assert.equal(errorOf(attrs).field, 'events[0].attributes');
    assert.equal(await t.store.contacts.getByEmail('big@example.com'), undefined);
  });
});

describe('events API under overload', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ config: testConfig({ events: { maxPending: 2 } }) });
  });
  after(async () => {
    await t.close();
  });

  it('answers 429 ERR_OVERLOADED with Retry-After beyond events.maxPending, storing nothing', async () => {
    const contact = { email: 'load@example.com' };
    const refused = await t.api('POST', '/v1/events/batch', {
      events: [1, 2, 3].map((i) => ({ contact, name: 'x', id: `o-${i}` })),
    });
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal(errorOf(refused).code, 'ERR_OVERLOADED');
    assert.equal(await t.store.contacts.getByEmail('load@example.com'), undefined);

    const fits = await t.api<Accepted>('POST', '/v1/events/batch', {
      events: [1, 2].map((i) => ({ contact, name: 'x', id: `o-${i}` })),
    });
    assert.equal(fits.status, 202);
    assert.equal(fits.body.accepted, 2);

    // Concurrent requests: those admitted are stored, the rest get 429; none is lost silently.
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        t.api<Accepted>('POST', '/v1/events', { contact, name: 'y', id: `c-${i}` }),
      ),
    );
    const statuses = responses.map((r) => r.status);
    assert.ok(
      statuses.every((s) => s === 202 || s === 429),
      statuses.join(),
    );
    const stored = await t.store.events.listForContact(fits.body.results[0]?.contactId ?? '', {
      limit: 100,
    });
    assert.equal(
      stored.items.filter((e) => e.name === 'y').length,
      statuses.filter((s) => s === 202).length,
    );
  });
});
