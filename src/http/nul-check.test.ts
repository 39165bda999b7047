import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { findNul } from './nul-check.js';
import { errorOf, startTestApp, type TestApp } from './test-support.js';

describe('NUL characters in JSON bodies', () => {
  it('finds the first key or string holding U+0000, by path', () => {
    assert.equal(findNul({ a: 'ok', b: { c: ['x', 'y\u0000'] } }), 'b.c[1]');
    assert.equal(findNul({ ['k\u0000']: 1 }), 'k\u0000');
    assert.equal(findNul({ a: 1, b: [true, null, 'fine'] }), undefined);
  });

  describe('through the API', () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp();
    });
    after(() => t.close());

    it('refuses it with 400 naming the field, and stores nothing', async () => {
      const response = await t.api('POST', '/v1/contacts', {
        email: 'nul@example.test',
        attributes: { note: 'a\u0000b' },
      });
      assert.equal(response.status, 400);
      assert.equal(errorOf(response).code, 'ERR_VALIDATION');
      assert.equal(errorOf(response).field, 'attributes.note');
      assert.equal(await t.store.contacts.getByEmail('nul@example.test'), undefined);
    });
  });
});
