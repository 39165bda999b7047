import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signToken, verifyToken, type TrackingClaim } from './tracking-token.js';

const SECRET = 'a-test-secret-of-at-least-32-characters!';
const claims: TrackingClaim[] = [
  { kind: 'o', messageId: 'msg_1' },
  { kind: 'u', messageId: 'msg_1' },
  { kind: 'c', messageId: 'msg_1', url: 'https://example.com/a?b=1&c=é#d' },
];

test('tracking tokens: a signed claim verifies to itself', () => {
  for (const claim of claims) {
    assert.deepEqual(verifyToken(SECRET, signToken(SECRET, claim)), claim);
  }
});

test('tracking tokens: tampered, truncated, foreign and malformed tokens are refused', () => {
  const good = signToken(SECRET, claims[2] as TrackingClaim);
  const [payload = '', mac = ''] = good.split('.');
  const otherUrl = Buffer.from('c\0msg_1\0https://evil.example/').toString('base64url');
  const flip = (text: string, at: number) =>
    text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
  const cases: [string, string][] = [
    ['another URL, same MAC', `${otherUrl}.${mac}`],
    ['one payload character changed', `${flip(payload, 3)}.${mac}`],
    ['one MAC character changed', `${payload}.${flip(mac, 5)}`],
    ['MAC truncated', `${payload}.${mac.slice(0, -2)}`],
    ['MAC missing', `${payload}.`],
    ['no dot', payload],
    ['two dots', `${payload}.${mac}.x`],
    ['empty', ''],
    ['not base64url', `${payload}+.${mac}`],
    [
      'another secret',
      signToken('another-secret-of-at-least-32-characters', claims[2] as TrackingClaim),
    ],
    [
      'kind changed',
      signToken(SECRET, claims[0] as TrackingClaim).replace(
        /^[^.]+/,
        Buffer.from('u\0msg_1').toString('base64url'),
      ),
    ],
    ['huge', 'a'.repeat(10_000) + '.' + mac],
  ];
  for (const [name, token] of cases) {
    assert.equal(verifyToken(SECRET, token), undefined, name);
  }
});

test('tracking tokens: an unknown kind or wrong field count does not verify even when signed', () => {
  // Sign by hand-building what signToken would for malformed payloads.
  const forge = (text: string) => {
    const token = signToken(SECRET, { kind: 'o', messageId: text });
    return token;
  };
  // A message id holding a NUL makes three fields for kind `o`: refused.
  assert.equal(verifyToken(SECRET, forge('msg\0https://x')), undefined);
});
