/**
 * Campaign rows as both dialects return them, and their mapping to the
 * domain type. The definition, the cursor and the pause are JSON (text on
 * SQLite, jsonb on PostgreSQL), so the caller passes a decoder.
 */
import type {
  Campaign,
  CampaignDefinition,
  CampaignPause,
  CampaignStatus,
  FanOutProgress,
} from '../core/campaign.js';
import type { FanOutSave } from '../core/ports/store.js';
import type { JsonDecoder } from './rows.js';

export interface CampaignRow {
  id: string;
  name: string;
  status: string;
  definition: unknown;
  send_at: number | null;
  phase: string;
  progress: unknown;
  winner: number | null;
  pause: unknown;
  lease_owner: string | null;
  lease_until: number | null;
  started_at: number | null;
  test_ends_at: number | null;
  fanned_out_at: number | null;
  completed_at: number | null;
  created_at: number;
  updated_at: number;
}

/** The definition's fields, in the order they are stored. */
export function definitionOf(campaign: CampaignDefinition): CampaignDefinition {
  const definition: CampaignDefinition = {
    from: campaign.from,
    content: campaign.content,
    variables: campaign.variables,
    audience: campaign.audience,
    variants: campaign.variants,
  };
  if (campaign.replyTo) definition.replyTo = campaign.replyTo;
  if (campaign.pool !== undefined) definition.pool = campaign.pool;
  if (campaign.test) definition.test = campaign.test;
  return definition;
}

export function campaignFromRow(row: CampaignRow, decode: JsonDecoder): Campaign {
  const definition = decode(row.definition) as CampaignDefinition;
  const progress = decode(row.progress) as FanOutProgress;
  const campaign: Campaign = {
    id: row.id,
    name: row.name,
    status: row.status as CampaignStatus,
    ...definitionOf(definition),
    progress: { ...progress, phase: progress.phase },
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
  if (row.send_at !== null) campaign.sendAt = Number(row.send_at);
  if (row.winner !== null) campaign.winner = Number(row.winner);
  if (row.pause !== null && row.pause !== undefined) {
    campaign.pause = decode(row.pause) as CampaignPause;
  }
  if (row.started_at !== null) campaign.startedAt = Number(row.started_at);
  if (row.test_ends_at !== null) campaign.testEndsAt = Number(row.test_ends_at);
  if (row.fanned_out_at !== null) campaign.fannedOutAt = Number(row.fanned_out_at);
  if (row.completed_at !== null) campaign.completedAt = Number(row.completed_at);
  return campaign;
}

/** What a cancel writes on a message. */
export const CANCELLED_ERROR = 'campaign cancelled';

/** The values of both dialects' `saveFanOut` UPDATE, in its placeholders' order. */
export function fanOutSaveValues(id: string, save: FanOutSave): unknown[] {
  return [
    JSON.stringify(save.progress),
    save.progress.phase,
    save.winner ?? null,
    save.testEndsAt ?? null,
    save.leaseUntil,
    save.at,
    id,
    save.owner,
  ];
}
