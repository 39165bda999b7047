/**
 * Campaign fan-out: from a campaign in `sending` to one queued message per
 * recipient, in batches, resumable.
 *
 * Batch loop (one campaign, one node: the one holding its fan-out lease):
 *
 *   ┌► read the next page of the audience (active contacts of the lists
 *   │  and/or segment, by contact id after the cursor; never all at once;
 *   │  100 contacts first, doubling up to campaigns.batchSize)
 *   │  keep the contacts of this pass (test: inside the test share;
 *   │  rest: outside it; all: everyone), drop suppressed addresses
 *   │  assign variants (test/all: round-robin; rest: the winner)
 *   │  messages.acceptBatch(…)        one transaction, UNIQUE guard
 *   │  wake the delivery worker
 *   │  save the cursor, renew the lease (under the lease, while `sending`)
 *   │  yield to the event loop (setImmediate), so the worker the batch woke
 *   │  can send while the next pages are written
 *   └─ more pages? loop. Otherwise: test → waiting (until testEndsAt);
 *      all / rest → done (campaign `sent`).
 *
 * Guarantees: at least once per batch (a crash between the write and the
 * save repeats the batch), exactly once per message (the repeat creates
 * nothing: UNIQUE (campaign_id, to_email)); on SQLite the batch and the save
 * commit without an fsync of their own, so a power cut can undo the last
 * batches with their cursors, and messages of those already sent go out
 * again (at least once, docs/storage.md); the variant counter is saved
 * with the cursor, so a repeated batch assigns the same variants. A pause
 * or cancel stops the loop at its next write (acceptBatch writes nothing
 * for a campaign that is not `sending`, and the save fails).
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { CampaignsConfig, SluiceConfig } from '../config/config.js';
import { DEFAULT_CAMPAIGNS_CONFIG } from '../config/config.js';
import { domainOf } from '../core/address.js';
import {
  audienceCondition,
  firstPhase,
  inTestGroup,
  variantContent,
  variantCount,
  type Campaign,
  type FanOutProgress,
} from '../core/campaign.js';
import type { Clock } from '../core/clock.js';
import type { EventBus, SluiceEventMap } from '../core/events.js';
import { newMessageId, orderedIds } from '../core/ids.js';
import type { NewMessage } from '../core/message.js';
import type { Contact, Store } from '../core/ports/store.js';
import type { SegmentCondition } from '../core/segment.js';
import { CAMPAIGN_HEADER } from '../core/routing.js';
import { suppressionKey } from '../core/suppression.js';
import type { DeliveryLogger } from '../delivery/logger.js';
import { loadStats, winnerOf } from './campaign-stats.js';

export interface FanOutDeps {
  store: Store;
  clock: Clock;
  config: SluiceConfig;
  events: EventBus<SluiceEventMap>;
  logger: DeliveryLogger;
  /** Lease owner: unique per process. */
  nodeId: string;
  /** Called after each committed batch (wakes the delivery worker). */
  onBatch?: () => void;
  /** True once the node is shutting down: the fan-out stops after its current batch. */
  stopping?: () => boolean;
}

/**
 * The first page of a run, doubled at each page up to campaigns.batchSize.
 * On SQLite a page's write holds the one thread the SMTP sockets share, and
 * opening a relay connection takes several round trips, each waiting behind
 * at most one page: small first pages put the first messages in the outbox
 * within milliseconds and let the connections open while the pages grow.
 */
const FIRST_PAGE_SIZE = 100;

export type FanOutResult =
  /** Every recipient has a message; the campaign is `sent`. */
  | 'done'
  /** The test went out; the rest waits for the test window. */
  | 'waiting'
  /** The lease was lost, or the campaign left `sending` (paused, cancelled). */
  | 'stopped';

export function campaignsConfig(config: SluiceConfig): CampaignsConfig {
  return config.campaigns ?? DEFAULT_CAMPAIGNS_CONFIG;
}

/**
 * Claims one campaign whose fan-out has work and runs it to the end of its
 * current pass. Returns undefined when no campaign was ready.
 */
export async function fanOutNext(deps: FanOutDeps): Promise<FanOutResult | undefined> {
  const { leaseMs } = campaignsConfig(deps.config);
  const campaign = await deps.store.campaigns.claimFanOut(deps.nodeId, deps.clock.now(), leaseMs);
  if (!campaign) return undefined;
  try {
    return await runFanOut(campaign, deps);
  } finally {
    await deps.store.campaigns.releaseFanOut(campaign.id, deps.nodeId).catch(() => undefined);
  }
}

/** Runs the fan-out of a campaign whose lease `deps.nodeId` holds; see the header comment. */
export async function runFanOut(campaign: Campaign, deps: FanOutDeps): Promise<FanOutResult> {
  const { store, clock, nodeId } = deps;
  const { batchSize, leaseMs } = campaignsConfig(deps.config);
  let progress: FanOutProgress = { ...campaign.progress };
  let winner = campaign.winner;

  if (progress.phase === 'pending') {
    progress = { ...progress, phase: firstPhase(campaign), audienceAt: clock.now(), assigned: 0 };
    delete progress.after;
  } else if (progress.phase === 'waiting') {
    winner = winnerOf(campaign, await loadStats(store, campaign));
    progress = { ...progress, phase: 'rest', assigned: 0 };
    delete progress.after;
    const saved = await store.campaigns.saveFanOut(campaign.id, {
      owner: nodeId,
      progress,
      winner,
      at: clock.now(),
      leaseUntil: clock.now() + leaseMs,
    });
    if (!saved) return 'stopped';
    const metric = campaign.test?.metric ?? 'opens';
    deps.events.emit('campaign:winner', { id: campaign.id, variant: winner, metric });
    deps.logger.info(
      { campaign: campaign.id, variant: winner, name: campaign.variants[winner]?.name, metric },
      'A/B test decided: the winner goes to the rest of the audience',
    );
  }

  const segment = await segmentOf(campaign, store);
  const condition = audienceCondition(campaign.audience, segment);
  const audienceAt = progress.audienceAt ?? clock.now();
  let pageSize = Math.min(batchSize, FIRST_PAGE_SIZE);
  for (;;) {
    const started = performance.now();
    const page = await store.segments.select(condition, audienceAt, {
      limit: pageSize,
      ...(progress.after !== undefined ? { after: progress.after } : {}),
    });
    const last = page.items[page.items.length - 1];
    const chosen = page.items.filter((contact) => inPass(campaign, progress, contact));
    const suppressed = chosen.length
      ? await store.suppressions.suppressedAmong(chosen.map((c) => c.email))
      : new Set<string>();
    const recipients = chosen.filter((c) => !suppressed.has(suppressionKey(c.email)));
    const now = clock.now();
    const messages = buildMessages(campaign, recipients, progress, winner, deps.config, now);
    const created = await store.messages.acceptBatch(messages, { campaignId: campaign.id });
    progress = {
      ...progress,
      ...(last ? { after: last.id } : {}),
      assigned: progress.assigned + (progress.phase === 'rest' ? 0 : messages.length),
      created: progress.created + created,
      skippedSuppressed: progress.skippedSuppressed + (chosen.length - recipients.length),
    };
    deps.events.emit('campaign:batch', {
      id: campaign.id,
      created,
      suppressed: chosen.length - recipients.length,
      durationMs: performance.now() - started,
    });
    if (created > 0) deps.onBatch?.();

    if (page.next === undefined) return endOfPass(campaign, progress, deps);
    const saved = await store.campaigns.saveFanOut(campaign.id, {
      owner: nodeId,
      progress,
      at: now,
      leaseUntil: now + leaseMs,
    });
    if (!saved) return 'stopped';
    // Shutting down: the saved cursor is where this node (or another) resumes.
    if (deps.stopping?.()) return 'stopped';
    // On SQLite every store call completes synchronously, so without this the
    // whole fan-out ran in one stretch of microtasks: no socket was read, no
    // timer fired and no message was sent until the last page was written
    // (first delivery 22.7 s after "send" at 1M recipients; docs/benchmarks.md).
    await yieldToEventLoop();
    pageSize = Math.min(batchSize, pageSize * 2);
  }
}

async function endOfPass(
  campaign: Campaign,
  progress: FanOutProgress,
  deps: FanOutDeps,
): Promise<FanOutResult> {
  const { store, clock, nodeId } = deps;
  const now = clock.now();
  if (progress.phase === 'test') {
    const testEndsAt = now + (campaign.test?.windowMs ?? 0);
    const waiting: FanOutProgress = { ...progress, phase: 'waiting', assigned: 0 };
    delete waiting.after;
    const saved = await store.campaigns.saveFanOut(campaign.id, {
      owner: nodeId,
      progress: waiting,
      testEndsAt,
      at: now,
      leaseUntil: now,
    });
    if (!saved) return 'stopped';
    deps.logger.info(
      { campaign: campaign.id, testMessages: progress.created, testEndsAt: new Date(testEndsAt) },
      'A/B test sent; the rest waits for the test window',
    );
    return 'waiting';
  }
  if (!(await store.campaigns.finishFanOut(campaign.id, nodeId, progress, now))) return 'stopped';
  deps.events.emit('campaign:status', { id: campaign.id, status: 'sent', by: 'fan-out' });
  deps.logger.info(
    {
      campaign: campaign.id,
      messages: progress.created,
      skippedSuppressed: progress.skippedSuppressed,
    },
    'campaign fan-out finished',
  );
  return 'done';
}

/** The stored segment's condition (read at each run: an edit applies to the pages not yet read). */
async function segmentOf(campaign: Campaign, store: Store): Promise<SegmentCondition | undefined> {
  const { segmentId, conditions } = campaign.audience;
  if (conditions) return conditions;
  if (segmentId === undefined) return undefined;
  const segment = await store.segments.get(segmentId);
  // A segment deleted after the campaign was created selects no one.
  return (
    segment?.conditions ?? {
      and: [
        { field: 'status', op: 'eq', value: 'active' },
        { field: 'status', op: 'ne', value: 'active' },
      ],
    }
  );
}

function inPass(campaign: Campaign, progress: FanOutProgress, contact: Contact): boolean {
  if (progress.phase === 'test') return inTestGroup(campaign, contact.id);
  if (progress.phase === 'rest') return !inTestGroup(campaign, contact.id);
  return true;
}

function buildMessages(
  campaign: Campaign,
  recipients: readonly Contact[],
  progress: FanOutProgress,
  winner: number | undefined,
  config: SluiceConfig,
  now: number,
): NewMessage[] {
  const nextId = orderedIds('message', now);
  const n = variantCount(campaign);
  return recipients.map((contact, i): NewMessage => {
    const variant = progress.phase === 'rest' ? (winner ?? 0) : (progress.assigned + i) % n;
    const from = campaign.variants[variant]?.from ?? campaign.from;
    const content = variantContent(campaign, variant);
    const id = nextId();
    return {
      id,
      stream: 'bulk',
      from,
      to: { email: contact.email },
      ...(campaign.replyTo ? { replyTo: campaign.replyTo } : {}),
      ...(content.templateId !== undefined ? { templateId: content.templateId } : {}),
      variables: {},
      headers: { [CAMPAIGN_HEADER]: campaign.id },
      messageId: newMessageId(id, config.delivery.messageIdDomain ?? domainOf(from.email)),
      createdAt: now,
      expiresAt: now + config.delivery.retry.maxAgeMs,
      campaignId: campaign.id,
      variant,
    };
  });
}
