import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { newMessage } from '../contract/fixtures.js';
import { runStoreContract, type StoreHandle } from '../contract/store-contract.js';
import { CAMPAIGN_SQL } from './campaigns.js';
import { OUTBOX_SQL } from './messages.js';
import { openSqliteStore } from './sqlite-store.js';
import type { StatementCache } from './statement-cache.js';
import { withQueryPlans } from './test-support.js';

async function makeStore(): Promise<StoreHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-sqlite-'));
  const store = openSqliteStore(join(dir, 'nested', 'sluice.db'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

runStoreContract('sqlite', makeStore);

describe('sqlite store', () => {
  it('runs in WAL mode with synchronous=FULL, foreign keys on and an 8 MiB page cache', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-sqlite-'));
    const store = openSqliteStore(join(dir, 'sluice.db'));
    try {
      assert.deepEqual(store.settings(), {
        journalMode: 'wal',
        synchronous: 'full',
        foreignKeys: true,
        pageCacheKiB: 8192,
      });
      assert.deepEqual(store.capabilities, {
        singleWriter: true,
        skipLocked: false,
        listenNotify: false,
        sortedImports: true,
      });
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('sqlite deferred commits', () => {
  it('a deferred batch leaves the connection at synchronous=FULL, also when it fails', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-sqlite-'));
    const store = openSqliteStore(join(dir, 'sluice.db'));
    try {
      await store.migrate();
      const row = { id: 'ct_1', email: 'a@x.test', at: 1 };
      await store.contacts.upsertMany([row], { durability: 'deferred' });
      assert.equal(store.settings().synchronous, 'full');
      await store.messages.claim({ limit: 10, leaseMs: 1000, owner: 'n1', now: 1 });
      assert.equal(store.settings().synchronous, 'full');
      await assert.rejects(
        store.contacts.upsertMany([row], { durability: 'deferred', listId: 'lst_nope' }),
      );
      assert.equal(store.settings().synchronous, 'full');
      assert.equal((await store.contacts.getByEmail('a@x.test'))?.id, 'ct_1');
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('sqlite campaign fan-out writes', () => {
  it('commit deferred (synchronous=NORMAL, no fsync on the event loop), and restore FULL', async () => {
    const handle = await makeStore();
    const { store } = handle;
    try {
      await store.migrate();
      // Each commit made with NORMAL goes through withNormalSync: count them.
      const cache = (store as unknown as { cache: StatementCache }).cache;
      const withNormalSync = cache.withNormalSync.bind(cache);
      let deferred = 0;
      cache.withNormalSync = <R>(fn: () => R): R => {
        deferred += 1;
        return withNormalSync(fn);
      };
      const created = await store.messages.acceptBatch([
        newMessage({ to: { email: 'a@example.test' } }),
        newMessage({ to: { email: 'b@example.test' } }),
      ]);
      assert.equal(created, 2);
      assert.equal(deferred, 1, 'the batch');
      assert.equal(
        await store.campaigns.saveFanOut('cmp_nope', {
          owner: 'n1',
          progress: { phase: 'all', assigned: 0, created: 0, skippedSuppressed: 0 },
          at: 1,
          leaseUntil: 2,
        }),
        false,
        'no such campaign: nothing saved',
      );
      assert.equal(deferred, 2, 'the cursor');
      assert.equal(cache.db.pragma('synchronous', { simple: true }), 2, 'FULL again');
    } finally {
      await handle.cleanup();
    }
  });
});

describe('sqlite engagement records', () => {
  it('that arrive together share one transaction and one fdatasync; a duplicate fails alone', async () => {
    const handle = await makeStore();
    const { store } = handle;
    try {
      await store.migrate();
      const wal = (store as unknown as { walSync: { syncs: number } }).walSync;
      await store.messages.accept(newMessage()); // the WAL file exists
      const before = wal.syncs;
      const hit = (i: number) => ({
        id: `eng_${String(i).padStart(4, '0')}`,
        kind: 'open' as const,
        messageId: 'msg_x',
        email: `r${i}@example.test`,
        at: 1_000 + i,
      });
      const results = await Promise.allSettled([
        ...Array.from({ length: 20 }, (_, i) => store.engagement.record(hit(i))),
        store.engagement.record(hit(3)),
      ]);
      assert.deepEqual(
        results.map((r) => r.status),
        [...Array.from({ length: 20 }, () => 'fulfilled'), 'rejected'],
      );
      assert.equal(wal.syncs - before, 1, 'one fdatasync for the batch');
      assert.equal((await store.engagement.forMessage('msg_x')).length, 20);
    } finally {
      await handle.cleanup();
    }
  });
});

describe('sqlite backstop cursor', () => {
  it('claims and moves in the deferred turn (no fsync of its own), and the move is committed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-sqlite-'));
    const file = join(dir, 'sluice.db');
    const turnEnded = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    let store = openSqliteStore(file);
    try {
      await store.migrate();
      const cursor = await store.journeys.claimCursor('journeys', 'n1', 1_000, 60_000);
      assert.deepEqual(cursor, { receivedAt: 1_000, eventId: '' });
      // The turn is open until the microtask checkpoint is over: NORMAL until it commits.
      assert.equal(store.settings().synchronous, 'normal');
      await turnEnded();
      assert.equal(store.settings().synchronous, 'full');
      const to = { receivedAt: 2_000, eventId: 'ev_2' };
      assert.equal(await store.journeys.moveCursor('journeys', 'n1', to), true);
      assert.equal(store.settings().synchronous, 'normal');
      assert.equal(await store.journeys.moveCursor('journeys', 'n2', to), false, 'not the owner');
      await turnEnded();
      await store.close();
      store = openSqliteStore(file);
      // n1's lease ran out: n2 takes the cursor where n1 moved it.
      assert.deepEqual(await store.journeys.claimCursor('journeys', 'n2', 70_000, 60_000), to);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('sqlite outbox queries', () => {
  it('claim and nextDueAt search the partial claim index, not the table', async () => {
    await withQueryPlans((plan) => {
      assert.match(
        plan(OUTBOX_SQL.pick, 'bulk', 0, 10),
        /USING INDEX messages_claim \(stream=\? AND due_at<\?\)/,
      );
      assert.match(
        plan(OUTBOX_SQL.anyDue, 'bulk', 0),
        /USING (COVERING )?INDEX messages_claim \(stream=\? AND due_at<\?\)/,
      );
      assert.match(plan(OUTBOX_SQL.nextDue, 'bulk'), /USING INDEX messages_claim \(stream=\?\)/);
    });
  });

  it('the lease and the attempt of a settlement find their rows by key, never by a scan', async () => {
    await withQueryPlans((plan) => {
      const lease = plan(OUTBOX_SQL.lease, 1, 'w', 1, '[1,2]');
      assert.match(lease, /SEARCH messages USING INTEGER PRIMARY KEY \(rowid=\?\)/, lease);
      assert.doesNotMatch(lease, /SCAN messages/, lease);
      const attempt = plan(OUTBOX_SQL.insertAttempt, 'r', 1, 1, 'delivered', 250, '', '', '', 'm');
      assert.match(attempt, /SEARCH messages USING INDEX sqlite_autoindex_messages_1 \(id=\?\)/);
    });
  });
});

describe('sqlite accept leased to the caller (a journey send handed to the worker)', () => {
  it('stores the row as a claim leaves it, returns it with its contact, and hands it over after the lease', async () => {
    const handle = await makeStore();
    const { store } = handle;
    try {
      await store.migrate();
      const now = 1_700_000_000_000;
      await store.contacts.upsertMany([
        { id: 'ct_lease', email: 'lease@example.test', attributes: { plan: 'pro' }, at: now },
      ]);
      const message = newMessage({
        to: { email: 'lease@example.test', name: 'Lea' },
        replyTo: { email: 'help@example.test' },
        html: '<p>Hi {{ name }}</p>',
        eventReceivedAt: now - 5,
        createdAt: now,
        expiresAt: now + 86_400_000,
      });
      const result = await store.messages.accept(
        message,
        { scope: 'journey', key: message.id, requestHash: 'h' },
        { durability: 'deferred', leaseTo: { owner: 'node-a', until: now + 60_000 } },
      );
      assert.equal(result.kind, 'created');
      assert.ok(result.kind === 'created' && result.claimed, 'returned claimed');
      assert.equal(result.claimed.id, message.id);
      assert.equal(result.claimed.status, 'sending');
      assert.equal(result.claimed.leaseOwner, 'node-a');
      assert.equal(result.claimed.dueAt, now + 60_000);
      assert.deepEqual(result.claimed.contact, { id: 'ct_lease', attributes: { plan: 'pro' } });
      // Built without reading the row back: exactly what reading it returns.
      const { contact: _contact, ...claimed } = result.claimed;
      assert.deepEqual(claimed, await store.messages.get(message.id));
      // Leased: no claim takes it while the lease holds …
      const early = await store.messages.claim({
        limit: 10,
        leaseMs: 60_000,
        owner: 'node-b',
        now,
      });
      assert.deepEqual(early, []);
      // … and another node takes it over once it has run out, as any claimed row.
      const later = await store.messages.claim({
        limit: 10,
        leaseMs: 60_000,
        owner: 'node-b',
        now: now + 61_000,
      });
      assert.deepEqual(
        later.map((m) => [m.id, m.leaseOwner]),
        [[message.id, 'node-b']],
      );
      // The idempotency key was stored with it: a replay gets the message, not a second one.
      const replay = await store.messages.accept(
        message,
        { scope: 'journey', key: message.id, requestHash: 'h' },
        { durability: 'deferred', leaseTo: { owner: 'node-a', until: now + 60_000 } },
      );
      assert.deepEqual(replay, { kind: 'replayed', id: message.id });
    } finally {
      await handle.cleanup();
    }
  });
});

describe('sqlite campaign statistics queries', () => {
  it('counts a campaign’s complaints from the complained contacts’ index, not from every message', async () => {
    await withQueryPlans((plan) => {
      // First line: the table the join starts from; second: the one it looks up.
      const [first, second] = plan(CAMPAIGN_SQL.complaints, 'cmp_x').split('\n');
      assert.match(first ?? '', /c USING (COVERING )?INDEX contacts_complained/);
      assert.match(
        second ?? '',
        /m USING COVERING INDEX messages_campaign \(campaign_id=\? AND to_email=\?\)/,
      );
    });
  });

  it('reads the counts, engagement and unsettled messages in ranges of the covering index, never the rows', async () => {
    await withQueryPlans((plan) => {
      const range =
        /USING COVERING INDEX messages_campaign_stats \(campaign_id=\? AND id>\? AND id<\?\)/;
      assert.match(
        plan(CAMPAIGN_SQL.range, 'cmp_x', '', 10),
        /USING COVERING INDEX messages_campaign_stats \(campaign_id=\? AND id>\?\)/,
      );
      assert.match(
        plan(CAMPAIGN_SQL.rangeDown, 'cmp_x', 'z', 10),
        /USING COVERING INDEX messages_campaign_stats \(campaign_id=\? AND id<\?\)/,
      );
      assert.match(plan(CAMPAIGN_SQL.messageCounts, 'cmp_x', '', 'z'), range);
      assert.match(plan(CAMPAIGN_SQL.unsettledIn, 'cmp_x', '', 'z'), range);
      const [first, second] = plan(CAMPAIGN_SQL.engagementCounts, 'cmp_x', '', 'z').split('\n');
      assert.match(first ?? '', range);
      assert.match(second ?? '', /e USING INDEX engagement_message \(message_id=\?\)/);
      // The last check before completedAt is set: the messages newer than the walk saw.
      assert.match(
        plan(CAMPAIGN_SQL.completeIfSettled, 1, 'cmp_x', 'cmp_x', 'msg_x'),
        /USING COVERING INDEX messages_campaign_stats \(campaign_id=\? AND id>\?\)/,
      );
    });
  });
});
