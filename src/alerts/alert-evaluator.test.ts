import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AlertRuleConfig } from '../config/config.js';
import { ManualClock } from '../core/clock.js';
import { AlertEvaluator, type AlertSignals, type WindowCounts } from './alert-evaluator.js';

const base = { forMs: 0, windowMs: 60_000, minEvents: 10 };

function signals(patch: Partial<AlertSignals> & { counts?: Partial<WindowCounts> } = {}) {
  const counts = { delivered: 0, deferred: 0, bounced: 0, complained: 0, ...patch.counts };
  const s: AlertSignals = {
    relays: patch.relays ?? [
      { name: 'mx1', state: 'closed' },
      { name: 'mx2', state: 'closed' },
    ],
    pools: patch.pools ?? [{ name: 'default', available: 2, total: 2 }],
    window: () => counts,
  };
  if (patch.oldestPendingAgeMs !== undefined) s.oldestPendingAgeMs = patch.oldestPendingAgeMs;
  return s;
}

describe('AlertEvaluator', () => {
  it('fires a relay down only after `for`, once, and resolves when it is back', () => {
    const clock = new ManualClock();
    const rule: AlertRuleConfig = {
      ...base,
      name: 'relay-down',
      kind: 'relay-down',
      forMs: 30_000,
    };
    const evaluator = new AlertEvaluator([rule]);
    const down = signals({
      relays: [
        { name: 'mx1', state: 'open' },
        { name: 'mx2', state: 'closed' },
      ],
    });
    assert.deepEqual(evaluator.evaluate(clock.now(), down), [], 'pending, not firing');
    clock.advance(29_999);
    assert.deepEqual(evaluator.evaluate(clock.now(), down), []);
    assert.deepEqual(evaluator.firing(), []);
    clock.advance(1);
    const fired = evaluator.evaluate(clock.now(), down);
    assert.equal(fired.length, 1);
    assert.equal(fired[0]?.status, 'firing');
    assert.equal(fired[0]?.alert.subject, 'mx1');
    assert.equal(fired[0]?.alert.since, clock.now() - 30_000);
    assert.deepEqual(evaluator.evaluate(clock.now() + 10, down), [], 'fires once');
    assert.deepEqual([...evaluator.firingCounts()], [['relay-down', 1]]);
    clock.advance(5_000);
    const resolved = evaluator.evaluate(clock.now(), signals());
    assert.deepEqual(
      resolved.map((t) => [t.status, t.alert.subject, t.at]),
      [['resolved', 'mx1', clock.now()]],
    );
    assert.deepEqual([...evaluator.firingCounts()], [['relay-down', 0]]);
  });

  it('forgets a condition that went away before `for` without a notification', () => {
    const clock = new ManualClock();
    const evaluator = new AlertEvaluator([
      { ...base, name: 'r', kind: 'relay-down', relay: 'mx2', forMs: 10_000 },
    ]);
    const down = signals({ relays: [{ name: 'mx2', state: 'half-open' }] });
    evaluator.evaluate(clock.now(), down);
    clock.advance(5_000);
    assert.deepEqual(evaluator.evaluate(clock.now(), signals()), []);
    clock.advance(6_000);
    assert.deepEqual(evaluator.evaluate(clock.now(), down), [], 'the clock starts again');
  });

  it('watches only the named relay, and treats a relay no longer reported as recovered', () => {
    const clock = new ManualClock();
    const evaluator = new AlertEvaluator([
      { ...base, name: 'r', kind: 'relay-down', relay: 'mx2' },
    ]);
    assert.deepEqual(
      evaluator.evaluate(clock.now(), signals({ relays: [{ name: 'mx1', state: 'open' }] })),
      [],
    );
    assert.equal(
      evaluator.evaluate(clock.now(), signals({ relays: [{ name: 'mx2', state: 'open' }] }))[0]
        ?.status,
      'firing',
    );
    assert.equal(evaluator.evaluate(clock.now(), signals({ relays: [] }))[0]?.status, 'resolved');
  });

  it('fires a pool down when none of its relays takes traffic', () => {
    const evaluator = new AlertEvaluator([{ ...base, name: 'pool', kind: 'pool-down' }]);
    const t = evaluator.evaluate(
      1,
      signals({
        pools: [
          { name: 'a', available: 0, total: 2 },
          { name: 'b', available: 1, total: 2 },
        ],
      }),
    );
    assert.deepEqual(
      t.map((x) => [x.status, x.alert.subject, x.alert.summary]),
      [['firing', 'a', 'pool a: 0 of 2 relays up']],
    );
  });

  it('computes error, bounce and complaint rates over the window, above the threshold and minEvents only', () => {
    const rules: AlertRuleConfig[] = [
      { ...base, name: 'errors', kind: 'error-rate', threshold: 20 },
      { ...base, name: 'bounces', kind: 'bounce-rate', threshold: 5 },
      { ...base, name: 'complaints', kind: 'complaint-rate', threshold: 0.1 },
    ];
    const evaluator = new AlertEvaluator(rules);
    // 3 of 4 bounced: far above, but under minEvents.
    assert.deepEqual(evaluator.evaluate(1, signals({ counts: { delivered: 1, bounced: 3 } })), []);
    // 90 delivered, 5 deferred, 5 bounced: errors 10 % (≤ 20), bounces 5.26 % (> 5), complaints 1/90.
    const t = evaluator.evaluate(
      2,
      signals({ counts: { delivered: 90, deferred: 5, bounced: 5, complained: 1 } }),
    );
    assert.deepEqual(
      t.map((x) => [x.alert.rule, x.alert.value, x.alert.threshold]),
      [
        ['bounces', 5.26, 5],
        ['complaints', 1.11, 0.1],
      ],
    );
    // At exactly the threshold: not above it, so resolved.
    const back = evaluator.evaluate(
      3,
      signals({ counts: { delivered: 95, bounced: 5, deferred: 0, complained: 0 } }),
    );
    assert.deepEqual(
      back.map((x) => [x.status, x.alert.rule]),
      [
        ['resolved', 'bounces'],
        ['resolved', 'complaints'],
      ],
    );
  });

  it('fires when the oldest waiting message is older than maxAge, and resolves when the queue drains', () => {
    const evaluator = new AlertEvaluator([
      { ...base, name: 'stuck', kind: 'queue-age', maxAgeMs: 600_000 },
    ]);
    assert.deepEqual(evaluator.evaluate(1, signals({ oldestPendingAgeMs: 600_000 })), []);
    const fired = evaluator.evaluate(2, signals({ oldestPendingAgeMs: 600_001 }));
    assert.equal(fired[0]?.alert.summary, 'the oldest waiting message is 600 s old; limit 600 s');
    const resolved = evaluator.evaluate(3, signals());
    assert.equal(resolved[0]?.status, 'resolved');
    assert.equal(resolved[0]?.alert.summary, 'no message is waiting');
  });
});
