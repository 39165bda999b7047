import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../core/clock.js';
import { EventBus } from '../core/events.js';
import { openStore } from '../store/open-store.js';
import { LiveStats, percentile } from './live-stats.js';

describe('LiveStats', () => {
  it('samples per-interval counts, latency percentiles and the queue, and sums a window', async () => {
    const store = await openStore('sqlite::memory:');
    await store.migrate();
    const clock = new ManualClock();
    const events = new EventBus();
    const stats = new LiveStats({ events, store, clock, intervalMs: 1_000, capacity: 3 });
    try {
      events.emit('message:accepted', { id: 'a', stream: 'bulk' });
      for (let i = 1; i <= 100; i++) {
        events.emit('send:delivered', { id: `m${i}`, relay: 'r1', latencyMs: 1, sinceAcceptMs: i });
      }
      events.emit('send:deferred', { id: 'x', relay: 'r1', reason: '451' });
      events.emit('send:bounced', {
        id: 'y',
        relay: 'r2',
        code: 550,
        reason: '550',
        category: 'bad-mailbox',
      });
      events.emit('relay:connection-error', { relay: 'r2', error: 'refused' });
      clock.advance(2_000);
      const first = await stats.sample();
      assert.equal(first.intervalMs, 2_000);
      assert.deepEqual(
        [
          first.counts.accepted,
          first.counts.delivered,
          first.counts.deferred,
          first.counts.bounced,
        ],
        [1, 100, 1, 1],
      );
      assert.deepEqual(first.relays, {
        r1: { delivered: 100, deferred: 1, bounced: 0, connectionErrors: 0 },
        r2: { delivered: 0, deferred: 0, bounced: 1, connectionErrors: 1 },
      });
      assert.deepEqual(first.bounceCategories, { 'bad-mailbox': 1 });
      assert.deepEqual([first.latencyP50Ms, first.latencyP99Ms], [50, 99]);
      assert.equal(first.queue, undefined, 'nobody watches: the queue is not counted');
      assert.equal(first.oldestPendingAgeMs, undefined, 'nothing waits');

      stats.viewed();
      clock.advance(1_000);
      const second = await stats.sample();
      assert.equal(second.counts.delivered, 0, 'counts are per interval');
      assert.equal(second.latencyP50Ms, undefined);
      assert.equal(second.queue?.queued, 0, 'counted while someone watches');

      assert.equal(stats.window(1_000).delivered, 0, 'only the last sample');
      assert.equal(stats.window(3_000).delivered, 100);
      assert.equal(stats.totals().delivered, 100);
      assert.deepEqual(
        stats.since(clock.now() - 1_000).map((s) => s.at),
        [clock.now()],
      );
      clock.advance(1_000);
      await stats.sample();
      clock.advance(1_000);
      await stats.sample();
      assert.equal(stats.since(0).length, 3, 'the ring keeps `capacity` samples');
      assert.equal(stats.totals().delivered, 100, 'totals outlive the ring');
    } finally {
      await stats.stop();
      await store.close();
    }
  });

  it('takes the nearest-rank percentile', () => {
    assert.equal(percentile([], 0.5), 0);
    assert.equal(percentile([7], 0.99), 7);
    assert.equal(percentile([1, 2, 3, 4], 0.5), 2);
    assert.equal(percentile([1, 2, 3, 4], 0.99), 4);
  });
});
