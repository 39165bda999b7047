import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { apiKeyDisplayPrefix, generateApiKey, hashApiKey } from '../core/api-keys.js';
import { newId } from '../core/ids.js';
import { ManualClock } from '../core/clock.js';
import { ApiKeyVerifier, CACHE_TTL_MS } from './auth.js';
import { errorOf, startTestApp, type TestApp } from './test-support.js';

describe('API key authentication', () => {
  let t: TestApp;
  const logLines: string[] = [];
  before(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString());
        done();
      },
    });
    t = await startTestApp({ logger: pino({ level: 'trace' }, sink) });
  });
  after(async () => {
    await t.close();
  });

  it('refuses a request without a key: 401 ERR_AUTH_REQUIRED', async () => {
    const response = await t.api('GET', '/v1/contacts', undefined, { authorization: '' });
    assert.equal(response.status, 401);
    assert.equal(errorOf(response).code, 'ERR_AUTH_REQUIRED');
    assert.equal(response.headers.get('www-authenticate'), 'Bearer');
  });

  it('refuses another scheme: 401 ERR_AUTH_REQUIRED', async () => {
    const response = await t.api('GET', '/v1/contacts', undefined, {
      authorization: `Basic ${Buffer.from('a:b').toString('base64')}`,
    });
    assert.equal(response.status, 401);
    assert.equal(errorOf(response).code, 'ERR_AUTH_REQUIRED');
  });

  it('refuses an unknown key: 401 ERR_AUTH_INVALID', async () => {
    const response = await t.api('GET', '/v1/contacts', undefined, {
      authorization: `Bearer ${generateApiKey()}`,
    });
    assert.equal(response.status, 401);
    assert.equal(errorOf(response).code, 'ERR_AUTH_INVALID');
  });

  it('refuses a revoked key: 401 ERR_AUTH_INVALID', async () => {
    const key = generateApiKey();
    await t.store.apiKeys.create({
      id: newId('apiKey'),
      name: 'revoked',
      hash: hashApiKey(key),
      prefix: apiKeyDisplayPrefix(key),
      createdAt: t.clock.now() - 1000,
      revokedAt: t.clock.now(),
    });
    const response = await t.api('GET', '/v1/contacts', undefined, {
      authorization: `Bearer ${key}`,
    });
    assert.equal(response.status, 401);
    assert.equal(errorOf(response).code, 'ERR_AUTH_INVALID');
  });

  it('accepts a good key, with the scheme in any case', async () => {
    assert.equal((await t.api('GET', '/v1/contacts')).status, 200);
    const lower = await t.api('GET', '/v1/contacts', undefined, {
      authorization: `bearer ${t.key}`,
    });
    assert.equal(lower.status, 200);
  });

  it('keeps a verified key for a while, then asks the store again', async () => {
    const key = generateApiKey();
    await t.store.apiKeys.create({
      id: newId('apiKey'),
      name: 'cached',
      hash: hashApiKey(key),
      prefix: apiKeyDisplayPrefix(key),
      createdAt: t.clock.now(),
    });
    const headers = { authorization: `Bearer ${key}` };
    assert.equal((await t.api('GET', '/v1/contacts', undefined, headers)).status, 200);
    t.clock.advance(CACHE_TTL_MS + 1);
    assert.equal((await t.api('GET', '/v1/contacts', undefined, headers)).status, 200);
  });

  it('asks the store once per key while the cached answer is fresh', async () => {
    let lookups = 0;
    const counting = {
      apiKeys: {
        findByHash: (hash: string) => {
          lookups += 1;
          return t.store.apiKeys.findByHash(hash);
        },
      },
    };
    const clock = new ManualClock();
    const verifier = new ApiKeyVerifier(counting, clock);
    const header = `Bearer ${t.key}`;
    assert.equal((await verifier.verify(header)).id, t.keyId);
    await verifier.verify(header);
    assert.equal(lookups, 1);
    clock.advance(CACHE_TTL_MS);
    await verifier.verify(header);
    assert.equal(lookups, 2);
    // Unknown keys are never cached.
    const unknown = `Bearer ${generateApiKey()}`;
    await assert.rejects(verifier.verify(unknown), { code: 'ERR_AUTH_INVALID' });
    await assert.rejects(verifier.verify(unknown), { code: 'ERR_AUTH_INVALID' });
    assert.equal(lookups, 4);
  });

  it('leaves the unauthenticated endpoints open', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs']) {
      const response = await t.api('GET', path, undefined, { authorization: '' });
      assert.equal(response.status, 200, path);
    }
  });

  it('never writes the key to the log', async () => {
    await t.api('POST', '/v1/contacts', { email: 'not an address' });
    await t.api('GET', '/v1/nowhere');
    const log = logLines.join('');
    assert.ok(log.includes('request completed'), 'requests are logged (at debug)');
    assert.ok(!log.includes(t.key), 'the API key appears in the log');
    assert.ok(!log.toLowerCase().includes('authorization'), 'the Authorization header is logged');
  });
});
