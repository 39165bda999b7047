import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AddressRefused, isPrivateAddress, resolveTarget } from './address-guard.js';

describe('alert webhook address guard', () => {
  it('tells private, loopback, link-local and special addresses from public ones', () => {
    const refused = [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '255.255.255.255',
      '::1',
      '::',
      'fc00::1',
      'fd12:3456::1',
      'fe80::1',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::ffff:10.0.0.1',
    ];
    const allowed = ['93.184.216.34', '172.32.0.1', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8'];
    for (const a of refused) assert.equal(isPrivateAddress(a), true, a);
    for (const a of allowed) assert.equal(isPrivateAddress(a), false, a);
  });

  it('refuses a private target unless allowed, and other schemes always', async () => {
    await assert.rejects(resolveTarget('http://127.0.0.1:9/hook', false), AddressRefused);
    await assert.rejects(resolveTarget('http://[::1]:9/hook', false), AddressRefused);
    await assert.rejects(resolveTarget('http://localhost:9/hook', false), /private or loopback/);
    await assert.rejects(resolveTarget('ftp://example.com/', true), /scheme/);
    await assert.rejects(resolveTarget('not a url', true), /valid URL/);
    const ok = await resolveTarget('http://127.0.0.1:9/hook', true);
    assert.deepEqual([ok.address, ok.family, ok.url.port], ['127.0.0.1', 4, '9']);
    const literal = await resolveTarget('https://93.184.216.34/x', false);
    assert.equal(literal.address, '93.184.216.34');
  });
});
