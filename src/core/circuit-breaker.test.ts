import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CircuitBreaker } from './circuit-breaker.js';
import { ManualClock } from './clock.js';

function breaker(clock = new ManualClock(0)) {
  return {
    clock,
    b: new CircuitBreaker({ failureThreshold: 3, cooldownMs: 1_000, maxCooldownMs: 3_000 }, clock),
  };
}

describe('CircuitBreaker', () => {
  it('opens after N consecutive failures; a success in between resets the count', () => {
    const { b } = breaker();
    assert.equal(b.recordFailure('refused'), undefined);
    assert.equal(b.recordFailure('refused'), undefined);
    assert.equal(b.recordSuccess(), undefined);
    b.recordFailure('refused');
    b.recordFailure('refused');
    assert.deepEqual(b.recordFailure('timeout'), { from: 'closed', to: 'open', reason: 'timeout' });
    assert.equal(b.state, 'open');
    assert.equal(b.canDispatch, false);
    assert.equal(b.beginAttempt(), false);
    assert.equal(b.retryAt, 1_000);
  });

  it('turns half-open after the cool-down and lets exactly one probe through', () => {
    const { b, clock } = breaker();
    for (let i = 0; i < 3; i++) b.recordFailure('x');
    clock.advance(999);
    assert.equal(b.refresh(), undefined);
    clock.advance(1);
    assert.equal(b.refresh()?.to, 'half-open');
    assert.equal(b.canDispatch, true);
    assert.equal(b.beginAttempt(), true, 'the probe');
    assert.equal(b.canDispatch, false, 'no other traffic while probing');
    assert.equal(b.beginAttempt(), false, 'only one probe');
    assert.deepEqual(b.recordSuccess(), {
      from: 'half-open',
      to: 'closed',
      reason: 'the relay answered',
    });
    assert.equal(b.beginAttempt(), true);
  });

  it('a failed probe reopens with a doubled cool-down, capped at maxCooldown', () => {
    const { b, clock } = breaker();
    for (let i = 0; i < 3; i++) b.recordFailure('x');
    const cooldowns: number[] = [];
    for (let round = 0; round < 3; round++) {
      clock.set(b.retryAt ?? 0);
      b.refresh();
      b.beginAttempt();
      const opened = clock.now();
      assert.equal(b.recordFailure('still down')?.to, 'open');
      cooldowns.push((b.retryAt ?? 0) - opened);
    }
    assert.deepEqual(cooldowns, [2_000, 3_000, 3_000]);
    clock.set(b.retryAt ?? 0);
    b.refresh();
    b.recordSuccess();
    for (let i = 0; i < 3; i++) b.recordFailure('x');
    assert.equal((b.retryAt ?? 0) - clock.now(), 1_000, 'a close resets the cool-down');
  });

  it('failures while open change nothing', () => {
    const { b } = breaker();
    for (let i = 0; i < 3; i++) b.recordFailure('x');
    const until = b.retryAt;
    assert.equal(b.recordFailure('again'), undefined);
    assert.equal(b.retryAt, until);
  });
});
