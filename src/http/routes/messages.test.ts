import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateApiKey, hashApiKey, apiKeyDisplayPrefix } from '../../core/api-keys.js';
import { newId } from '../../core/ids.js';
import { errorOf, startTestApp, testConfig, type TestApp } from '../test-support.js';

interface Accepted {
  id: string;
  status: string;
}

const base = {
  to: 'jane@example.com',
  from: { email: 'shop@sender.example', name: 'The Shop' },
  subject: 'Your order {{ order }}',
  text: 'Hello {{ contact.first_name | default: "there" }}, order {{ order }} has shipped.',
  variables: { order: 'A-1' },
};

describe('POST /v1/messages', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(async () => {
    await t.close();
  });

  async function storedCount(): Promise<number> {
    const counts = await t.store.messages.countByStatus();
    return Object.values(counts).reduce((sum, n) => sum + n, 0);
  }

  it('accepts a message: 202, queued, stored, announced', async () => {
    const seen: string[] = [];
    const off = t.events.on('message:accepted', (event) => seen.push(event.id));
    const before = t.accepted();
    const response = await t.api<Accepted>('POST', '/v1/messages', base);
    off();
    assert.equal(response.status, 202);
    assert.equal(response.body.status, 'queued');
    assert.match(response.body.id, /^msg_/);
    assert.deepEqual(seen, [response.body.id]);
    assert.equal(t.accepted(), before + 1);

    const stored = await t.store.messages.get(response.body.id);
    assert.equal(stored?.status, 'queued');
    assert.equal(stored?.stream, 'transactional');
    assert.deepEqual(stored?.to, { email: 'jane@example.com' });
    assert.deepEqual(stored?.from, { email: 'shop@sender.example', name: 'The Shop' });
    assert.match(stored?.messageId ?? '', /@sender\.example$/);
    assert.equal(stored?.createdAt, t.clock.now());
    assert.equal(stored?.expiresAt, t.clock.now() + 3 * 24 * 3_600_000);
  });

  it('lower-cases the domain of addresses and keeps custom headers', async () => {
    const response = await t.api<Accepted>('POST', '/v1/messages', {
      ...base,
      to: { email: 'Jane@EXAMPLE.com', name: 'Jane' },
      replyTo: 'help@sender.example',
      headers: { 'X-Campaign': 'spring', 'List-Unsubscribe': '<mailto:u@sender.example>' },
      stream: 'bulk',
    });
    assert.equal(response.status, 202);
    const stored = await t.store.messages.get(response.body.id);
    assert.deepEqual(stored?.to, { email: 'Jane@example.com', name: 'Jane' });
    assert.deepEqual(stored?.replyTo, { email: 'help@sender.example' });
    assert.equal(stored?.headers['X-Campaign'], 'spring');
    assert.equal(stored?.stream, 'bulk');
  });

  it('sends with a stored template, with the contact attributes in strict mode', async () => {
    const template = await t.api<{ id: string }>('POST', '/v1/templates', {
      name: 'welcome',
      subject: 'Welcome {{ contact.first_name }}',
      html: '<p>Hi {{ contact.first_name }}, code {{ code }}</p>',
    });
    assert.equal(template.status, 201);
    const noContact = await t.api('POST', '/v1/messages', {
      to: 'new@example.com',
      from: 'shop@sender.example',
      templateId: template.body.id,
      variables: { code: 7 },
    });
    assert.equal(noContact.status, 422);
    assert.equal(errorOf(noContact).code, 'ERR_TEMPLATE_RENDER');
    assert.equal(errorOf(noContact).field, 'template.subject');

    await t.api('POST', '/v1/contacts', {
      email: 'new@example.com',
      attributes: { first_name: 'Ann' },
    });
    const ok = await t.api<Accepted>('POST', '/v1/messages', {
      to: 'new@example.com',
      from: 'shop@sender.example',
      templateId: template.body.id,
      variables: { code: 7 },
    });
    assert.equal(ok.status, 202);
    const stored = await t.store.messages.get(ok.body.id);
    assert.equal(stored?.templateId, template.body.id);
    assert.equal(stored?.subject, undefined);
  });

  const rejected: Array<{
    name: string;
    body: unknown;
    status: number;
    code: string;
    field?: string;
    line?: number;
    column?: number;
  }> = [
    {
      name: 'two @',
      body: { ...base, to: 'a@b@c.com' },
      status: 400,
      code: 'ERR_ADDRESS_INVALID',
      field: 'to',
    },
    {
      name: 'no domain',
      body: { ...base, to: 'jane@' },
      status: 400,
      code: 'ERR_ADDRESS_INVALID',
      field: 'to',
    },
    {
      name: 'no @',
      body: { ...base, to: 'jane' },
      status: 400,
      code: 'ERR_ADDRESS_INVALID',
      field: 'to',
    },
    {
      name: 'local part over 64',
      body: { ...base, from: { email: `${'x'.repeat(65)}@sender.example` } },
      status: 400,
      code: 'ERR_ADDRESS_INVALID',
      field: 'from.email',
    },
    {
      name: 'address over 254',
      body: {
        ...base,
        to: `jane@${'d'.repeat(63)}.${'e'.repeat(63)}.${'f'.repeat(63)}.${'g'.repeat(63)}.com`,
      },
      status: 400,
      code: 'ERR_ADDRESS_INVALID',
      field: 'to',
    },
    {
      name: 'bad reply-to',
      body: { ...base, replyTo: 'nope' },
      status: 400,
      code: 'ERR_ADDRESS_INVALID',
      field: 'replyTo',
    },
    {
      name: 'CR/LF in the subject',
      body: { ...base, subject: 'Hi\r\nBcc: victim@example.com' },
      status: 400,
      code: 'ERR_HEADER_INJECTION',
      field: 'subject',
    },
    {
      name: 'LF in the from name',
      body: { ...base, from: { email: 'shop@sender.example', name: 'Shop\nBcc: x@y.com' } },
      status: 400,
      code: 'ERR_HEADER_INJECTION',
      field: 'from.name',
    },
    {
      name: 'CR in the reply-to name',
      body: { ...base, replyTo: { email: 'help@sender.example', name: 'Help\r' } },
      status: 400,
      code: 'ERR_HEADER_INJECTION',
      field: 'replyTo.name',
    },
    {
      name: 'CR/LF in a header value',
      body: { ...base, headers: { 'X-Campaign': 'a\r\nBcc: x@y.com' } },
      status: 400,
      code: 'ERR_HEADER_INJECTION',
      field: 'headers.X-Campaign',
    },
    {
      name: 'an invalid header name',
      body: { ...base, headers: { 'X Campaign': 'a' } },
      status: 400,
      code: 'ERR_VALIDATION',
      field: 'headers.X Campaign',
    },
    ...[
      'From',
      'to',
      'Subject',
      'Message-ID',
      'Date',
      'MIME-Version',
      'Content-Type',
      'content-transfer-encoding',
    ].map((name) => ({
      name: `a structural header (${name})`,
      body: { ...base, headers: { [name]: 'x' } },
      status: 400,
      code: 'ERR_VALIDATION',
      field: `headers.${name}`,
    })),
    {
      name: 'neither template nor inline content',
      body: { to: base.to, from: base.from },
      status: 400,
      code: 'ERR_MESSAGE_CONTENT_MISSING',
      field: 'subject',
    },
    {
      name: 'a subject without a body',
      body: { to: base.to, from: base.from, subject: 'Hi' },
      status: 400,
      code: 'ERR_MESSAGE_CONTENT_MISSING',
      field: 'html',
    },
    {
      name: 'a template and inline content',
      body: { ...base, templateId: 'tpl_x' },
      status: 400,
      code: 'ERR_MESSAGE_CONTENT_MISSING',
      field: 'templateId',
    },
    {
      name: 'an unknown template',
      body: { to: base.to, from: base.from, templateId: 'tpl_missing' },
      status: 422,
      code: 'ERR_TEMPLATE_NOT_FOUND',
      field: 'templateId',
    },
    {
      name: 'a Liquid syntax error',
      body: { ...base, html: '<p>\n  {% if order %}shipped\n</p>' },
      status: 422,
      code: 'ERR_TEMPLATE_SYNTAX',
      field: 'html',
      line: 2,
      column: 3,
    },
    {
      name: 'a missing variable in strict mode',
      body: { ...base, variables: {} },
      status: 422,
      code: 'ERR_TEMPLATE_RENDER',
      field: 'subject',
    },
    {
      name: 'variables.contact (reserved)',
      body: { ...base, variables: { order: 1, contact: {} } },
      status: 400,
      code: 'ERR_VALIDATION',
      field: 'variables.contact',
    },
    {
      name: 'a missing to',
      body: { from: base.from, subject: 'x', text: 'y' },
      status: 400,
      code: 'ERR_VALIDATION',
      field: 'to',
    },
    {
      name: 'a number as to',
      body: { ...base, to: 5 },
      status: 400,
      code: 'ERR_VALIDATION',
      field: 'to',
    },
    {
      name: 'an address object without email',
      body: { ...base, to: { name: 'Jane' } },
      status: 400,
      code: 'ERR_VALIDATION',
      field: 'to.email',
    },
    {
      name: 'an unknown field in an address',
      body: { ...base, to: { email: 'jane@example.com', mail: 'x' } },
      status: 400,
      code: 'ERR_UNKNOWN_FIELD',
      field: 'to.mail',
    },
    {
      name: 'an unknown top-level field',
      body: { ...base, cc: 'x@y.com' },
      status: 400,
      code: 'ERR_UNKNOWN_FIELD',
      field: 'cc',
    },
    {
      name: 'a number as subject',
      body: { ...base, subject: 5 },
      status: 400,
      code: 'ERR_VALIDATION',
      field: 'subject',
    },
    {
      name: 'an unknown stream',
      body: { ...base, stream: 'urgent' },
      status: 400,
      code: 'ERR_VALIDATION',
      field: 'stream',
    },
    {
      name: 'a non-string header',
      body: { ...base, headers: { 'X-A': 1 } },
      status: 400,
      code: 'ERR_VALIDATION',
      field: 'headers.X-A',
    },
    { name: 'an array body', body: [base], status: 400, code: 'ERR_VALIDATION' },
  ];

  for (const c of rejected) {
    it(`refuses ${c.name}: ${c.status} ${c.code}, nothing stored`, async () => {
      const count = await storedCount();
      const calls = t.accepted();
      const response = await t.api('POST', '/v1/messages', c.body);
      assert.equal(response.status, c.status, response.text);
      const error = errorOf(response);
      assert.equal(error.code, c.code);
      assert.equal(error.field, c.field);
      if (c.line !== undefined) {
        assert.equal(error.line, c.line);
        assert.equal(error.column, c.column);
      }
      assert.equal(typeof error.requestId, 'string');
      assert.equal(error.requestId, response.headers.get('x-request-id'));
      assert.equal(await storedCount(), count);
      assert.equal(t.accepted(), calls);
    });
  }

  it('refuses a malformed Idempotency-Key with 400, nothing stored', async () => {
    const count = await storedCount();
    for (const key of ['has space', 'x'.repeat(256), 'caf\u00e9']) {
      const response = await t.api('POST', '/v1/messages', base, { 'Idempotency-Key': key });
      assert.equal(response.status, 400, key);
      assert.equal(errorOf(response).code, 'ERR_VALIDATION');
      assert.equal(errorOf(response).field, 'Idempotency-Key');
    }
    assert.equal(await storedCount(), count);
  });

  it('replays an Idempotency-Key with the same body and refuses another body', async () => {
    const key = `order-${newId('message')}`;
    const first = await t.api<Accepted>('POST', '/v1/messages', base, { 'Idempotency-Key': key });
    assert.equal(first.status, 202);
    assert.equal(first.headers.get('idempotent-replayed'), null);
    const count = await storedCount();
    const calls = t.accepted();

    // The same JSON value, written in another key order.
    const reordered = JSON.stringify({
      variables: base.variables,
      text: base.text,
      subject: base.subject,
      from: { name: base.from.name, email: base.from.email },
      to: base.to,
    });
    const replay = await t.api<Accepted>('POST', '/v1/messages', reordered, {
      'Idempotency-Key': key,
    });
    assert.equal(replay.status, 202);
    assert.equal(replay.body.id, first.body.id);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');

    const other = await t.api(
      'POST',
      '/v1/messages',
      { ...base, to: 'other@example.com' },
      {
        'Idempotency-Key': key,
      },
    );
    assert.equal(other.status, 409);
    assert.equal(errorOf(other).code, 'ERR_IDEMPOTENCY_MISMATCH');
    assert.equal(await storedCount(), count);
    assert.equal(t.accepted(), calls);
  });

  it('scopes Idempotency-Keys per API key', async () => {
    const otherKey = generateApiKey();
    await t.store.apiKeys.create({
      id: newId('apiKey'),
      name: 'other',
      hash: hashApiKey(otherKey),
      prefix: apiKeyDisplayPrefix(otherKey),
      createdAt: t.clock.now(),
    });
    const key = `scoped-${newId('message')}`;
    const first = await t.api<Accepted>('POST', '/v1/messages', base, { 'Idempotency-Key': key });
    const second = await t.api<Accepted>('POST', '/v1/messages', base, {
      'Idempotency-Key': key,
      authorization: `Bearer ${otherKey}`,
    });
    assert.equal(first.status, 202);
    assert.equal(second.status, 202);
    assert.notEqual(second.body.id, first.body.id);
  });
});

describe('POST /v1/messages with strict templates off', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({
      config: testConfig({
        templates: { strict: false, renderTimeoutMs: 1000 },
        delivery: { ...testConfig().delivery, messageIdDomain: 'mail.sluice.example' },
      }),
    });
  });
  after(async () => {
    await t.close();
  });

  it('accepts a message whose variables are missing, with the configured Message-ID domain', async () => {
    const response = await t.api<Accepted>('POST', '/v1/messages', { ...base, variables: {} });
    assert.equal(response.status, 202);
    const stored = await t.store.messages.get(response.body.id);
    assert.match(stored?.messageId ?? '', /@mail\.sluice\.example$/);
  });

  it('still refuses a syntax error', async () => {
    const response = await t.api('POST', '/v1/messages', { ...base, subject: 'Hi {{ name ' });
    assert.equal(response.status, 422);
    assert.equal(errorOf(response).code, 'ERR_TEMPLATE_SYNTAX');
    assert.equal(errorOf(response).field, 'subject');
    assert.equal(errorOf(response).line, 1);
  });
});
