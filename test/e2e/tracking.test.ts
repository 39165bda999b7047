/**
 * Tracking and one-click unsubscribe end to end: a bulk message reaches a
 * scripted relay with List-Unsubscribe (https + mailto), List-Unsubscribe-Post
 * and rewritten links; the pixel and the click are recorded; a tampered token
 * is a 404 with no Location; the unsubscribe page changes nothing; the
 * one-click POST unsubscribes, and the next bulk message to that address ends
 * `suppressed` without reaching the relay.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { startScriptedRelay, type ScriptedRelay } from '../helpers/smtp-farm.js';
import {
  finalView,
  relayAt,
  sendTestMessage,
  startTestSluice,
  waitFor,
  type TestSluice,
} from '../helpers/sluice.js';

/** What links say; the test rewrites it to the running instance's address. */
const PUBLIC_URL = 'https://track.example.test';
const RCPT = 'reader@example.net';

describe('tracking and one-click unsubscribe', () => {
  let relay: ScriptedRelay;
  let t: TestSluice;
  let links: { unsubscribe: string; click: string; pixel: string };
  let messageId: string;

  before(async () => {
    relay = await startScriptedRelay();
    t = await startTestSluice({
      relays: [relayAt(relay.port)],
      tracking: {
        publicUrl: PUBLIC_URL,
        secret: 'e2e-tracking-secret-0123456789abcdef',
        opens: true,
        clicks: true,
        unsubscribeMailto: 'unsubscribe@example.com',
      },
    });
    const contact = await t.api('POST', '/v1/contacts', { email: RCPT });
    assert.equal(contact.status, 201, JSON.stringify(contact.body));
  });
  after(async () => {
    await t.close();
    await relay.close();
  });

  /** A link as written in the message, pointed at the running instance. */
  const local = (url: string) => t.sluice.url + url.slice(PUBLIC_URL.length);

  it('sends a bulk message with both List-Unsubscribe headers, a pixel and rewritten links', async () => {
    messageId = await sendTestMessage(t, RCPT, {
      stream: 'bulk',
      html: '<p>Hi <a href="https://shop.example.org/sale?a=1&amp;b=2">the sale</a> <a href="mailto:help@example.com">help</a></p>',
    });
    const view = await finalView(t, messageId);
    assert.equal(view.status, 'delivered');
    const [received] = relay.messages;
    assert.ok(received);
    const mail = await simpleParser(received.raw);
    const unsubscribe = mail.headerLines.find((h) => h.key === 'list-unsubscribe')?.line ?? '';
    const match =
      /^List-Unsubscribe: <(https:\/\/track\.example\.test\/t\/u\/[A-Za-z0-9_.-]+)>, <mailto:unsubscribe@example\.com\?subject=unsubscribe>$/.exec(
        unsubscribe.replace(/\r?\n\s+/g, ' '),
      );
    assert.ok(match, unsubscribe);
    assert.equal(
      mail.headerLines.find((h) => h.key === 'list-unsubscribe-post')?.line,
      'List-Unsubscribe-Post: List-Unsubscribe=One-Click',
    );
    const html = typeof mail.html === 'string' ? mail.html : '';
    const click = /<a href="(https:\/\/track\.example\.test\/t\/c\/[^"]+)">the sale<\/a>/.exec(
      html,
    );
    const pixel = /<img src="(https:\/\/track\.example\.test\/t\/o\/[^"]+)"/.exec(html);
    assert.ok(click && pixel, html);
    assert.match(html, /<a href="mailto:help@example.com">/, 'mailto: is left alone');
    assert.doesNotMatch(html, /shop\.example\.org/, 'the target is only inside the token');
    links = { unsubscribe: match[1] ?? '', click: click[1] ?? '', pixel: pixel[1] ?? '' };
  });

  it('serves the pixel and records an open', async () => {
    const response = await fetch(local(links.pixel));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'image/gif');
    assert.match(response.headers.get('cache-control') ?? '', /no-store/);
    assert.equal(
      Buffer.from(await response.arrayBuffer())
        .subarray(0, 6)
        .toString(),
      'GIF89a',
    );
    const events = await t.sluice.store.engagement.forMessage(messageId);
    assert.deepEqual(
      events.map((e) => [e.kind, e.email]),
      [['open', RCPT]],
    );
    assert.ok(events[0]?.contactId, 'the contact is recorded');
  });

  it('redirects a click to the original URL and records it', async () => {
    const response = await fetch(local(links.click), { redirect: 'manual' });
    assert.equal(response.status, 302);
    assert.equal(response.headers.get('location'), 'https://shop.example.org/sale?a=1&b=2');
    const events = await t.sluice.store.engagement.forMessage(messageId);
    assert.deepEqual(events.at(-1)?.url, 'https://shop.example.org/sale?a=1&b=2');
    assert.equal(events.at(-1)?.kind, 'click');
  });

  it('answers a tampered or foreign token with 404 and no Location', async () => {
    const [payload = '', mac = ''] = links.click.split('/t/c/')[1]?.split('.') ?? [];
    const evil = Buffer.from(`c\0${messageId}\0https://evil.example/`).toString('base64url');
    const flipped = mac.slice(0, 3) + (mac[3] === 'A' ? 'B' : 'A') + mac.slice(4);
    for (const path of [
      `/t/c/${evil}.${mac}`,
      `/t/c/${payload}.${flipped}`,
      `/t/c/${payload}`,
      `/t/c/${payload}.${mac.slice(0, 10)}`,
      `/t/o/${payload}.${mac}`,
      `/t/u/${payload}.${mac}`,
    ]) {
      const response = await fetch(t.sluice.url + path, { redirect: 'manual' });
      assert.equal(response.status, 404, path);
      assert.equal(response.headers.get('location'), null, path);
    }
  });

  it('shows the unsubscribe page on GET and changes nothing', async () => {
    const response = await fetch(local(links.unsubscribe));
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    const page = await response.text();
    assert.match(page, /<form method="post"/);
    assert.equal((await t.api('GET', `/v1/suppressions/${RCPT}`)).status, 404);
    const contact = await t.sluice.store.contacts.getByEmail(RCPT);
    assert.equal(contact?.status, 'active');
  });

  it('unsubscribes on the one-click POST, with no cookie or login', async () => {
    const response = await fetch(local(links.unsubscribe), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    assert.equal(response.status, 200);
    const suppression = await t.api<{ reason: string }>('GET', `/v1/suppressions/${RCPT}`);
    assert.equal(suppression.status, 200);
    assert.equal(suppression.body.reason, 'unsubscribed');
    assert.equal((await t.sluice.store.contacts.getByEmail(RCPT))?.status, 'unsubscribed');
    const events = await t.sluice.store.engagement.forMessage(messageId);
    assert.equal(events.at(-1)?.kind, 'unsubscribe');
  });

  it('keeps the unsubscribed address out of the next bulk message', async () => {
    const before = relay.messages.length;
    const id = await sendTestMessage(t, RCPT, { stream: 'bulk', html: '<p>Again</p>' });
    const view = await finalView(t, id);
    assert.equal(view.status, 'suppressed');
    await waitFor('the relay to stay untouched', () =>
      relay.messages.length === before ? true : undefined,
    );
    assert.equal(relay.attempts(RCPT), 1);
  });
});
