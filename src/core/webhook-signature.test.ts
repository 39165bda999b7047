import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { signWebhook, verifyWebhook } from './webhook-signature.js';

const SECRET = 'whsec_test-secret';
const BODY = '{"type":"message.delivered","id":"msg_1"}';
const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);

test('webhook signature: the header is t=<seconds>,v1=<HMAC-SHA256 of "t.body"> a receiver can recompute', () => {
  const header = signWebhook(SECRET, BODY, NOW);
  const t = Math.floor(NOW / 1000);
  const expected = createHmac('sha256', SECRET).update(`${t}.${BODY}`).digest('hex');
  assert.equal(header, `t=${t},v1=${expected}`);
  assert.deepEqual(verifyWebhook(SECRET, header, BODY, NOW), { ok: true, timestamp: t });
  assert.deepEqual(verifyWebhook(SECRET, header, Buffer.from(BODY), NOW + 60_000), {
    ok: true,
    timestamp: t,
  });
});

test('webhook signature: another body, secret or time, and malformed headers are refused', () => {
  const header = signWebhook(SECRET, BODY, NOW);
  const t = Math.floor(NOW / 1000);
  const forged = header.replace(`t=${t}`, `t=${t + 1}`);
  const cases: [string, string | undefined, string, number, string][] = [
    ['another body', header, BODY.replace('1', '2'), NOW, 'mismatch'],
    ['a shifted timestamp', forged, BODY, NOW, 'mismatch'],
    ['too old', header, BODY, NOW + 6 * 60_000, 'stale'],
    ['from the future', header, BODY, NOW - 6 * 60_000, 'stale'],
    ['no header', undefined, BODY, NOW, 'malformed'],
    ['no v1', `t=${t}`, BODY, NOW, 'malformed'],
    ['no t', header.split(',')[1] ?? '', BODY, NOW, 'malformed'],
    ['short MAC', header.slice(0, -2), BODY, NOW, 'malformed'],
    ['garbage', 'nonsense', BODY, NOW, 'malformed'],
  ];
  for (const [name, value, body, now, reason] of cases) {
    assert.deepEqual(verifyWebhook(SECRET, value, body, now), { ok: false, reason }, name);
  }
  assert.deepEqual(verifyWebhook('another-secret', header, BODY, NOW), {
    ok: false,
    reason: 'mismatch',
  });
});

test('webhook signature: any matching v1 passes (secret rotation sends two)', () => {
  const old = signWebhook('old-secret', BODY, NOW);
  const fresh = signWebhook(SECRET, BODY, NOW);
  const both = `${old},${fresh.split(',')[1] ?? ''}`;
  assert.equal(verifyWebhook(SECRET, both, BODY, NOW).ok, true);
  assert.equal(verifyWebhook('old-secret', both, BODY, NOW).ok, true);
});
