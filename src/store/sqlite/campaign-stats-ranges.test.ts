/**
 * A campaign's statistics on SQLite are read in ranges of message ids, with
 * the event loop free between ranges (STATS_CHUNK in ./campaigns.ts): the
 * counts must be those of one statement over the whole campaign, and other
 * work must run while they are read.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { initialProgress } from '../../core/campaign.js';
import { newId } from '../../core/ids.js';
import type { CampaignMessageCount, Store } from '../../core/ports/store.js';
import { newCampaign } from '../contract/campaigns-contract.js';
import { attemptRecord, delivered, MINUTE, newMessage, T0 } from '../contract/fixtures.js';
import { openSqliteStore } from './sqlite-store.js';

const MESSAGES = 10;
/** 10 messages in ranges of 3: four ranges, three turns of the event loop between them. */
const CHUNK = 3;

function sorted(counts: CampaignMessageCount[]): string[] {
  return counts.map((c) => `${c.variant} ${c.status} ${c.bounceCategory ?? '-'} ${c.count}`).sort();
}

/** Turns of the event loop (setImmediate callbacks) that ran while `work` was pending. */
async function turnsDuring<T>(work: () => Promise<T>): Promise<{ value: T; turns: number }> {
  let turns = 0;
  let pending = true;
  const spin = (): void => {
    if (!pending) return;
    turns += 1;
    setImmediate(spin);
  };
  setImmediate(spin);
  const value = await work();
  pending = false;
  return { value, turns };
}

/** A sending campaign of MESSAGES messages (variants 0 and 1), all queued. */
async function campaignOf(store: Store): Promise<{ id: string; messageIds: string[] }> {
  const campaign = await store.campaigns.create(
    newCampaign({ variants: [{ name: 'A' }, { name: 'B' }] }),
  );
  await store.campaigns.transition(campaign.id, {
    from: ['draft'],
    to: 'sending',
    at: T0,
    startedAt: T0,
  });
  const messages = Array.from({ length: MESSAGES }, (_, i) =>
    newMessage({
      stream: 'bulk',
      to: { email: `r${i}@x.test` },
      campaignId: campaign.id,
      variant: i % 2,
      variables: {},
      headers: {},
    }),
  );
  assert.equal(await store.messages.acceptBatch(messages, { campaignId: campaign.id }), MESSAGES);
  return { id: campaign.id, messageIds: messages.map((m) => m.id) };
}

describe('sqlite campaign statistics in ranges of message ids', () => {
  it('counts as one statement would, letting the event loop run between ranges', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-stats-'));
    const path = join(dir, 'sluice.db');
    const store = openSqliteStore(path, { statsChunk: CHUNK });
    const whole = openSqliteStore(path, { statsChunk: 1_000_000 });
    try {
      await store.migrate();
      const campaign = await campaignOf(store);
      const now = T0 + MINUTE;
      const claimed = await store.messages.claim({ limit: 6, leaseMs: MINUTE, owner: 'n1', now });
      assert.equal(claimed.length, 6);
      const [d1, d2, d3, b1, f1] = claimed;
      assert.ok(d1 && d2 && d3 && b1 && f1);
      await store.messages.settle([
        delivered(d1.id, 'n1', now),
        delivered(d2.id, 'n1', now),
        delivered(d3.id, 'n1', now),
        {
          id: b1.id,
          leaseOwner: 'n1',
          status: 'bounced',
          bounceCategory: 'bad-mailbox',
          lastError: '550 no such user',
          attempt: attemptRecord(b1.id, 'bounced', now),
          at: now,
        },
        {
          id: f1.id,
          leaseOwner: 'n1',
          status: 'deferred',
          dueAt: now + MINUTE,
          lastError: '451 later',
          attempt: attemptRecord(f1.id, 'deferred', now),
          at: now,
        },
      ]);
      for (const [message, kind] of [
        [d1, 'open'],
        [d1, 'open'],
        [d1, 'click'],
        [d2, 'open'],
        [d3, 'unsubscribe'],
      ] as const) {
        await store.engagement.record({
          id: newId('engagement'),
          kind,
          messageId: message.id,
          email: message.to.email,
          at: now,
        });
      }

      const counts = await turnsDuring(() => store.campaigns.messageCounts(campaign.id));
      assert.deepEqual(
        sorted(counts.value),
        sorted(await whole.campaigns.messageCounts(campaign.id)),
      );
      assert.equal(
        counts.value.reduce((sum, c) => sum + c.count, 0),
        MESSAGES,
        'each message counted once',
      );
      assert.ok(counts.turns >= 3, `the event loop ran between ranges (${counts.turns} turns)`);

      const engagement = await turnsDuring(() => store.campaigns.engagementCounts(campaign.id));
      const key = (e: { variant: number; kind: string; messages: number }): string =>
        `${e.variant} ${e.kind} ${e.messages}`;
      assert.deepEqual(
        engagement.value.map(key).sort(),
        (await whole.campaigns.engagementCounts(campaign.id)).map(key).sort(),
      );
      assert.equal(
        engagement.value.filter((e) => e.kind === 'open').reduce((sum, e) => sum + e.messages, 0),
        2,
        'distinct messages: two opens of one message count once',
      );
      assert.ok(engagement.turns >= 3, `${engagement.turns} turns`);

      // Unsettled messages remain (queued, deferred, one still sending): not complete.
      const complete = await turnsDuring(() => store.campaigns.completeIfSettled(campaign.id, now));
      assert.equal(complete.value, false);
    } finally {
      await whole.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('counts a message settled between two ranges once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-stats-'));
    const store = openSqliteStore(join(dir, 'sluice.db'), { statsChunk: CHUNK });
    try {
      await store.migrate();
      const campaign = await campaignOf(store);
      const now = T0 + MINUTE;
      const claimed = await store.messages.claim({
        limit: MESSAGES,
        leaseMs: MINUTE,
        owner: 'n1',
        now,
      });
      assert.equal(claimed.length, MESSAGES);
      // The first range is read at once; the settlements land before the next ones.
      const counting = store.campaigns.messageCounts(campaign.id);
      await new Promise((resolve) => setImmediate(resolve));
      await store.messages.settle(claimed.map((m) => delivered(m.id, 'n1', now)));
      const counts = await counting;
      const byStatus = new Map<string, number>();
      for (const c of counts) byStatus.set(c.status, (byStatus.get(c.status) ?? 0) + c.count);
      assert.equal((byStatus.get('sending') ?? 0) + (byStatus.get('delivered') ?? 0), MESSAGES);
      assert.ok((byStatus.get('sending') ?? 0) >= CHUNK, 'the first range saw them sending');
      assert.ok((byStatus.get('delivered') ?? 0) > 0, 'later ranges saw them delivered');

      // Every message final and the fan-out over: complete, through all the ranges.
      assert.ok(await store.campaigns.claimFanOut('n1', now, MINUTE));
      assert.ok(await store.campaigns.finishFanOut(campaign.id, 'n1', initialProgress(), now));
      const complete = await turnsDuring(() => store.campaigns.completeIfSettled(campaign.id, now));
      assert.equal(complete.value, true);
      assert.ok(complete.turns >= 3, `${complete.turns} turns`);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
