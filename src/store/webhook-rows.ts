/** Rows ↔ webhook endpoints and deliveries, shared by both dialects (bigints arrive as numbers). */
import type {
  ClaimedWebhookDelivery,
  WebhookDelivery,
  WebhookDeliveryStatus,
  WebhookEndpoint,
  WebhookSecrets,
} from '../core/ports/webhook-store.js';
import type { WebhookEvent, WebhookEventType } from '../core/webhook-events.js';
import type { JsonDecoder } from './rows.js';

export interface WebhookEndpointRow {
  id: string;
  url: string;
  events: unknown;
  description: string;
  enabled: number | boolean;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: number | string | null;
  secret_rotated_at: number | string | null;
  created_at: number | string;
  updated_at: number | string;
}

export interface WebhookDeliveryRow {
  endpoint_id: string;
  event_id: string;
  type: string;
  data: unknown;
  created_at: number | string;
  status: string;
  attempts: number;
  next_attempt_at: number | string | null;
  lease_owner: string | null;
  last_status: number | null;
  last_error: string | null;
  last_attempt_at: number | string | null;
  finished_at: number | string | null;
}

export type ClaimedWebhookRow = WebhookDeliveryRow & {
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: number | string | null;
};

const num = (value: number | string | null): number | undefined =>
  value === null ? undefined : Number(value);

export function endpointFromRow(row: WebhookEndpointRow, decode: JsonDecoder): WebhookEndpoint {
  const rotated = num(row.secret_rotated_at);
  return {
    id: row.id,
    url: row.url,
    events: decode(row.events) as WebhookEventType[],
    description: row.description,
    enabled: row.enabled === true || row.enabled === 1,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    ...(rotated !== undefined ? { secretRotatedAt: rotated } : {}),
  };
}

export function deliveryFromRow(row: WebhookDeliveryRow, decode: JsonDecoder): WebhookDelivery {
  const status = row.status as WebhookDeliveryStatus;
  const optional = {
    nextAttemptAt:
      status === 'pending' || status === 'sending' ? num(row.next_attempt_at) : undefined,
    lastStatus: row.last_status ?? undefined,
    lastError: row.last_error ?? undefined,
    lastAttemptAt: num(row.last_attempt_at),
    finishedAt: num(row.finished_at),
  };
  return {
    endpointId: row.endpoint_id,
    eventId: row.event_id,
    type: row.type as WebhookEvent['type'],
    data: decode(row.data) as Record<string, unknown>,
    createdAt: Number(row.created_at),
    status,
    attempts: Number(row.attempts),
    ...(Object.fromEntries(
      Object.entries(optional).filter(([, v]) => v !== undefined),
    ) as Partial<WebhookDelivery>),
  };
}

export function claimedFromRow(
  row: ClaimedWebhookRow,
  decode: JsonDecoder,
): ClaimedWebhookDelivery {
  const previousExpiresAt = num(row.previous_secret_expires_at);
  const secrets: WebhookSecrets = {
    current: row.secret,
    ...(row.previous_secret !== null && previousExpiresAt !== undefined
      ? { previous: row.previous_secret, previousExpiresAt }
      : {}),
  };
  return { ...deliveryFromRow(row, decode), url: row.url, secrets };
}

/** The delivery log pages newest first; the cursor is the last event id ('~' sorts after any id). */
export function deliveriesBefore(after: string | undefined): string {
  return after ?? '~';
}
