/**
 * A campaign's statistics, from two aggregate queries (messages grouped by
 * variant, status and bounce category; distinct messages with an open,
 * click or unsubscribe, grouped by variant), never from loading rows.
 *
 * Glossary:
 * - targeted: messages written by the fan-out (one per recipient);
 * - sent: messages a relay answered for good (delivered + bounced);
 * - opened / clicked / unsubscribed: messages with at least one such event
 *   (unique per message, repeats not counted);
 * - rates: bounce and delivery over sent; open, click and unsubscribe over
 *   delivered (0 when the denominator is 0).
 */
import type { BounceCategory } from '../core/bounce.js';
import { chooseWinner, variantCount, type Campaign, type VariantResult } from '../core/campaign.js';
import type { CampaignEngagementCount, CampaignMessageCount, Store } from '../core/ports/store.js';

export interface VariantStats {
  index: number;
  name: string;
  targeted: number;
  delivered: number;
  bounced: number;
  opened: number;
  clicked: number;
  openRate: number;
  clickRate: number;
}

export interface CampaignStats {
  targeted: number;
  queued: number;
  sending: number;
  sent: number;
  delivered: number;
  deferred: number;
  bounced: number;
  bouncedByCategory: Partial<Record<BounceCategory, number>>;
  /** Settled `suppressed` at send time, plus active contacts the fan-out left out. */
  suppressed: number;
  failed: number;
  expired: number;
  opened: number;
  clicked: number;
  unsubscribed: number;
  rates: { delivery: number; bounce: number; open: number; click: number; unsubscribe: number };
  variants: VariantStats[];
}

function ratio(part: number, whole: number): number {
  return whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 10_000;
}

export function computeStats(
  campaign: Campaign,
  counts: readonly CampaignMessageCount[],
  engagement: readonly CampaignEngagementCount[],
): CampaignStats {
  const stats: CampaignStats = {
    targeted: 0,
    queued: 0,
    sending: 0,
    sent: 0,
    delivered: 0,
    deferred: 0,
    bounced: 0,
    bouncedByCategory: {},
    suppressed: campaign.progress.skippedSuppressed,
    failed: 0,
    expired: 0,
    opened: 0,
    clicked: 0,
    unsubscribed: 0,
    rates: { delivery: 0, bounce: 0, open: 0, click: 0, unsubscribe: 0 },
    variants: [],
  };
  const n = variantCount(campaign);
  const variants: VariantStats[] = Array.from({ length: n }, (_, index) => ({
    index,
    name: campaign.variants[index]?.name ?? 'default',
    targeted: 0,
    delivered: 0,
    bounced: 0,
    opened: 0,
    clicked: 0,
    openRate: 0,
    clickRate: 0,
  }));
  for (const row of counts) {
    stats.targeted += row.count;
    const variant = variants[row.variant];
    if (variant) variant.targeted += row.count;
    switch (row.status) {
      case 'queued':
        stats.queued += row.count;
        break;
      case 'sending':
        stats.sending += row.count;
        break;
      case 'deferred':
        stats.deferred += row.count;
        break;
      case 'delivered':
        stats.delivered += row.count;
        if (variant) variant.delivered += row.count;
        break;
      case 'bounced': {
        stats.bounced += row.count;
        if (variant) variant.bounced += row.count;
        const category = row.bounceCategory ?? 'unknown';
        stats.bouncedByCategory[category] = (stats.bouncedByCategory[category] ?? 0) + row.count;
        break;
      }
      case 'suppressed':
        stats.suppressed += row.count;
        break;
      case 'failed':
        stats.failed += row.count;
        break;
      case 'expired':
        stats.expired += row.count;
        break;
    }
  }
  for (const row of engagement) {
    const variant = variants[row.variant];
    if (row.kind === 'open') {
      stats.opened += row.messages;
      if (variant) variant.opened += row.messages;
    } else if (row.kind === 'click') {
      stats.clicked += row.messages;
      if (variant) variant.clicked += row.messages;
    } else {
      stats.unsubscribed += row.messages;
    }
  }
  stats.sent = stats.delivered + stats.bounced;
  stats.rates = {
    delivery: ratio(stats.delivered, stats.sent),
    bounce: ratio(stats.bounced, stats.sent),
    open: ratio(stats.opened, stats.delivered),
    click: ratio(stats.clicked, stats.delivered),
    unsubscribe: ratio(stats.unsubscribed, stats.delivered),
  };
  for (const variant of variants) {
    variant.openRate = ratio(variant.opened, variant.delivered);
    variant.clickRate = ratio(variant.clicked, variant.delivered);
  }
  stats.variants = variants;
  return stats;
}

export async function loadStats(store: Store, campaign: Campaign): Promise<CampaignStats> {
  const [counts, engagement] = await Promise.all([
    store.campaigns.messageCounts(campaign.id),
    store.campaigns.engagementCounts(campaign.id),
  ]);
  return computeStats(campaign, counts, engagement);
}

/** The winner of the campaign's test, from its statistics (see chooseWinner). */
export function winnerOf(campaign: Campaign, stats: CampaignStats): number {
  const results: VariantResult[] = stats.variants.map((v) => ({
    sent: v.delivered,
    uniqueOpens: v.opened,
    uniqueClicks: v.clicked,
  }));
  return chooseWinner(results, campaign.test?.metric ?? 'opens');
}
