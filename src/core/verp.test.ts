import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newId } from './ids.js';
import { parseVerpAddress, verpAddress } from './verp.js';

describe('VERP addresses', () => {
  const id = newId('message');

  it('round-trips a message id through the address', () => {
    const address = verpAddress(id, 'Bounces.Example.com');
    assert.equal(address, `bounces+${id}@bounces.example.com`);
    assert.equal(parseVerpAddress(address), id);
  });

  it('reads the forms a bounce shows: angle brackets, other case, surrounding space', () => {
    assert.equal(parseVerpAddress(` <bounces+${id}@b.example.com> `), id);
    assert.equal(parseVerpAddress(`BOUNCES+${id.toUpperCase()}@B.EXAMPLE.COM`), id);
  });

  it('checks the domain when one is given', () => {
    const address = verpAddress(id, 'b.example.com');
    assert.equal(parseVerpAddress(address, 'B.example.com'), id);
    assert.equal(parseVerpAddress(address, 'other.example.com'), undefined);
  });

  const notVerp: [string, string][] = [
    ['a plain address', 'app@example.com'],
    ['no domain', `bounces+${id}`],
    ['another prefix', `returns+${id}@b.example.com`],
    ['not a message id', 'bounces+ct_0123456789abcdef0123456789abcdef@b.example.com'],
    ['a truncated id', `bounces+${id.slice(0, -1)}@b.example.com`],
    ['an id with extra text', `bounces+${id}x@b.example.com`],
    ['empty', ''],
  ];
  for (const [what, address] of notVerp) {
    it(`returns undefined for ${what}`, () => {
      assert.equal(parseVerpAddress(address), undefined);
    });
  }
});
