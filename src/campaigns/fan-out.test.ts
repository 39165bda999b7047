/**
 * Fan-out resumability on both dialects: a node killed between a batch's
 * write and its cursor save is taken over after its lease, and every
 * recipient still ends with exactly one message; a pause between two
 * batches stops the fan-out, and resume finishes it.
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
import { postgresStoreIn, type StoreHandle } from '../store/contract/fixtures.js';
import { openStore } from '../store/open-store.js';
import { applyAction } from './campaign-actions.js';
import { sendingCampaign } from './test-support.js';
import { fanOutNext, runFanOut, type FanOutDeps } from './fan-out.js';

const LEASE_MS = 30_000;
const CONTACTS = 25;

async function sqliteStore(): Promise<StoreHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-fanout-'));
  const store = await openStore('sqlite:' + join(dir, 'sluice.db'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** 25 active contacts in list A, the first 5 also in list B; contact 7 suppressed. */
async function seed(store: Store, clock: ManualClock): Promise<string> {
  await store.migrate();
  const at = clock.now();
  const ids = Array.from({ length: CONTACTS }, (_, i) => `ct_${String(i).padStart(2, '0')}`);
  await store.contacts.upsertMany(
    ids.map((id, i) => ({ id, email: `r${i}@example.test`, attributes: {}, at })),
  );
  const a = await store.lists.create({ id: newId('list'), name: 'a', description: '', at });
  const b = await store.lists.create({ id: newId('list'), name: 'b', description: '', at });
  await store.lists.addMembers(a.id, ids, at);
  await store.lists.addMembers(b.id, ids.slice(0, 5), at);
  await store.suppressions.add({ email: 'r7@example.test', reason: 'manual', at });
  return sendingCampaign(store, { listIds: [a.id, b.id], variants: 2, at });
}

function deps(store: Store, clock: ManualClock, nodeId: string): FanOutDeps {
  return {
    store,
    clock,
    config: testConfig({
      campaigns: { ...DEFAULT_CAMPAIGNS_CONFIG, batchSize: 10, leaseMs: LEASE_MS },
    }),
    events: new EventBus(),
    logger: silentLogger,
    nodeId,
  };
}

/** The store as a node sees it that dies when it saves its first cursor. */
function dyingAtFirstSave(store: Store): Store {
  const campaigns = new Proxy(store.campaigns, {
    get(target, property, receiver) {
      if (property === 'saveFanOut') {
        return () => Promise.reject(new Error('killed'));
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'campaigns') return campaigns;
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
}

async function assertOneMessageEach(store: Store, id: string): Promise<void> {
  const counts = await store.campaigns.messageCounts(id);
  const total = counts.reduce((n, c) => n + c.count, 0);
  assert.equal(total, CONTACTS - 1, 'every active, unsuppressed contact once');
  const byVariant = counts.map((c) => c.count).sort();
  assert.deepEqual(byVariant, [12, 12], 'round-robin over the two variants');
  const campaign = await store.campaigns.get(id);
  assert.equal(campaign?.status, 'sent');
  assert.equal(campaign?.progress.skippedSuppressed, 1);
}

function fanOutSuite(name: string, make: () => Promise<StoreHandle>): void {
  describe(`campaign fan-out: ${name}`, () => {
    it('is taken over from the saved cursor after a node dies between a write and its save', async () => {
      const handle = await make();
      const { store } = handle;
      try {
        const clock = new ManualClock();
        const id = await seed(store, clock);
        const claimed = await store.campaigns.claimFanOut('node-a', clock.now(), LEASE_MS);
        assert.equal(claimed?.id, id);
        await assert.rejects(
          runFanOut(claimed, deps(dyingAtFirstSave(store), clock, 'node-a')),
          /killed/,
        );
        const written = await store.campaigns.messageCounts(id);
        assert.equal(
          written.reduce((n, c) => n + c.count, 0),
          9,
          'the first batch was written (10 contacts, one suppressed)',
        );
        assert.equal(await fanOutNext(deps(store, clock, 'node-b')), undefined, 'still leased');
        clock.advance(LEASE_MS);
        assert.equal(await fanOutNext(deps(store, clock, 'node-b')), 'done');
        await assertOneMessageEach(store, id);
      } finally {
        await handle.cleanup();
      }
    });

    it('lets the event loop run between two batches (the worker sends while the fan-out goes on)', async () => {
      const handle = await make();
      const { store } = handle;
      try {
        const clock = new ManualClock();
        await seed(store, clock);
        let batches = 0;
        let batchesSeenByTheLoop: number | undefined;
        // A macrotask queued before the fan-out starts: it runs between two
        // batches only if the fan-out yields to the event loop.
        setImmediate(() => {
          batchesSeenByTheLoop = batches;
        });
        const result = await fanOutNext({
          ...deps(store, clock, 'node-a'),
          onBatch: () => {
            batches += 1;
          },
        });
        assert.equal(result, 'done');
        assert.equal(batches, 3, '25 contacts in batches of 10');
        assert.ok(
          batchesSeenByTheLoop !== undefined && batchesSeenByTheLoop < batches,
          `the event loop ran after ${String(batchesSeenByTheLoop ?? 'the end of the fan-out, not')} of ${batches} batches`,
        );
      } finally {
        await handle.cleanup();
      }
    });

    it('stops at a pause between two batches and finishes after resume', async () => {
      const handle = await make();
      const { store } = handle;
      try {
        const clock = new ManualClock();
        const id = await seed(store, clock);
        const events = new EventBus();
        // The pause lands right after the first batch is written.
        const pausing = new Proxy(store.messages, {
          get(target, property, receiver) {
            const value: unknown = Reflect.get(target, property, receiver);
            if (property !== 'acceptBatch' || typeof value !== 'function') {
              return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
            }
            let calls = 0;
            return async (...args: Parameters<Store['messages']['acceptBatch']>) => {
              const created = await target.acceptBatch(...args);
              calls += 1;
              if (calls === 1) await applyAction({ store, clock, events }, id, 'pause');
              return created;
            };
          },
        });
        const node = new Proxy(store, {
          get(target, property, receiver) {
            if (property === 'messages') return pausing;
            return Reflect.get(target, property, receiver) as unknown;
          },
        });
        assert.equal(await fanOutNext(deps(node, clock, 'node-a')), 'stopped');
        const paused = await store.campaigns.get(id);
        assert.equal(paused?.status, 'paused');
        const claim = await store.messages.claim({
          limit: 100,
          leaseMs: 1000,
          owner: 'w',
          now: clock.now(),
        });
        assert.equal(claim.length, 0, 'held while paused');
        assert.equal(await fanOutNext(deps(store, clock, 'node-a')), undefined, 'nothing to do');
        const resumed = await applyAction({ store, clock, events }, id, 'resume');
        assert.equal(resumed.status, 'sending');
        assert.equal(await fanOutNext(deps(store, clock, 'node-a')), 'done');
        await assertOneMessageEach(store, id);
      } finally {
        await handle.cleanup();
      }
    });
  });
}

fanOutSuite('sqlite', sqliteStore);
const url = process.env.SLUICE_TEST_DATABASE_URL;
if (url === undefined) {
  describe(
    'campaign fan-out: postgres',
    { skip: 'SLUICE_TEST_DATABASE_URL is not set' },
    () => undefined,
  );
} else {
  fanOutSuite('postgres', postgresStoreIn(url, 4));
}
