/**
 * The webhook part of the Store port (docs/webhooks.md): subscribed
 * endpoints, and the delivery rows the dispatcher claims, sends and
 * completes. Delivery rows are written by the store itself, in the same
 * transaction as their source (settle, engagement.record,
 * complaints.record): one row per (event, subscribed endpoint).
 *
 * Delivery row states:
 *
 *   pending ──claim──► sending ──2xx──────────────────────► delivered
 *     ▲                   ├──failure, window left──► pending (nextAttemptAt = backoff)
 *     │                   └──failure, window spent─► failed  (given up)
 *     └── a lease that runs out (the node died) makes `sending` claimable again
 */
import type { WebhookEvent, WebhookEventType } from '../webhook-events.js';
import type { Page, PageQuery } from './store.js';

export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'sending', 'delivered', 'failed'] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];

export interface WebhookEndpoint {
  /** `wh_…`. */
  id: string;
  url: string;
  events: WebhookEventType[];
  description: string;
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
  /** When the secret was last rotated. */
  secretRotatedAt?: number;
}

/** The keys requests are signed with: the current one, and the one before it during a rotation. */
export interface WebhookSecrets {
  current: string;
  previous?: string;
  /** Until when `previous` still signs (epoch ms). */
  previousExpiresAt?: number;
}

export interface NewWebhookEndpoint {
  id: string;
  url: string;
  events: WebhookEventType[];
  description: string;
  enabled: boolean;
  secret: string;
  at: number;
}

export interface WebhookEndpointPatch {
  url?: string;
  events?: WebhookEventType[];
  description?: string;
  enabled?: boolean;
  at: number;
}

export interface WebhookDelivery {
  endpointId: string;
  eventId: string;
  type: WebhookEvent['type'];
  data: Record<string, unknown>;
  /** When the event happened. */
  createdAt: number;
  status: WebhookDeliveryStatus;
  /** Requests made so far. */
  attempts: number;
  /** pending: when it is due; sending: when its lease runs out. Absent once final. */
  nextAttemptAt?: number;
  /** HTTP status of the last response, when one came. */
  lastStatus?: number;
  /** Why the last attempt failed (timeout, connection refused, a 3xx …). */
  lastError?: string;
  lastAttemptAt?: number;
  /** When it was delivered or given up. */
  finishedAt?: number;
}

export interface ClaimedWebhookDelivery extends WebhookDelivery {
  url: string;
  secrets: WebhookSecrets;
}

export interface WebhookClaimRequest {
  endpointId: string;
  limit: number;
  leaseMs: number;
  owner: string;
  now: number;
}

/** How one attempt ended; applied only while the row is still leased by `owner`. */
export interface WebhookAttemptResult {
  endpointId: string;
  eventId: string;
  owner: string;
  at: number;
  outcome: 'delivered' | 'retry' | 'failed';
  /** For `retry`. */
  nextAttemptAt?: number;
  status?: number;
  error?: string;
}

export type WebhookDeliveryCounts = Record<WebhookDeliveryStatus, number>;

export interface WebhookStore {
  createEndpoint(input: NewWebhookEndpoint): Promise<WebhookEndpoint>;
  getEndpoint(id: string): Promise<WebhookEndpoint | undefined>;
  /** Ordered by id. */
  listEndpoints(query: PageQuery): Promise<Page<WebhookEndpoint>>;
  updateEndpoint(id: string, patch: WebhookEndpointPatch): Promise<WebhookEndpoint | undefined>;
  /** Also removes its delivery rows. Returns false when there was none. */
  deleteEndpoint(id: string): Promise<boolean>;
  /** The new secret signs from now; the old one too until `previousExpiresAt`. */
  rotateSecret(
    id: string,
    input: { secret: string; previousExpiresAt: number; at: number },
  ): Promise<WebhookEndpoint | undefined>;
  /** One delivery of `event` to one endpoint, whatever it subscribes to (test sends). */
  enqueue(endpointId: string, event: WebhookEvent): Promise<void>;
  /** Newest first (by event id); the cursor is the last event id. */
  listDeliveries(endpointId: string, query: PageQuery): Promise<Page<WebhookDelivery>>;
  /** Enabled endpoints with a due delivery (pending and due, or an expired lease). */
  dueEndpoints(now: number, limit: number): Promise<string[]>;
  /** Leases up to `limit` due deliveries of one enabled endpoint, oldest event first. */
  claim(request: WebhookClaimRequest): Promise<ClaimedWebhookDelivery[]>;
  /** Applies results guarded by the lease owner; returns how many applied. */
  complete(results: WebhookAttemptResult[]): Promise<number>;
  /** The earliest nextAttemptAt of a pending or sending row of an enabled endpoint. */
  nextDueAt(): Promise<number | undefined>;
  countByStatus(): Promise<WebhookDeliveryCounts>;
  /** Deletes delivered and failed rows finished before `before`, and rows of deleted endpoints. */
  purge(before: number): Promise<number>;
}

// ── Complaints ─────────────────────────────────────────────────────────

/** A recipient reported a message as spam (a feedback loop report, or the API). */
export interface Complaint {
  email: string;
  /** The message complained about, when known. */
  messageId?: string;
  /** Where the report came from (`arf`, `api`, a provider's name). */
  source: string;
  /** RFC 5965 Feedback-Type (abuse, fraud …), when given. */
  feedbackType?: string;
  at: number;
}

export interface ComplaintStore {
  /**
   * In one transaction: suppresses the address (reason `complaint`), sets
   * the contact with that address to `complained`, and emits the
   * `complained` webhook event. Repeating it renews the suppression.
   */
  record(complaint: Complaint): Promise<{ contactId?: string; eventId: string }>;
}
