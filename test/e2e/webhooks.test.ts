/**
 * Outgoing webhooks end to end: a real HTTP receiver on 127.0.0.1 answers
 * 500 while it is "down"; meanwhile a message is delivered and one bounces
 * (scripted SMTP relay), the delivered one's open pixel and click redirect
 * are fetched (/t endpoints) and a complaint is recorded. Once the receiver
 * answers 200, it gets every event, each with a Sluice-Signature it
 * verifies over the raw body and a stable event id. A receiver that
 * answers 302 is not followed. Without webhooks.allowPrivateNetworks, the
 * receiver's loopback URL is refused with 400 naming `url`.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { verifyWebhook } from '../../src/core/webhook-signature.js';
import { startScriptedRelay, type ScriptedRelay } from '../helpers/smtp-farm.js';
import {
  finalView,
  relayAt,
  sendTestMessage,
  startTestSluice,
  waitFor,
  type TestSluice,
} from '../helpers/sluice.js';

const PUBLIC_URL = 'https://track.example.test';
const OK = 'reader@example.net';
const BOUNCE = 'gone@example.net';

interface Hit {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  answered: number;
}

describe('outgoing webhooks', () => {
  let relay: ScriptedRelay;
  let t: TestSluice;
  let receiver: Server;
  let receiverUrl: string;
  let up = false;
  const hits: Hit[] = [];
  let secret: string;
  let endpointId: string;
  let movedId: string;
  let delivered: string;
  let bounced: string;

  before(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        const path = req.url ?? '';
        const answered = path === '/moved' ? 302 : up ? 200 : 500;
        hits.push({ path, headers: req.headers, body, answered });
        if (answered === 302) res.writeHead(302, { location: '/target' }).end();
        else res.writeHead(answered).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    relay = await startScriptedRelay({
      behaviour: (rcpt) => (rcpt === BOUNCE ? { reply: '550 5.1.1 no such user' } : 'accept'),
    });
    t = await startTestSluice({
      relays: [relayAt(relay.port)],
      tracking: {
        publicUrl: PUBLIC_URL,
        secret: 'e2e-tracking-secret-0123456789abcdef',
        opens: true,
        clicks: true,
      },
      webhooks: {
        allowPrivateNetworks: true,
        pollInterval: '50ms',
        retry: { initialDelay: '100ms', maxDelay: '200ms', jitter: 0 },
      },
    });
  });
  after(async () => {
    await t.close();
    await relay.close();
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  });

  it('subscribes an endpoint, and one that redirects', async () => {
    const created = await t.api<{ id: string; secret: string }>('POST', '/v1/webhooks', {
      url: `${receiverUrl}/hook`,
      events: ['delivered', 'bounced', 'opened', 'clicked', 'complained'],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    secret = created.body.secret;
    endpointId = created.body.id;
    const moved = await t.api<{ id: string }>('POST', '/v1/webhooks', {
      url: `${receiverUrl}/moved`,
      events: ['delivered'],
    });
    assert.equal(moved.status, 201);
    movedId = moved.body.id;
  });

  it('queues events while the receiver answers 500', async () => {
    delivered = await sendTestMessage(t, OK, {
      stream: 'bulk',
      html: '<p>Hello <a href="https://shop.example.org/sale">the sale</a></p>',
    });
    bounced = await sendTestMessage(t, BOUNCE);
    assert.equal((await finalView(t, delivered)).status, 'delivered');
    assert.equal((await finalView(t, bounced)).status, 'bounced');

    const [received] = relay.messages;
    assert.ok(received);
    const html = String((await simpleParser(received.raw)).html);
    const click = /href="(https:\/\/track\.example\.test\/t\/c\/[^"]+)"/.exec(html)?.[1];
    const pixel = /src="(https:\/\/track\.example\.test\/t\/o\/[^"]+)"/.exec(html)?.[1];
    assert.ok(click && pixel, html);
    const local = (url: string) => t.sluice.url + url.slice(PUBLIC_URL.length);
    assert.equal((await fetch(local(pixel))).status, 200);
    assert.equal((await fetch(local(click), { redirect: 'manual' })).status, 302);
    const complaint = await t.api('POST', '/v1/complaints', { email: OK, messageId: delivered });
    assert.equal(complaint.status, 200);

    await waitFor('a 500 for each of the five events', () => {
      const failed = new Set(
        hits
          .filter((h) => h.path === '/hook' && h.answered === 500)
          .map((h) => h.headers['sluice-event-type']),
      );
      return failed.size === 5 ? true : undefined;
    });
  });

  it('delivers every event once the receiver recovers, each signed and verifiable', async () => {
    up = true;
    const byType = await waitFor('every event answered 200', () => {
      const ok = new Map(
        hits
          .filter((h) => h.path === '/hook' && h.answered === 200)
          .map((h) => [String(h.headers['sluice-event-type']), h]),
      );
      return ok.size === 5 ? ok : undefined;
    });
    for (const [type, hit] of byType) {
      const check = verifyWebhook(
        secret,
        String(hit.headers['sluice-signature']),
        hit.body,
        Date.now(),
      );
      assert.equal(check.ok, true, `${type}: ${JSON.stringify(check)}`);
      const event = JSON.parse(hit.body) as {
        id: string;
        type: string;
        data: Record<string, unknown>;
      };
      assert.equal(event.type, type);
      assert.equal(event.id, hit.headers['sluice-event-id']);
      // The event id was the same on the failed tries.
      assert.ok(
        hits.some((h) => h.answered === 500 && h.headers['sluice-event-id'] === event.id),
        `${type} was retried under the same id`,
      );
    }
    const data = (type: string) =>
      (JSON.parse(byType.get(type)?.body ?? '{}') as { data: Record<string, unknown> }).data;
    assert.equal(data('delivered').messageId, delivered);
    assert.equal(data('delivered').recipient, OK);
    assert.equal(data('delivered').code, 250);
    assert.equal(data('bounced').messageId, bounced);
    assert.equal(data('bounced').code, 550);
    assert.equal(data('bounced').category, 'bad-mailbox');
    assert.equal(data('opened').messageId, delivered);
    assert.equal(data('clicked').url, 'https://shop.example.org/sale');
    assert.equal(data('complained').messageId, delivered);

    const log = await t.api<{ items: { status: string; attempts: number; type: string }[] }>(
      'GET',
      `/v1/webhooks/${endpointId}/deliveries`,
    );
    const settled = await waitFor('the delivery log to show every event delivered', async () => {
      const reply = await t.api<{ items: { status: string; attempts: number }[] }>(
        'GET',
        `/v1/webhooks/${endpointId}/deliveries`,
      );
      return reply.body.items.every((d) => d.status === 'delivered') ? reply.body.items : undefined;
    });
    assert.equal(settled.length, 5);
    assert.ok(
      settled.every((d) => d.attempts >= 2),
      JSON.stringify(log.body),
    );
  });

  it('does not follow a redirect', async () => {
    const row = await waitFor('the redirected delivery to be tried twice', async () => {
      const reply = await t.api<{
        items: { attempts: number; lastStatus: number; lastError: string; status: string }[];
      }>('GET', `/v1/webhooks/${movedId}/deliveries`);
      const [first] = reply.body.items;
      return first && first.attempts >= 2 ? first : undefined;
    });
    assert.equal(row.status, 'pending');
    assert.equal(row.lastStatus, 302);
    assert.match(row.lastError, /redirects are not followed/);
    assert.equal(hits.filter((h) => h.path === '/target').length, 0);
    const metrics = await (await fetch(`${t.sluice.url}/metrics`)).text();
    assert.match(metrics, /sluice_webhook_deliveries_total\{outcome="delivered"\} 5/);
    assert.match(metrics, /sluice_webhook_queue\{status="delivered"\} 5/);
  });

  it('refuses the loopback URL without webhooks.allowPrivateNetworks', async () => {
    const strict = await startTestSluice({
      delivery: { enabled: false },
      sink: { port: 0 },
    });
    try {
      const response = await strict.api<{
        error: { code: string; field: string; message: string };
      }>('POST', '/v1/webhooks', { url: `${receiverUrl}/hook`, events: ['delivered'] });
      assert.equal(response.status, 400);
      assert.equal(response.body.error.code, 'ERR_WEBHOOK_URL');
      assert.equal(response.body.error.field, 'url');
      assert.match(response.body.error.message, /loopback/);
    } finally {
      await strict.close();
    }
  });
});
