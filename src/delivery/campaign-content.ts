/**
 * What a campaign's message is made of. Fan-out writes a campaign's
 * messages without their content (a million copies of the same 2 KB would
 * be most of the database): each row names its campaign and variant, and
 * the worker loads the batch's campaigns in one query, as it loads
 * templates, and renders each message from its variant's content with the
 * campaign's variables.
 */
import { variantContent, type Campaign } from '../core/campaign.js';
import { SluiceError } from '../core/errors.js';
import type { ClaimedMessage } from '../core/message.js';
import type { Store, Template } from '../core/ports/store.js';
import type { DeliveryLogger } from './logger.js';

export interface CampaignParts {
  /**
   * The message's variables over the campaign's: what its templates see
   * (not a copy of the whole message: ~20 fields a recipient for the GC).
   */
  variables: Record<string, unknown>;
  /** The inline Liquid sources, when the variant's content is not a stored template. */
  source?: Template;
  pool?: string;
}

/** The batch's campaigns in one query: an empty map when none; undefined when the store failed. */
export async function loadCampaigns(
  store: Store,
  batch: readonly ClaimedMessage[],
  logger: DeliveryLogger,
): Promise<Map<string, Campaign> | undefined> {
  const ids = [...new Set(batch.flatMap((m) => (m.campaignId ? [m.campaignId] : [])))];
  if (ids.length === 0) return new Map();
  try {
    const campaigns = await store.campaigns.getMany(ids);
    return new Map(campaigns.map((c) => [c.id, c]));
  } catch (error) {
    logger.error({ err: error }, 'loading campaigns failed; postponing the batch');
    return undefined;
  }
}

/** The parts of a campaign message; undefined for other messages. Throws when its campaign is gone. */
export function campaignParts(
  campaigns: ReadonlyMap<string, Campaign>,
  message: ClaimedMessage,
): CampaignParts | undefined {
  if (message.campaignId === undefined) return undefined;
  const campaign = campaigns.get(message.campaignId);
  if (!campaign) {
    throw new SluiceError('ERR_NOT_FOUND', `campaign "${message.campaignId}" no longer exists`);
  }
  const parts: CampaignParts = { variables: { ...campaign.variables, ...message.variables } };
  if (campaign.pool !== undefined) parts.pool = campaign.pool;
  if (message.templateId !== undefined || message.subject !== undefined) return parts;
  const content = variantContent(campaign, message.variant ?? 0);
  parts.source = {
    id: campaign.id,
    name: campaign.name,
    subject: content.subject ?? '',
    ...(content.html !== undefined ? { html: content.html } : {}),
    ...(content.text !== undefined ? { text: content.text } : {}),
    createdAt: campaign.createdAt,
    updatedAt: campaign.updatedAt,
  };
  return parts;
}
