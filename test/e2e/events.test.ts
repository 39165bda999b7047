/**
 * Events end to end, on a real node (SQLite file, real loader, real
 * metrics): ten clients send the same batch at once, each batch repeating
 * its event ids, and every id is stored exactly once; the contact's
 * timeline and /metrics agree.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestSluice, type TestSluice } from '../helpers/sluice.js';

interface Accepted {
  accepted: number;
  duplicates: number;
  ids: string[];
  results: { id: string; contactId: string; status: string }[];
}

describe('e2e: events', () => {
  let t: TestSluice;
  before(async () => {
    t = await startTestSluice({ delivery: { enabled: false } });
  });
  after(async () => {
    await t.close();
  });

  it('a batch with duplicate event ids, sent by ten clients at once, stores each id once', async () => {
    // 100 events, 50 distinct ids (each twice).
    const events = Array.from({ length: 100 }, (_, i) => ({
      contact: { email: 'shopper@example.com' },
      name: 'product.viewed',
      id: `view-${i % 50}`,
      properties: { sku: `sku-${i % 50}` },
      attributes: { last_seen: 'today' },
    }));
    const replies = await Promise.all(
      Array.from({ length: 10 }, () => t.api<Accepted>('POST', '/v1/events/batch', { events })),
    );
    assert.deepEqual(
      replies.map((r) => r.status),
      Array(10).fill(202),
    );
    const accepted = replies.reduce((sum, r) => sum + r.body.accepted, 0);
    const duplicates = replies.reduce((sum, r) => sum + r.body.duplicates, 0);
    assert.equal(accepted, 50);
    assert.equal(duplicates, 950);
    // Every reply names the same stored event for an id.
    for (const reply of replies) assert.deepEqual(reply.body.ids, replies[0]?.body.ids);

    const contactId = replies[0]?.body.results[0]?.contactId ?? '';
    const page = await t.api<{ items: { eventId: string }[]; next: string | null }>(
      'GET',
      `/v1/contacts/${contactId}/events?limit=500`,
    );
    assert.equal(page.status, 200);
    assert.equal(page.body.items.length, 50);
    assert.equal(new Set(page.body.items.map((e) => e.eventId)).size, 50);
    const contact = await t.api<{ attributes: Record<string, unknown> }>(
      'GET',
      `/v1/contacts/${contactId}`,
    );
    assert.deepEqual(contact.body.attributes, { last_seen: 'today' });

    const metrics = await fetch(`${t.sluice.url}/metrics`).then((r) => r.text());
    assert.match(metrics, /^sluice_events_ingested_total\{endpoint="batch"\} 50$/m);
    assert.match(metrics, /^sluice_events_duplicates_total\{endpoint="batch"\} 950$/m);
  });
});
