/**
 * Alerting end to end: a relay goes down while a message is waiting, the
 * relay-down rule fires and a real local HTTP receiver gets a signed
 * notification; the relay comes back, the message is delivered and the
 * alert resolves with a second signed notification. /metrics follows
 * (`sluice_alerts_firing`), and so does the dashboard's alerts page.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { SIGNATURE_HEADER, verifyWebhook } from '../../src/core/webhook-signature.js';
import type { AlertNotification } from '../../src/alerts/alert-manager.js';
import { startScriptedRelay, type ScriptedRelay } from '../helpers/smtp-farm.js';
import {
  relayAt,
  sendTestMessage,
  startTestSluice,
  TEST_ADMIN_KEY,
  waitFor,
  type TestSluice,
} from '../helpers/sluice.js';

const SECRET = 'alert-webhook-secret-0123456789';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

async function receiver(): Promise<{ server: Server; url: string; received: Received[] }> {
  const received: Received[] = [];
  let failFirst = true;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // The first request fails: the notifier must try again.
      if (failFirst) {
        failFirst = false;
        res.writeHead(503).end();
        return;
      }
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/hooks/alerts`, received };
}

async function metric(t: TestSluice, name: string, labels: string): Promise<number | undefined> {
  const text = await (await fetch(`${t.sluice.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : undefined;
}

describe('alerts (e2e)', () => {
  const closers: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const close of closers.reverse()) await close();
  });

  it('a relay going down fires a signed notification, and coming back resolves it', async () => {
    const hook = await receiver();
    closers.push(() => new Promise((resolve) => hook.server.close(resolve)));
    let relay: ScriptedRelay = await startScriptedRelay();
    const port = relay.port;
    closers.push(() => relay.close());
    const t = await startTestSluice({
      relays: [relayAt(port, 'mx1')],
      health: { failureThreshold: 1, cooldown: '200ms', maxCooldown: '400ms' },
      delivery: {
        retry: { initialDelay: '100ms', maxDelay: '300ms', jitter: 0, maxAge: '60s' },
      },
      alerts: {
        rules: [
          { name: 'relay-down', kind: 'relay-down', for: '0s' },
          { name: 'mx1-pool', kind: 'pool-down', for: '0s' },
        ],
        webhooks: [{ url: hook.url, secret: SECRET, allowPrivate: true }],
        evaluateInterval: '100ms',
        retries: 3,
      },
    });
    closers.push(() => t.close());

    assert.equal(await metric(t, 'sluice_alerts_firing', 'rule="relay-down"'), 0);
    await relay.close();
    const id = await sendTestMessage(t, 'someone@example.com');

    const firing = await waitFor('the firing notification', () =>
      hook.received.find(
        (r) => (JSON.parse(r.body) as AlertNotification).alert.rule === 'relay-down',
      ),
    );
    const now = Date.now();
    assert.deepEqual(
      verifyWebhook(SECRET, firing.headers[SIGNATURE_HEADER] as string, firing.body, now).ok,
      true,
      'the signature verifies over the raw body',
    );
    assert.equal(
      verifyWebhook(
        'another-secret-0123456789',
        firing.headers[SIGNATURE_HEADER] as string,
        firing.body,
        now,
      ).ok,
      false,
    );
    assert.equal(firing.headers['content-type'], 'application/json');
    const payload = JSON.parse(firing.body) as AlertNotification;
    assert.equal(payload.type, 'alert.firing');
    assert.equal(payload.alert.kind, 'relay-down');
    assert.equal(payload.alert.subject, 'mx1');
    assert.match(payload.alert.summary, /relay mx1: circuit (open|half-open)/);
    assert.equal(payload.alert.resolvedAt, null);
    assert.equal(await metric(t, 'sluice_alerts_firing', 'rule="relay-down"'), 1);

    // The dashboard shows it.
    const login = await fetch(`${t.sluice.url}/ui/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: t.sluice.url },
      body: `key=${TEST_ADMIN_KEY}`,
    });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const page = await (await fetch(`${t.sluice.url}/ui/alerts`, { headers: { cookie } })).text();
    assert.match(page, /<tr class="alert-firing">\s*<td>relay-down<\/td>\s*<td>mx1<\/td>/);

    relay = await startScriptedRelay({ port });
    const resolved = await waitFor('the resolved notification', () =>
      hook.received.find((r) => {
        const p = JSON.parse(r.body) as AlertNotification;
        return p.type === 'alert.resolved' && p.alert.rule === 'relay-down';
      }),
    );
    const done = JSON.parse(resolved.body) as AlertNotification;
    assert.equal(
      verifyWebhook(SECRET, resolved.headers[SIGNATURE_HEADER] as string, resolved.body, Date.now())
        .ok,
      true,
    );
    assert.equal(done.alert.subject, 'mx1');
    assert.ok(done.alert.resolvedAt !== null && done.alert.firedAt !== null);
    assert.ok(Date.parse(done.alert.resolvedAt) >= Date.parse(done.alert.firedAt));
    await waitFor('the metric back to 0', async () =>
      (await metric(t, 'sluice_alerts_firing', 'rule="relay-down"')) === 0 ? true : undefined,
    );
    await waitFor('the message delivered', async () => {
      const view = await t.api<{ status: string }>('GET', `/v1/messages/${id}`);
      return view.body.status === 'delivered' ? true : undefined;
    });
    // One relay, one pool: the pool rule fired and resolved as well, each exactly once.
    const types = hook.received.map((r) => {
      const p = JSON.parse(r.body) as AlertNotification;
      return `${p.alert.rule}:${p.type}`;
    });
    for (const expected of [
      'relay-down:alert.firing',
      'relay-down:alert.resolved',
      'mx1-pool:alert.firing',
      'mx1-pool:alert.resolved',
    ]) {
      assert.equal(
        types.filter((x) => x === expected).length,
        1,
        `${expected} in ${types.join(', ')}`,
      );
    }
  });

  it('a recorded complaint counts in the complaint rate and fires its alert', async () => {
    const hook = await receiver();
    closers.push(() => new Promise((resolve) => hook.server.close(resolve)));
    const t = await startTestSluice({
      sink: { port: 0 },
      dashboard: { sampleInterval: '500ms' },
      alerts: {
        rules: [
          { name: 'complaints', kind: 'complaint-rate', threshold: 10, minEvents: 1, window: '1m' },
        ],
        webhooks: [{ url: hook.url, secret: SECRET, allowPrivate: true }],
        evaluateInterval: '100ms',
      },
    });
    closers.push(() => t.close());
    const id = await sendTestMessage(t, 'reader@example.com');
    await waitFor('the delivery', async () =>
      (await t.api<{ status: string }>('GET', `/v1/messages/${id}`)).body.status === 'delivered'
        ? true
        : undefined,
    );
    const complaint = await t.api('POST', '/v1/complaints', {
      email: 'reader@example.com',
      messageId: id,
    });
    assert.equal(complaint.status, 200, JSON.stringify(complaint.body));
    assert.equal(await metric(t, 'sluice_complaints_total', ''), undefined, 'no labels');
    const text = await (await fetch(`${t.sluice.url}/metrics`)).text();
    assert.match(text, /^sluice_complaints_total 1$/m);
    const fired = await waitFor('the complaint-rate notification', () =>
      hook.received.find(
        (r) => (JSON.parse(r.body) as AlertNotification).alert.rule === 'complaints',
      ),
    );
    const payload = JSON.parse(fired.body) as AlertNotification;
    assert.equal(payload.type, 'alert.firing');
    assert.equal(payload.alert.value, 100);
    assert.equal(payload.alert.threshold, 10);
  });

  it('refuses to start with a rule that names an unknown relay', async () => {
    await assert.rejects(
      startTestSluice({
        relays: [relayAt(1, 'mx1')],
        alerts: { rules: [{ name: 'r', kind: 'relay-down', relay: 'mx9' }] },
      }),
      /alerts\.rules\[0\]\.relay.*no relay is named "mx9"/,
    );
    await assert.rejects(
      startTestSluice({ alerts: { rules: [{ name: 'r', kind: 'bounce-rate' }] } }),
      /alerts\.rules\[0\]\.threshold.*required/,
    );
  });
});
