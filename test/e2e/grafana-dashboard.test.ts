/**
 * docs/grafana-dashboard.json is built on metrics that exist: every
 * `sluice_…` name its queries use is exposed by a real registry
 * (createMetrics on a real SQLite store) once each kind of event has happened.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { EventBus } from '../../src/core/events.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { openStore } from '../../src/store/open-store.js';

describe('docs/grafana-dashboard.json', () => {
  it('queries only metric names that /metrics exposes', async () => {
    const dashboard = readFileSync('docs/grafana-dashboard.json', 'utf8');
    const parsed = JSON.parse(dashboard) as { panels: { targets: { expr: string }[] }[] };
    const used = new Set<string>();
    for (const panel of parsed.panels) {
      for (const target of panel.targets) {
        for (const name of target.expr.match(/sluice_[a-z0-9_]+/g) ?? []) used.add(name);
      }
    }
    assert.ok(used.size >= 20, `the dashboard uses ${used.size} metrics`);

    const store = await openStore('sqlite::memory:');
    await store.migrate();
    const events = new EventBus();
    const metrics = createMetrics(events, store);
    try {
      // Labelled series appear once observed.
      events.emit('message:accepted', { id: 'm', stream: 'transactional' });
      events.emit('send:delivered', { id: 'm', relay: 'r', latencyMs: 5, sinceAcceptMs: 9 });
      events.emit('send:deferred', { id: 'm', relay: 'r', reason: 'x' });
      events.emit('send:bounced', {
        id: 'm',
        relay: 'r',
        code: 550,
        reason: 'x',
        category: 'policy',
      });
      events.emit('message:failed', { id: 'm', reason: 'x' });
      events.emit('message:expired', { id: 'm' });
      events.emit('relay:connection-error', { relay: 'r', error: 'x' });
      events.emit('relay:state', { relay: 'r', state: 'closed', reason: 'x' });
      events.emit('relay:in-flight', { relay: 'r', inFlight: 1 });
      events.emit('pool:availability', { pool: 'p', available: 1, total: 1 });
      events.emit('throttle:wait', { scope: 'rate', key: 'g', waitMs: 1 });
      events.emit('throttle:deferred', { scope: 'rate', key: 'g' });
      events.emit('throttle:rate', { group: 'g', factor: 1, perSecond: 1 });
      events.emit('alert:state', { rule: 'r', firing: 0 });
      const exposed = await metrics.render();
      for (const name of used) {
        assert.ok(
          new RegExp(`^${name}(\\{| )`, 'm').test(exposed),
          `${name} is used by the dashboard but not exposed`,
        );
      }
    } finally {
      metrics.close();
      await store.close();
    }
  });
});
