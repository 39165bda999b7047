/**
 * The scheduler's upkeep interval: every UPKEEP_INTERVAL_MS while the
 * campaign's statistics are cheap, and UPKEEP_COST_FACTOR times as long as
 * the last upkeep took once they are not (a large campaign), so that the
 * upkeep's share of the node's time does not grow with the audience.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_CAMPAIGNS_CONFIG } from '../config/config.js';
import { ManualClock } from '../core/clock.js';
import { EventBus } from '../core/events.js';
import { newId } from '../core/ids.js';
import type { Store } from '../core/ports/store.js';
import { silentLogger } from '../delivery/logger.js';
import { testConfig } from '../http/test-support.js';
import { openStore } from '../store/open-store.js';
import { sendingCampaign } from './test-support.js';
import { fanOutNext, type FanOutDeps } from './fan-out.js';
import { CampaignScheduler, UPKEEP_COST_FACTOR, UPKEEP_INTERVAL_MS } from './scheduler.js';

/** A campaign fanned out to 3 contacts: `sent`, its messages queued (upkeep goes on). */
async function sentCampaign(store: Store, deps: FanOutDeps): Promise<string> {
  await store.migrate();
  const at = deps.clock.now();
  const ids = ['ct_0', 'ct_1', 'ct_2'];
  await store.contacts.upsertMany(
    ids.map((id, i) => ({ id, email: `r${i}@example.test`, attributes: {}, at })),
  );
  const list = await store.lists.create({ id: newId('list'), name: 'a', description: '', at });
  await store.lists.addMembers(list.id, ids, at);
  const id = await sendingCampaign(store, { listIds: [list.id], variants: 1, at });
  assert.equal(await fanOutNext(deps), 'done');
  return id;
}

/** The store, whose campaign statistics take `cost.ms` of the clock's time and are counted. */
function timedStats(store: Store, clock: ManualClock, cost: { ms: number; calls: number }): Store {
  const campaigns = new Proxy(store.campaigns, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      const method = (value as (...args: unknown[]) => unknown).bind(target);
      if (property !== 'messageCounts') return method;
      return (...args: unknown[]) => {
        cost.calls += 1;
        clock.advance(cost.ms);
        return method(...args);
      };
    },
  });
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'campaigns') return campaigns;
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
}

describe('campaign scheduler upkeep', () => {
  it('looks every UPKEEP_INTERVAL_MS when cheap, and waits in proportion when slow', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-scheduler-'));
    const store = await openStore('sqlite:' + join(dir, 'sluice.db'));
    try {
      const clock = new ManualClock();
      const cost = { ms: 0, calls: 0 };
      const deps: FanOutDeps = {
        store: timedStats(store, clock, cost),
        clock,
        config: testConfig({ campaigns: DEFAULT_CAMPAIGNS_CONFIG }),
        events: new EventBus(),
        logger: silentLogger,
        nodeId: 'node-a',
      };
      await sentCampaign(store, deps);
      const scheduler = new CampaignScheduler(deps);

      await scheduler.tick();
      assert.equal(cost.calls, 1, 'the first round looks after the campaign');
      clock.advance(UPKEEP_INTERVAL_MS - 1);
      await scheduler.tick();
      assert.equal(cost.calls, 1, 'not again within the interval');
      clock.advance(1);
      await scheduler.tick();
      assert.equal(cost.calls, 2, 'again after the interval');

      // The statistics now take 2 s: the next upkeep waits 20 × 2 s from the start of this one.
      cost.ms = 2_000;
      clock.advance(UPKEEP_INTERVAL_MS);
      const started = clock.now();
      await scheduler.tick();
      assert.equal(cost.calls, 3);
      clock.set(started + UPKEEP_INTERVAL_MS);
      await scheduler.tick();
      assert.equal(cost.calls, 3, 'a slow upkeep is not repeated after the fixed interval');
      clock.set(started + UPKEEP_COST_FACTOR * cost.ms - 1);
      await scheduler.tick();
      assert.equal(cost.calls, 3);
      clock.set(started + UPKEEP_COST_FACTOR * cost.ms);
      await scheduler.tick();
      assert.equal(cost.calls, 4, 'but after UPKEEP_COST_FACTOR times as long as it took');
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
