/**
 * 1,000 messages through the API to a real SMTP relay, then reconcile:
 * every message delivered exactly once at the relay, each personalised for
 * its own recipient, every Message-ID unique and equal to the one Sluice
 * reports, and the outbox counts match the relay's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { startScriptedRelay, type ScriptedRelay } from '../helpers/smtp-farm.js';
import { relayAt, startTestSluice, waitFor, type TestSluice } from '../helpers/sluice.js';

const COUNT = 1000;
const CONTACTS = 100;
const SENDERS = 50;

describe('1,000 messages end to end', () => {
  let relay: ScriptedRelay;
  let t: TestSluice;
  before(async () => {
    relay = await startScriptedRelay();
    t = await startTestSluice({ relays: [relayAt(relay.port, 'relay', { maxConnections: 8 })] });
  });
  after(async () => {
    await t.close();
    await relay.close();
  });

  it('delivers each once, personalised, with unique Message-IDs, and the counts reconcile', async () => {
    for (let i = 0; i < CONTACTS; i++) {
      const reply = await t.api('POST', '/v1/contacts', {
        email: `user${i}@example.org`,
        attributes: { first_name: `Name${i}` },
      });
      assert.equal(reply.status, 201);
    }
    const template = await t.api<{ id: string }>('POST', '/v1/templates', {
      name: 'order-confirmation',
      subject: 'Order {{ order }} confirmed',
      text: 'Hello {{ contact.first_name | default: "customer" }}, order {{ order }} for {{ contact.email }}.',
      html: '<p>Hello {{ contact.first_name | default: "customer" }}, order <b>{{ order }}</b>.</p>',
    });
    assert.equal(template.status, 201);

    const ids = new Map<string, number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: SENDERS }, async () => {
        while (next < COUNT) {
          const i = next++;
          const reply = await t.api<{ id: string }>('POST', '/v1/messages', {
            from: 'shop@example.com',
            to: `user${i}@example.org`,
            templateId: template.body.id,
            variables: { order: `A-${i}` },
          });
          assert.equal(reply.status, 202, JSON.stringify(reply.body));
          ids.set(reply.body.id, i);
        }
      }),
    );
    assert.equal(ids.size, COUNT, 'every accept returned a distinct id');

    await waitFor(
      'all messages at the relay',
      () => (relay.messages.length >= COUNT ? true : undefined),
      60_000,
    );
    const counts = await waitFor('the outbox to settle', async () => {
      const c = await t.sluice.store.messages.countByStatus();
      return c.delivered === COUNT ? c : undefined;
    });
    assert.equal(
      counts.queued + counts.sending + counts.deferred + counts.bounced + counts.failed,
      0,
    );
    assert.equal(relay.messages.length, COUNT, 'no duplicates at the relay');
    assert.ok(
      relay.peakConnections <= 8,
      `peak connections ${relay.peakConnections} <= maxConnections`,
    );
    assert.ok(relay.connections <= 8 * 2, `connections are reused (${relay.connections} opened)`);

    const messageIds = new Set<string>();
    for (const recorded of relay.messages) {
      const parsed = await simpleParser(recorded.raw);
      const rcpt = recorded.envelope.to[0] ?? '';
      const i = Number(/^user(\d+)@/.exec(rcpt)?.[1]);
      const name = i < CONTACTS ? `Name${i}` : 'customer';
      assert.equal(parsed.subject, `Order A-${i} confirmed`);
      assert.equal(parsed.text?.trim(), `Hello ${name}, order A-${i} for ${rcpt}.`);
      assert.match(String(parsed.html), new RegExp(`Hello ${name}, order <b>A-${i}</b>`));
      assert.ok(recorded.messageId, 'a Message-ID header');
      messageIds.add(recorded.messageId ?? '');
    }
    assert.equal(messageIds.size, COUNT, 'Message-IDs are unique');

    // Sluice's view of a sample agrees with what the relay got.
    for (const [id, i] of [...ids].slice(0, 20)) {
      const view = await t.api<{ status: string; messageId: string; to: { email: string } }>(
        'GET',
        `/v1/messages/${id}`,
      );
      assert.equal(view.body.status, 'delivered');
      assert.equal(view.body.to.email, `user${i}@example.org`);
      assert.ok(messageIds.has(view.body.messageId.replace(/^<|>$/g, '')));
    }
  });
});
