/**
 * Campaigns: one piece of bulk mail sent to an audience (lists and/or a
 * segment), optionally as an A/B test (docs/campaigns.md). Pure: the state
 * machine, the A/B decisions and the audience condition; the fan-out that
 * turns a campaign into messages lives in src/campaigns/.
 *
 * State machine of a campaign:
 *
 *   draft ──schedule(sendAt)──► scheduled ──sendAt reached──► sending ──fan-out done──► sent
 *     │  └──send now (sendAt = now)──┘ ▲                        │  ▲                    │
 *     │                               │                        ▼  │ resume             │
 *     │                               └──────resume────────── paused ◄──pause (user)───┘
 *     │                                                         ▲  (or the guard rails: bounce or
 *     │                                                         │   complaint rate past the threshold)
 *     └────────────────► cancelled ◄── cancel (from any state but sent-and-complete)
 *
 * - `draft` and `scheduled` may be edited; only a `draft` may be deleted.
 * - `paused` remembers why (`pause.by`: user | guard, `pause.reason`).
 *   Resume goes back to where the campaign was: `scheduled` when its fan-out
 *   has not started, `sent` when it has finished, else `sending`.
 * - While paused, the campaign's queued and deferred messages are held (the
 *   worker does not claim them); resume lets them go. Cancel settles them
 *   `failed` with lastError "campaign cancelled" (an existing final state,
 *   so every consumer of message states keeps working).
 * - `sent` means every recipient has a message; delivery goes on, and the
 *   campaign may still be paused or cancelled until its last message is
 *   final (`completedAt`).
 *
 * Fan-out phases (progress.phase), within `sending`:
 *
 *   pending ─► all ──────────────────────────────────► done     (no test share: plain split)
 *   pending ─► test ─► waiting (testEndsAt) ─► rest ─► done     (A/B test with a test share)
 *
 * In `test`, only contacts whose test bucket falls in the share get a
 * message, round-robin over the variants; after the window the variant with
 * the higher unique open (or click) rate wins (ties: the first) and `rest`
 * sends it to everyone else.
 */
import type { Address } from './message.js';
import type { SegmentCondition } from './segment.js';

export const CAMPAIGN_STATUSES = [
  'draft',
  'scheduled',
  'sending',
  'sent',
  'paused',
  'cancelled',
] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

export const FAN_OUT_PHASES = ['pending', 'all', 'test', 'waiting', 'rest', 'done'] as const;
export type FanOutPhase = (typeof FAN_OUT_PHASES)[number];

export const WINNER_METRICS = ['opens', 'clicks'] as const;
export type WinnerMetric = (typeof WINNER_METRICS)[number];

/** Most variants of one campaign: more splits a test share too thin to tell them apart. */
export const MAX_VARIANTS = 10;

/** Subject and body as inline Liquid, or a stored template. */
export interface CampaignContent {
  subject?: string;
  html?: string;
  text?: string;
  templateId?: string;
}

/** A variant overrides the campaign's content (all of it, when it gives any) and/or its sender. */
export interface CampaignVariant extends CampaignContent {
  name: string;
  from?: Address;
}

export interface AbTest {
  /** Part of the audience that gets the test, 0 < share < 1. */
  share: number;
  metric: WinnerMetric;
  windowMs: number;
}

export interface CampaignAudience {
  listIds: string[];
  segmentId?: string;
  /** An inline segment condition. */
  conditions?: SegmentCondition;
}

/** What a campaign is (editable while draft or scheduled). */
export interface CampaignDefinition {
  from: Address;
  replyTo?: Address;
  content: CampaignContent;
  /** Seen by the templates at the top level, like a message's variables. */
  variables: Record<string, unknown>;
  audience: CampaignAudience;
  /** A configured pool; the bulk stream's pool (or a routing rule) when absent. */
  pool?: string;
  /** Empty: one content for everyone. Two or more: an A/B test or a plain split. */
  variants: CampaignVariant[];
  /** With variants: the test share and winner rule; absent, a plain split of the whole audience. */
  test?: AbTest;
}

export interface CampaignPause {
  by: 'user' | 'guard';
  reason: string;
  at: number;
  /**
   * Set when a user resumed a campaign the guard rails paused: the pause is
   * kept as a record, and the guard rails leave the campaign alone from then
   * on (the user looked at the numbers and chose to go on).
   */
  resumedAt?: number;
}

/** The fan-out's durable cursor, saved on the campaign row after each batch. */
export interface FanOutProgress {
  phase: FanOutPhase;
  /** The last contact id handled in the current pass. */
  after?: string;
  /** Messages assigned a variant so far in the current pass (round-robin counter). */
  assigned: number;
  /** Messages written (created; duplicates after a restart not counted twice). */
  created: number;
  /** Active contacts left out because their address is on the suppression list. */
  skippedSuppressed: number;
  /** The instant segment conditions are evaluated at (fixed for the whole fan-out). */
  audienceAt?: number;
}

export interface Campaign extends CampaignDefinition {
  id: string;
  name: string;
  status: CampaignStatus;
  sendAt?: number;
  progress: FanOutProgress;
  /** The winning variant's index, once the test is decided. */
  winner?: number;
  pause?: CampaignPause;
  startedAt?: number;
  testEndsAt?: number;
  /** When the fan-out finished (status became `sent`). */
  fannedOutAt?: number;
  /** When every message of the campaign was final. */
  completedAt?: number;
  createdAt: number;
  updatedAt: number;
}

export function initialProgress(): FanOutProgress {
  return { phase: 'pending', assigned: 0, created: 0, skippedSuppressed: 0 };
}

// ── state machine ──────────────────────────────────────────────────────

export const CAMPAIGN_ACTIONS = ['schedule', 'send', 'pause', 'resume', 'cancel'] as const;
export type CampaignAction = (typeof CAMPAIGN_ACTIONS)[number];

/** The states an action may start from. */
export const ACTION_FROM: Record<CampaignAction, readonly CampaignStatus[]> = {
  schedule: ['draft', 'scheduled'],
  send: ['draft', 'scheduled'],
  pause: ['scheduled', 'sending', 'sent'],
  resume: ['paused'],
  cancel: ['draft', 'scheduled', 'sending', 'sent', 'paused'],
};

export const EDITABLE_STATUSES: readonly CampaignStatus[] = ['draft', 'scheduled'];

export function canDo(action: CampaignAction, campaign: Campaign): boolean {
  if (!ACTION_FROM[action].includes(campaign.status)) return false;
  // A campaign whose every message is final has nothing left to pause or cancel.
  if ((action === 'pause' || action === 'cancel') && campaign.status === 'sent') {
    return campaign.completedAt === undefined;
  }
  return true;
}

/** A campaign the guard rails may pause: not one a user resumed after a guard pause. */
export function guarded(campaign: Campaign): boolean {
  return campaign.pause?.by !== 'guard';
}

/** Where resume goes: back to the state the campaign was paused in. */
export function resumeTarget(campaign: Campaign): CampaignStatus {
  if (campaign.progress.phase === 'done') return 'sent';
  if (campaign.startedAt === undefined) return 'scheduled';
  return 'sending';
}

// ── A/B ────────────────────────────────────────────────────────────────

/**
 * The content a variant sends: its template when it names one; else the
 * campaign's content with the variant's subject, html and text in place of
 * the campaign's (a variant that changes only the subject keeps the body).
 */
export function variantContent(
  campaign: Pick<Campaign, 'variants' | 'content'>,
  variant: number,
): CampaignContent {
  const own = campaign.variants[variant];
  if (!own) return campaign.content;
  if (own.templateId !== undefined) return { templateId: own.templateId };
  const { subject, html, text } = own;
  if (subject === undefined && html === undefined && text === undefined) return campaign.content;
  const base = campaign.content.templateId === undefined ? campaign.content : {};
  const merged: CampaignContent = {};
  const s = subject ?? base.subject;
  const h = html ?? base.html;
  const t = text ?? base.text;
  if (s !== undefined) merged.subject = s;
  if (h !== undefined) merged.html = h;
  if (t !== undefined) merged.text = t;
  return merged;
}

/** How many variants a message may be assigned: at least one (the campaign's own content). */
export function variantCount(campaign: Pick<Campaign, 'variants'>): number {
  return Math.max(1, campaign.variants.length);
}

/** The pass the fan-out starts with. */
export function firstPhase(campaign: Pick<Campaign, 'variants' | 'test'>): FanOutPhase {
  return campaign.variants.length >= 2 && campaign.test ? 'test' : 'all';
}

/**
 * Test buckets: a stable hash of (campaign, contact) in [0, 1). Stable, so
 * a fan-out resumed after a crash puts every contact in the same group, and
 * independent of the contact ids' order (ids made by an import are ordered
 * by time: a "first 20 %" would test only the oldest contacts).
 */
export function testBucket(campaignId: string, contactId: string): number {
  // FNV-1a, 32 bits (fast, no dependency), then MurmurHash3's finalizer:
  // ids of one time share their first digits and differ in the last ones,
  // which FNV-1a alone leaves in its low bits (a test share of 40 % once
  // took 85 % of such contacts).
  let hash = 0x811c9dc5;
  const key = `${campaignId}\u0000${contactId}`;
  for (let i = 0; i < key.length; i += 1) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) / 0x1_0000_0000;
}

export function inTestGroup(campaign: Pick<Campaign, 'id' | 'test'>, contactId: string): boolean {
  return campaign.test !== undefined && testBucket(campaign.id, contactId) < campaign.test.share;
}

export interface VariantResult {
  /** Messages of the variant that reached a final state or are in flight (the denominator). */
  sent: number;
  uniqueOpens: number;
  uniqueClicks: number;
}

/**
 * The winner of a test: the highest unique open (or click) rate among
 * variants that sent anything; ties go to the earlier variant, and when
 * nothing was sent at all, the first variant wins.
 */
export function chooseWinner(results: readonly VariantResult[], metric: WinnerMetric): number {
  let best = 0;
  let bestRate = -1;
  results.forEach((result, index) => {
    if (result.sent === 0) return;
    const hits = metric === 'opens' ? result.uniqueOpens : result.uniqueClicks;
    const rate = hits / result.sent;
    if (rate > bestRate) {
      best = index;
      bestRate = rate;
    }
  });
  return best;
}

// ── audience ───────────────────────────────────────────────────────────

/**
 * The audience as one segment condition: active contacts in any of the
 * lists or matching the segment. One condition, so the store streams the
 * union in contact-id order and a contact in several lists comes once.
 */
export function audienceCondition(
  audience: CampaignAudience,
  segment: SegmentCondition | undefined,
): SegmentCondition {
  const sources: SegmentCondition[] = audience.listIds.map((inList) => ({ inList }));
  if (segment) sources.push(segment);
  const anyOf: SegmentCondition = sources.length === 1 && sources[0] ? sources[0] : { or: sources };
  return { and: [{ field: 'status', op: 'eq', value: 'active' }, anyOf] };
}
