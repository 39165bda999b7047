import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { sha256Hex } from './sha256.js';

describe('sha256Hex', () => {
  it('is the SHA-256 of the string as UTF-8, in hex', () => {
    assert.equal(
      sha256Hex('abc'),
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', // FIPS 180-2, appendix B.1
    );
    for (const text of ['', 'sk_abc', 'journey\u0000run_1\u00002', 'Zürich ✉ 𝄞']) {
      assert.equal(sha256Hex(text), createHash('sha256').update(text, 'utf8').digest('hex'));
    }
  });
});
