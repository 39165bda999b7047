/**
 * Guard rails: a campaign whose bounce rate (bounced over sent) or
 * complaint rate (recipients whose contact status is `complained`, over
 * sent) passes its threshold pauses itself, once at least `minSample` of
 * its messages are sent, so that a bad list does not burn the sender's
 * reputation. Pure: the scheduler feeds it the campaign's statistics.
 */
import type { CampaignsConfig } from '../config/config.js';
import type { CampaignStats } from './campaign-stats.js';

function percent(rate: number): string {
  return `${(rate * 100).toFixed(1)}%`;
}

/** The reason to pause, or undefined when the campaign is within its limits. */
export function guardVerdict(
  stats: Pick<CampaignStats, 'sent' | 'bounced'>,
  complaints: number,
  guard: CampaignsConfig['guard'],
): string | undefined {
  if (stats.sent < guard.minSample) return undefined;
  const bounceRate = stats.bounced / stats.sent;
  if (bounceRate > guard.maxBounceRate) {
    return `bounce rate ${percent(bounceRate)} (${stats.bounced} of ${stats.sent} sent) is above campaigns.guard.maxBounceRate ${percent(guard.maxBounceRate)}`;
  }
  const complaintRate = complaints / stats.sent;
  if (complaintRate > guard.maxComplaintRate) {
    return `complaint rate ${percent(complaintRate)} (${complaints} of ${stats.sent} sent) is above campaigns.guard.maxComplaintRate ${percent(guard.maxComplaintRate)}`;
  }
  return undefined;
}
