import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { errorOf, startTestApp, testConfig, type TestApp } from '../test-support.js';

/** Every operation of the API: the OpenAPI document must describe each. */
const OPERATIONS = [
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
  'GET /openapi.json',
  'GET /t/o/{token}',
  'GET /t/c/{token}',
  'GET /t/u/{token}',
  'POST /t/u/{token}',
  'POST /v1/messages',
  'GET /v1/messages/{id}',
  'POST /v1/contacts',
  'GET /v1/contacts',
  'GET /v1/contacts/{id}',
  'POST /v1/contacts/import',
  'GET /v1/contacts/export',
  'DELETE /v1/contacts/{id}',
  'POST /v1/events',
  'POST /v1/events/batch',
  'GET /v1/contacts/{id}/events',
  'POST /v1/lists',
  'GET /v1/lists',
  'GET /v1/lists/{id}',
  'PATCH /v1/lists/{id}',
  'DELETE /v1/lists/{id}',
  'POST /v1/lists/{id}/members',
  'GET /v1/lists/{id}/members',
  'DELETE /v1/lists/{id}/members/{contactId}',
  'POST /v1/segments',
  'POST /v1/segments/count',
  'GET /v1/segments',
  'GET /v1/segments/{id}',
  'PATCH /v1/segments/{id}',
  'DELETE /v1/segments/{id}',
  'GET /v1/segments/{id}/count',
  'GET /v1/segments/{id}/preview',
  'POST /v1/campaigns',
  'GET /v1/campaigns',
  'GET /v1/campaigns/{id}',
  'PATCH /v1/campaigns/{id}',
  'DELETE /v1/campaigns/{id}',
  'POST /v1/campaigns/{id}/schedule',
  'POST /v1/campaigns/{id}/send',
  'POST /v1/campaigns/{id}/pause',
  'POST /v1/campaigns/{id}/resume',
  'POST /v1/campaigns/{id}/cancel',
  'POST /v1/campaigns/{id}/preview',
  'POST /v1/templates',
  'GET /v1/templates',
  'GET /v1/templates/{id}',
  'PATCH /v1/templates/{id}',
  'DELETE /v1/templates/{id}',
  'GET /v1/sink/messages',
  'GET /v1/sink/messages/{id}',
  'DELETE /v1/sink/messages',
  'GET /v1/suppressions',
  'POST /v1/suppressions',
  'GET /v1/suppressions/{email}',
  'DELETE /v1/suppressions/{email}',
  'POST /v1/webhooks',
  'GET /v1/webhooks',
  'GET /v1/webhooks/{id}',
  'PATCH /v1/webhooks/{id}',
  'DELETE /v1/webhooks/{id}',
  'POST /v1/webhooks/{id}/rotate-secret',
  'GET /v1/webhooks/{id}/deliveries',
  'POST /v1/webhooks/{id}/test',
  'POST /v1/complaints',
  'POST /v1/complaints/arf',
];

interface Operation {
  summary?: string;
  tags?: string[];
  security?: unknown[];
  responses?: Record<string, unknown>;
}
interface OpenApi {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, { type: string; scheme: string }> };
  security: unknown[];
}

describe('system endpoints and request handling', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({
      config: testConfig({
        http: { host: '127.0.0.1', port: 0, bodyLimit: 2048, importLimit: 2048 },
      }),
    });
  });
  after(async () => {
    await t.close();
  });

  it('GET /healthz says ok', async () => {
    const response = await t.api('GET', '/healthz');
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, { status: 'ok' });
  });

  it('GET /readyz reports the checks', async () => {
    const response = await t.api('GET', '/readyz');
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, { status: 'ready', checks: { database: 'ok' } });
  });

  it('GET /metrics serves the metrics text', async () => {
    const response = await t.api('GET', '/metrics');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(response.text, 'sluice_up 1\n');
  });

  it('GET /openapi.json describes every route, with a summary, tags and bearer security', async () => {
    const response = await t.api<OpenApi>('GET', '/openapi.json');
    assert.equal(response.status, 200);
    const doc = response.body;
    assert.match(doc.openapi, /^3\./);
    assert.deepEqual(doc.components.securitySchemes.bearerAuth, {
      type: 'http',
      scheme: 'bearer',
      description: 'An API key (sk_…).',
    });
    assert.deepEqual(doc.security, [{ bearerAuth: [] }]);
    const described = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    assert.deepEqual([...described].sort(), [...OPERATIONS].sort());
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const name = `${method} ${path}`;
        assert.ok(op.summary, `${name} has no summary`);
        assert.ok(op.tags && op.tags.length > 0, `${name} has no tags`);
        assert.ok(op.responses && Object.keys(op.responses).length > 0, `${name} has no responses`);
        if (path.startsWith('/v1/')) assert.equal(op.security, undefined, `${name} is public`);
        else assert.deepEqual(op.security, [], `${name} should be public`);
      }
    }
  });

  it('GET /docs serves the API docs page', async () => {
    const response = await t.api('GET', '/docs');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(response.text, /<html/i);
  });

  it('answers an unknown route with 404 ERR_ROUTE_NOT_FOUND', async () => {
    for (const path of ['/nowhere', '/v1/nowhere']) {
      const response = await t.api('GET', path);
      assert.equal(response.status, 404, path);
      assert.equal(errorOf(response).code, 'ERR_ROUTE_NOT_FOUND');
    }
  });

  it('answers malformed JSON with 400 ERR_MALFORMED_JSON, storing nothing', async () => {
    for (const body of ['{"email": ', '{"email": "a@example.com",}', "{'email': 1}"]) {
      const response = await t.api('POST', '/v1/contacts', body);
      assert.equal(response.status, 400, body);
      assert.equal(errorOf(response).code, 'ERR_MALFORMED_JSON');
    }
    assert.equal((await t.store.contacts.list({ limit: 10 })).items.length, 0);
  });

  it('answers a body over http.bodyLimit with 413 ERR_BODY_TOO_LARGE, storing nothing', async () => {
    const response = await t.api('POST', '/v1/contacts', {
      email: 'big@example.com',
      attributes: { bio: 'x'.repeat(4096) },
    });
    assert.equal(response.status, 413);
    assert.equal(errorOf(response).code, 'ERR_BODY_TOO_LARGE');
    assert.equal((await t.store.contacts.list({ limit: 10 })).items.length, 0);
  });

  it('answers a non-JSON body with 415 ERR_UNSUPPORTED_MEDIA_TYPE', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      const response = await t.api('POST', '/v1/contacts', 'email=a@example.com', {
        'content-type': type,
      });
      assert.equal(response.status, 415, type);
      assert.equal(errorOf(response).code, 'ERR_UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it('refuses unknown fields instead of dropping them', async () => {
    const response = await t.api('POST', '/v1/lists', { name: 'x', owner: 'me' });
    assert.equal(response.status, 400);
    assert.equal(errorOf(response).code, 'ERR_UNKNOWN_FIELD');
    assert.equal(errorOf(response).field, 'owner');
    assert.equal((await t.store.lists.list({ limit: 10 })).items.length, 0);
  });

  it('does not coerce body types', async () => {
    const response = await t.api('POST', '/v1/lists', { name: 42 });
    assert.equal(response.status, 400);
    assert.equal(errorOf(response).code, 'ERR_VALIDATION');
    assert.equal(errorOf(response).field, 'name');
  });
});

describe('GET /readyz when the database is gone', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(async () => {
    await t.close();
  });

  it('answers 503 with the failing check', async () => {
    await t.store.close();
    const response = await t.api('GET', '/readyz');
    assert.equal(response.status, 503);
    assert.deepEqual(response.body, { status: 'not-ready', checks: { database: 'unreachable' } });
  });
});
