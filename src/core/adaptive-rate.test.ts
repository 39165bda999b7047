import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adaptiveFactor, afterRateLimited, isRateLimitReply } from './adaptive-rate.js';
import { ManualClock } from './clock.js';

const options = {
  cooldownMs: 60_000,
  restoreIntervalMs: 10_000,
  restoreStep: 0.25,
  minFactor: 0.125,
};

describe('adaptive backoff', () => {
  it('halves on a rate-limit reply, holds for the cool-down, then restores step by step', () => {
    const clock = new ManualClock(0);
    const state = afterRateLimited(undefined, options, clock.now(), clock.now());
    assert.equal(adaptiveFactor(state, options, clock.now()), 0.5);
    clock.advance(59_999);
    assert.equal(adaptiveFactor(state, options, clock.now()), 0.5);
    clock.advance(1);
    assert.equal(adaptiveFactor(state, options, clock.now()), 0.75);
    clock.advance(10_000);
    assert.equal(adaptiveFactor(state, options, clock.now()), 1);
    clock.advance(100_000);
    assert.equal(adaptiveFactor(state, options, clock.now()), 1);
  });

  it('cuts again on a new signal, never below minFactor, and ignores echoes of older sends', () => {
    let state = afterRateLimited(undefined, options, 1_000, 1_000);
    assert.equal(
      afterRateLimited(state, options, 1_500, 900),
      state,
      'sent before the cut: an echo',
    );
    const factors: number[] = [];
    for (let t = 2_000; t <= 6_000; t += 1_000) {
      state = afterRateLimited(state, options, t, t);
      factors.push(adaptiveFactor(state, options, t));
    }
    assert.deepEqual(factors, [0.25, 0.125, 0.125, 0.125, 0.125]);
  });

  it('a cut during restoring halves the factor in effect then', () => {
    let state = afterRateLimited(undefined, options, 0, 0);
    state = afterRateLimited(state, options, 65_000, 65_000); // restored to 0.75 by then
    assert.equal(adaptiveFactor(state, options, 65_000), 0.375);
  });

  it('recognises rate-limit replies', () => {
    const cases: [number | undefined, string | undefined, string, boolean][] = [
      [421, '4.7.0', '421 4.7.0 Try again later, closing connection.', true],
      [421, undefined, '421 Service not available', true],
      [450, '4.7.1', '450 4.7.1 Client host rejected: rate limited', true],
      [
        451,
        '4.7.28',
        '451 4.7.28 Our system has detected an unusual rate of unsolicited mail',
        true,
      ],
      [452, '4.7.1', '452 4.7.1 Too many messages, slow down', true],
      [451, '4.7.1', '451 4.7.1 Greylisted, please try again in 300 seconds', false],
      [451, '4.3.0', '451 4.3.0 try again later', false],
      [452, '4.2.2', '452 4.2.2 The email account that you tried to reach is over quota', false],
      [undefined, undefined, 'connect ECONNREFUSED', false],
    ];
    for (const [code, enhanced, text, expected] of cases) {
      assert.equal(isRateLimitReply(code, enhanced, text), expected, text);
    }
  });
});
