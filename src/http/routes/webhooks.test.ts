import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_WEBHOOKS } from '../../config/config.js';
import { errorOf, startTestApp, testConfig, type TestApp } from '../test-support.js';

interface EndpointBody {
  id: string;
  url: string;
  events: string[];
  description: string;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  secretRotatedAt: string | null;
  secret?: string;
}

interface DeliveryBody {
  eventId: string;
  type: string;
  status: string;
  attempts: number;
  nextAttemptAt: string | null;
  data: Record<string, unknown>;
}

const PUBLIC_URL = 'https://93.184.216.34/hooks/sluice';

describe('webhook endpoints', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({
      config: testConfig({ webhooks: { ...DEFAULT_WEBHOOKS, allowPrivateNetworks: false } }),
    });
  });
  after(async () => {
    await t.close();
  });

  it('creates (secret shown once), reads, lists, patches, rotates, test-sends and deletes', async () => {
    const created = await t.api<EndpointBody>('POST', '/v1/webhooks', {
      url: PUBLIC_URL,
      events: ['delivered', 'bounced', 'complained'],
      description: 'CRM',
    });
    assert.equal(created.status, 201, created.text);
    assert.match(created.body.id, /^wh_[0-9a-f]{32}$/);
    assert.match(created.body.secret ?? '', /^whsec_[A-Za-z0-9_-]{43}$/);
    assert.equal(created.body.enabled, true);
    assert.equal(created.body.secretRotatedAt, null);
    const id = created.body.id;

    const got = await t.api<EndpointBody>('GET', `/v1/webhooks/${id}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.secret, undefined, 'the secret is never shown again');
    assert.deepEqual(got.body.events, ['delivered', 'bounced', 'complained']);
    assert.ok(!got.text.includes(created.body.secret ?? '?'));

    const list = await t.api<{ items: EndpointBody[]; next: string | null }>('GET', '/v1/webhooks');
    assert.deepEqual(
      list.body.items.map((e) => e.id),
      [id],
    );
    assert.ok(!list.text.includes('whsec_'));

    t.clock.advance(1000);
    const patched = await t.api<EndpointBody>('PATCH', `/v1/webhooks/${id}`, {
      events: ['opened'],
      enabled: false,
    });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.body.events, ['opened']);
    assert.equal(patched.body.enabled, false);
    assert.equal(patched.body.url, PUBLIC_URL);

    const rotated = await t.api<EndpointBody>(
      'POST',
      `/v1/webhooks/${id}/rotate-secret?graceSeconds=60`,
    );
    assert.equal(rotated.status, 200, rotated.text);
    assert.match(rotated.body.secret ?? '', /^whsec_/);
    assert.notEqual(rotated.body.secret, created.body.secret);
    assert.equal(rotated.body.secretRotatedAt, new Date(t.clock.now()).toISOString());

    const test = await t.api<{ eventId: string }>('POST', `/v1/webhooks/${id}/test`);
    assert.equal(test.status, 202, test.text);
    const log = await t.api<{ items: DeliveryBody[] }>('GET', `/v1/webhooks/${id}/deliveries`);
    assert.equal(log.status, 200, log.text);
    assert.equal(log.body.items.length, 1);
    assert.deepEqual(
      { ...log.body.items[0], data: undefined },
      {
        eventId: test.body.eventId,
        type: 'test',
        status: 'pending',
        attempts: 0,
        lastStatus: null,
        lastError: null,
        lastAttemptAt: null,
        nextAttemptAt: new Date(t.clock.now()).toISOString(),
        finishedAt: null,
        createdAt: new Date(t.clock.now()).toISOString(),
        data: undefined,
      },
    );

    const deleted = await t.api('DELETE', `/v1/webhooks/${id}`);
    assert.equal(deleted.status, 204);
    for (const [method, path] of [
      ['GET', `/v1/webhooks/${id}`],
      ['DELETE', `/v1/webhooks/${id}`],
      ['GET', `/v1/webhooks/${id}/deliveries`],
      ['POST', `/v1/webhooks/${id}/test`],
      ['POST', `/v1/webhooks/${id}/rotate-secret`],
    ] as const) {
      const response = await t.api(method, path);
      assert.equal(response.status, 404, `${method} ${path}`);
      assert.equal(errorOf(response).code, 'ERR_NOT_FOUND');
    }
  });

  it('refuses a URL that is not http(s), carries credentials or reaches a private address: 400 naming url', async () => {
    for (const url of [
      'http://127.0.0.1:8080/x',
      'http://[::1]/x',
      'http://[::ffff:10.0.0.1]/x',
      'http://169.254.169.254/latest/meta-data',
      'http://100.64.0.1/x',
      'ftp://93.184.216.34/x',
      'https://user:pass@93.184.216.34/x',
      'not a url',
    ]) {
      const response = await t.api('POST', '/v1/webhooks', { url, events: ['delivered'] });
      assert.equal(response.status, 400, url);
      assert.equal(errorOf(response).code, 'ERR_WEBHOOK_URL', url);
      assert.equal(errorOf(response).field, 'url', url);
    }
    const created = await t.api<EndpointBody>('POST', '/v1/webhooks', {
      url: PUBLIC_URL,
      events: ['delivered'],
    });
    const patch = await t.api('PATCH', `/v1/webhooks/${created.body.id}`, {
      url: 'http://10.1.2.3/',
    });
    assert.equal(patch.status, 400);
    assert.equal(errorOf(patch).code, 'ERR_WEBHOOK_URL');
    const unchanged = await t.api<EndpointBody>('GET', `/v1/webhooks/${created.body.id}`);
    assert.equal(unchanged.body.url, PUBLIC_URL, 'nothing half-written');
  });

  it('refuses bad event lists and unknown fields', async () => {
    const cases: [unknown, string][] = [
      [{ url: PUBLIC_URL, events: [] }, 'ERR_VALIDATION'],
      [{ url: PUBLIC_URL, events: ['sent'] }, 'ERR_VALIDATION'],
      [{ url: PUBLIC_URL, events: ['opened', 'opened'] }, 'ERR_VALIDATION'],
      [{ url: PUBLIC_URL }, 'ERR_VALIDATION'],
      [{ url: PUBLIC_URL, events: ['opened'], secret: 'mine' }, 'ERR_UNKNOWN_FIELD'],
    ];
    for (const [body, code] of cases) {
      const response = await t.api('POST', '/v1/webhooks', body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(errorOf(response).code, code, JSON.stringify(body));
    }
  });
});

describe('webhook endpoints with webhooks.allowPrivateNetworks', () => {
  it('accepts a loopback URL', async () => {
    const t = await startTestApp({
      config: testConfig({ webhooks: { ...DEFAULT_WEBHOOKS, allowPrivateNetworks: true } }),
    });
    try {
      const created = await t.api<EndpointBody>('POST', '/v1/webhooks', {
        url: 'http://127.0.0.1:9/hook',
        events: ['delivered'],
      });
      assert.equal(created.status, 201, created.text);
    } finally {
      await t.close();
    }
  });
});

describe('complaints', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(async () => {
    await t.close();
  });

  it('suppresses the address, marks the contact complained and emits the event', async () => {
    const contact = await t.api<{ id: string }>('POST', '/v1/contacts', {
      email: 'Reader@Example.com',
    });
    const hook = await t.api<EndpointBody>('POST', '/v1/webhooks', {
      url: PUBLIC_URL,
      events: ['complained'],
    });
    const response = await t.api<{ contactId: string | null; eventId: string; email: string }>(
      'POST',
      '/v1/complaints',
      { email: 'Reader@EXAMPLE.com', source: 'gmail-fbl', feedbackType: 'abuse' },
    );
    assert.equal(response.status, 200, response.text);
    assert.equal(response.body.contactId, contact.body.id);
    assert.equal(response.body.email, 'Reader@example.com');
    const suppression = await t.api<{ reason: string }>(
      'GET',
      '/v1/suppressions/reader@example.com',
    );
    assert.equal(suppression.body.reason, 'complaint');
    const stored = await t.api<{ status: string }>('GET', `/v1/contacts/${contact.body.id}`);
    assert.equal(stored.body.status, 'complained');
    const log = await t.api<{ items: DeliveryBody[] }>(
      'GET',
      `/v1/webhooks/${hook.body.id}/deliveries`,
    );
    assert.equal(log.body.items[0]?.eventId, response.body.eventId);
    assert.deepEqual(log.body.items[0]?.data, {
      recipient: 'Reader@example.com',
      contactId: contact.body.id,
      source: 'gmail-fbl',
      feedbackType: 'abuse',
    });
  });

  it('refuses a bad address or an unknown message id, storing nothing', async () => {
    const bad = await t.api('POST', '/v1/complaints', { email: 'not-an-address' });
    assert.equal(bad.status, 400);
    assert.equal(errorOf(bad).code, 'ERR_ADDRESS_INVALID');
    assert.equal(errorOf(bad).field, 'email');
    const unknown = await t.api('POST', '/v1/complaints', {
      email: 'x@example.com',
      messageId: 'msg_nope',
    });
    assert.equal(unknown.status, 400);
    assert.equal(errorOf(unknown).field, 'messageId');
    const suppression = await t.api('GET', '/v1/suppressions/x@example.com');
    assert.equal(suppression.status, 404);
  });

  it('reads an ARF feedback report: recipient from the report, message from its Message-ID', async () => {
    const accepted = await t.api<{ id: string }>('POST', '/v1/messages', {
      from: 'app@example.com',
      to: 'fbl-user@example.com',
      subject: 'Hi',
      text: 'Hello',
    });
    assert.equal(accepted.status, 202, accepted.text);
    const report = (rcpt: string | undefined, messageId: string) =>
      [
        'From: <fbl@provider.example>',
        'MIME-Version: 1.0',
        'Content-Type: multipart/report; report-type=feedback-report; boundary="b1"',
        '',
        '--b1',
        'Content-Type: text/plain',
        '',
        'An abuse report.',
        '--b1',
        'Content-Type: message/feedback-report',
        '',
        'Feedback-Type: abuse',
        'Version: 1',
        ...(rcpt ? [`Original-Rcpt-To: ${rcpt}`] : []),
        '',
        '--b1',
        'Content-Type: text/rfc822-headers',
        '',
        `Message-ID: <${messageId}.0a1b2c3d@example.com>`,
        'Subject: Hi',
        '',
        '--b1--',
        '',
      ].join('\r\n');
    const post = (body: string) =>
      t.api<{ email: string; contactId: string | null; eventId: string }>(
        'POST',
        '/v1/complaints/arf',
        body,
        { 'content-type': 'message/rfc822' },
      );
    // Redacted recipient: taken from the message the Message-ID names.
    const redacted = await post(report(undefined, accepted.body.id));
    assert.equal(redacted.status, 200, redacted.text);
    assert.equal(redacted.body.email, 'fbl-user@example.com');
    const suppression = await t.api<{ reason: string; sourceMessageId: string }>(
      'GET',
      '/v1/suppressions/fbl-user@example.com',
    );
    assert.equal(suppression.body.reason, 'complaint');
    assert.equal(suppression.body.sourceMessageId, accepted.body.id);
    // Named recipient, unknown message: recorded without a message id.
    const named = await post(report('rfc822; other@example.com', 'msg_ffff'));
    assert.equal(named.status, 200, named.text);
    assert.equal(named.body.email, 'other@example.com');
    // Neither: 400 naming the body; not a report at all: the same.
    for (const body of [report(undefined, 'msg_ffff'), 'Subject: hi\r\n\r\nnot a report']) {
      const refused = await post(body);
      assert.equal(refused.status, 400, refused.text);
      assert.equal(errorOf(refused).code, 'ERR_COMPLAINT_REPORT');
      assert.equal(errorOf(refused).field, 'body');
    }
  });
});
