import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextUtcDay, warmupCap, warmupDay } from './warmup.js';

describe('warm-up schedules', () => {
  const schedule = { start: '2026-11-01', dailyCaps: [500, 1_000, 2_000] };
  const at = (iso: string) => Date.parse(iso);

  it('caps by UTC day index from the start, then no cap', () => {
    assert.equal(warmupCap(schedule, at('2026-10-30T12:00:00Z')), 500, 'before the start: day 0');
    assert.equal(warmupCap(schedule, at('2026-11-01T00:00:00Z')), 500);
    assert.equal(warmupCap(schedule, at('2026-11-01T23:59:59Z')), 500);
    assert.equal(warmupCap(schedule, at('2026-11-02T00:00:00Z')), 1_000);
    assert.equal(warmupCap(schedule, at('2026-11-03T08:00:00Z')), 2_000);
    assert.equal(warmupCap(schedule, at('2026-11-04T00:00:00Z')), undefined);
    assert.equal(warmupDay(schedule, at('2026-11-04T00:00:00Z')), 3);
  });

  it('the next day starts at UTC midnight', () => {
    assert.equal(nextUtcDay(at('2026-11-01T13:00:00Z')), at('2026-11-02T00:00:00Z'));
  });
});
