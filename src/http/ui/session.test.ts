import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readCookie, SessionCodec, sessionCookie } from './session.js';

const SECRET = 's'.repeat(32);
const T0 = 1_700_000_000_000;

describe('dashboard sessions', () => {
  it('verifies its own cookie until it expires, with a CSRF token bound to it', () => {
    const codec = new SessionCodec(SECRET);
    const { token, session } = codec.issue('key_1', T0, 60_000);
    assert.deepEqual(codec.verify(token, T0 + 59_999), session);
    assert.equal(codec.verify(token, T0 + 60_000), undefined, 'expired');
    const other = codec.issue('key_1', T0, 60_000);
    assert.notEqual(other.session.csrf, session.csrf, 'each session its own CSRF token');
  });

  it('refuses a tampered, re-signed or malformed cookie', () => {
    const codec = new SessionCodec(SECRET);
    const { token } = codec.issue('key_1', T0, 60_000);
    const parts = token.split('.');
    const longer = [...parts];
    longer[2] = String(T0 + 10 ** 9);
    assert.equal(codec.verify(longer.join('.'), T0), undefined, 'a later expiry');
    const otherKey = [...parts];
    otherKey[1] = 'key_2';
    assert.equal(codec.verify(otherKey.join('.'), T0), undefined, 'another key id');
    assert.equal(new SessionCodec('t'.repeat(32)).verify(token, T0), undefined, 'another secret');
    for (const bad of [
      '',
      'v1',
      'v2.a.1.b.c',
      `${token}.x`,
      'v1.a.notanumber.b.c',
      'x'.repeat(600),
    ]) {
      assert.equal(codec.verify(bad, T0), undefined, bad);
    }
  });

  it('writes the cookie HttpOnly, SameSite=Strict, on /ui, Secure over https; reads it back', () => {
    assert.equal(
      sessionCookie('abc', { maxAgeSeconds: 60, secure: true }),
      'sluice_session=abc; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=60; Secure',
    );
    assert.doesNotMatch(sessionCookie('abc', { maxAgeSeconds: 60, secure: false }), /Secure/);
    assert.equal(readCookie('a=1; sluice_session=v1.x; b=2', 'sluice_session'), 'v1.x');
    assert.equal(readCookie('a=1', 'sluice_session'), undefined);
  });
});
