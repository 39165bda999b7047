/** How a reply's bounce classification shapes the settlement (settlement.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createReplyClassifier } from '../core/bounce.js';
import { BUILTIN_BOUNCE_RULES } from '../core/bounce-rules.js';
import type { ClaimedMessage } from '../core/message.js';
import type { SendResult } from '../core/outcome.js';
import { newMessage, T0, DAY } from '../store/contract/fixtures.js';
import { settlementForSend, type SettlementContext } from './settlement.js';
import { settlementForSuppressed } from './suppression-gate.js';

const message: ClaimedMessage = {
  ...newMessage({ to: { email: 'Gone@example.net' } }),
  status: 'sending',
  attempts: 0,
  dueAt: T0,
  updatedAt: T0,
};
const context: SettlementContext = {
  owner: 'w1',
  policy: {
    initialDelayMs: 60_000,
    multiplier: 2,
    maxDelayMs: 3_600_000,
    jitter: 0,
    maxAgeMs: DAY,
  },
};
const timing = { startedAt: T0, finishedAt: T0 + 100 };

function bounce(response: string): SendResult {
  const [code, enhancedCode] = response.split(' ');
  return {
    kind: 'bounced',
    relay: 'r1',
    code: Number(code),
    enhancedCode: enhancedCode ?? '',
    response,
  };
}

describe('settlements classify bounces', () => {
  it('bounces a bad mailbox, records its category and suppresses the recipient', () => {
    const s = settlementForSend(message, bounce('550 5.1.1 User unknown'), timing, context);
    assert.equal(s.status, 'bounced');
    assert.equal(s.bounceCategory, 'bad-mailbox');
    assert.equal(s.attempt?.category, 'bad-mailbox');
    assert.equal(s.attempt?.outcome, 'bounced');
    assert.deepEqual(s.suppress, {
      email: 'Gone@example.net',
      reason: '550 5.1.1 User unknown',
      category: 'bad-mailbox',
      sourceMessageId: message.id,
      at: T0 + 100,
    });
  });

  it('bounces a 5.7.1 as a block without suppressing', () => {
    const s = settlementForSend(
      message,
      bounce('550 5.7.1 Message rejected as spam'),
      timing,
      context,
    );
    assert.equal(s.status, 'bounced');
    assert.equal(s.bounceCategory, 'spam-block');
    assert.equal(s.suppress, undefined);
  });

  it('defers a 5xx whose rule is not permanent, as a deferred attempt', () => {
    const s = settlementForSend(
      message,
      bounce('550 5.7.1 Service refuse. Veuillez essayer plus tard.'),
      timing,
      context,
    );
    assert.equal(s.status, 'deferred');
    assert.equal(s.status === 'deferred' ? s.dueAt : 0, T0 + 100 + 60_000);
    assert.equal(s.attempt?.outcome, 'deferred');
    assert.equal(s.bounceCategory, 'transient');
    assert.equal(s.suppress, undefined);
  });

  it('defers a 4xx with its category, and expires it with the category at the max age', () => {
    const result: SendResult = {
      kind: 'deferred',
      relay: 'r1',
      code: 421,
      enhancedCode: '4.7.0',
      response: '421 4.7.0 [TSS04] Messages temporarily deferred due to user complaints',
    };
    const s = settlementForSend(message, result, timing, context);
    assert.deepEqual(
      [s.status, s.bounceCategory, s.attempt?.category],
      ['deferred', 'rate-limited', 'rate-limited'],
    );
    const old = { ...message, expiresAt: T0 };
    const e = settlementForSend(old, result, timing, context);
    assert.deepEqual([e.status, e.bounceCategory], ['expired', 'rate-limited']);
  });

  it('uses the operator rules of the context', () => {
    const classify = createReplyClassifier(BUILTIN_BOUNCE_RULES, [
      { pattern: 'mailbox is frozen', category: 'bad-mailbox', permanent: true, suppress: true },
    ]);
    const s = settlementForSend(message, bounce('554 mailbox is frozen'), timing, {
      ...context,
      classify,
    });
    assert.equal(s.bounceCategory, 'bad-mailbox');
    assert.ok(s.suppress);
  });

  it('leaves a delivered message without a category, and settles a suppressed one without an attempt', () => {
    const ok: SendResult = { kind: 'delivered', relay: 'r1', code: 250, response: '250 OK' };
    const d = settlementForSend(message, ok, timing, context);
    assert.equal(d.bounceCategory, undefined);
    assert.equal(d.attempt?.category, undefined);
    const s = settlementForSuppressed(message, T0, 'w1');
    assert.equal(s.status, 'suppressed');
    assert.equal(s.attempt, undefined);
    assert.match(s.lastError ?? '', /Gone@example.net is on the suppression list/);
  });
});
