/**
 * Outgoing webhook events (docs/webhooks.md): what Sluice tells a
 * subscribed endpoint, and how a source row (a settlement, an engagement
 * event, a complaint) becomes one.
 *
 * An event is made by the store in the SAME transaction as its source (the
 * webhook outbox, see src/store/sqlite/webhook-outbox.ts), one delivery row
 * per subscribed endpoint; the dispatcher (src/webhooks/dispatcher.ts) sends
 * them. So an event exists exactly when its source was committed, and is
 * sent at least once.
 *
 * Body of each request:
 *
 *   {"id": "whe_…", "type": "delivered", "createdAt": "2026-…Z", "data": {…}}
 *
 * `id` is the same on every retry and for every endpoint (receivers dedupe
 * on it); `createdAt` is when the source happened.
 */
import { randomBytes } from 'node:crypto';
import type { Settlement } from './outcome.js';
import type { EngagementEvent, EngagementKind } from './ports/store.js';
import type { Complaint } from './ports/webhook-store.js';

export const WEBHOOK_EVENT_TYPES = [
  'delivered',
  'deferred',
  'bounced',
  'expired',
  'failed',
  'suppressed',
  'opened',
  'clicked',
  'unsubscribed',
  'complained',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export function isWebhookEventType(value: string): value is WebhookEventType {
  return (WEBHOOK_EVENT_TYPES as readonly string[]).includes(value);
}

/** The type a test send carries; no endpoint subscribes to it, it goes to one endpoint on request. */
export const WEBHOOK_TEST_TYPE = 'test';

export interface WebhookEvent {
  /** `whe_…`, ordered by time. */
  id: string;
  type: WebhookEventType | typeof WEBHOOK_TEST_TYPE;
  /** When the source happened, epoch ms. */
  createdAt: number;
  data: Record<string, unknown>;
}

/**
 * `whe_` + the time in 12 hex digits + 64 random bits: unique, and sorted
 * by time, so the delivery log pages by id newest first.
 */
export function newWebhookEventId(at: number): string {
  const time = Math.max(0, Math.floor(at)).toString(16).padStart(12, '0');
  return `whe_${time}${randomBytes(8).toString('hex')}`;
}

/**
 * The event a settlement produces, if any. Every final state is one; a
 * deferral is one only when an SMTP attempt was made (a throttle or a
 * store hiccup that puts a message back without trying is not news).
 */
export function settlementEventType(s: Settlement): WebhookEventType | undefined {
  if (s.status === 'deferred') return s.attempt ? 'deferred' : undefined;
  return s.status;
}

/** What only the store knows of the message once the settlement applied. */
export interface SettledRow {
  /** The row's attempt count after the settlement. */
  attempts: number;
  toEmail: string;
  stream: string;
}

/**
 * `data` of a message event, from the settlement alone. The store adds
 * what the row knows (`messageEventData`); on PostgreSQL the settle
 * statement adds those keys in SQL (src/store/postgres/messages.ts), and
 * the contract suite checks that both dialects send the same object.
 */
export function settlementEventData(s: Settlement): Record<string, unknown> {
  const a = s.attempt;
  return compact({
    messageId: s.id,
    relay: a?.relay,
    code: a?.code,
    enhancedCode: a?.enhancedCode,
    reply: a?.response,
    category: s.bounceCategory,
    retryAt: s.status === 'deferred' ? new Date(s.dueAt).toISOString() : undefined,
    reason: a ? undefined : s.lastError,
  });
}

/** The whole `data` of a message event: recipient, stream and attempt number from the row. */
export function messageEventData(s: Settlement, row: SettledRow): Record<string, unknown> {
  return {
    ...settlementEventData(s),
    recipient: row.toEmail,
    stream: row.stream,
    ...(s.attempt ? { attempt: row.attempts } : {}),
  };
}

const ENGAGEMENT_TYPES = {
  open: 'opened',
  click: 'clicked',
  unsubscribe: 'unsubscribed',
} as const satisfies Record<EngagementKind, WebhookEventType>;

/** The event of an open, click or unsubscribe. */
export function engagementEvent(e: EngagementEvent): WebhookEvent {
  return {
    id: newWebhookEventId(e.at),
    type: ENGAGEMENT_TYPES[e.kind],
    createdAt: e.at,
    data: compact({
      messageId: e.messageId,
      recipient: e.email.toLowerCase(),
      contactId: e.contactId,
      url: e.url,
    }),
  };
}

/** `data` of a `complained` event (the store adds `contactId` when a contact has the address). */
export function complaintEventData(
  complaint: Complaint,
  contactId: string | undefined,
): Record<string, unknown> {
  return compact({
    recipient: complaint.email,
    messageId: complaint.messageId,
    contactId,
    source: complaint.source,
    feedbackType: complaint.feedbackType,
  });
}

/** Drops undefined values (JSON has no undefined; both dialects omit absent keys). */
export function compact(data: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(data).filter(([, value]) => value !== undefined));
}

/** The JSON body of a request, byte for byte what is signed. */
export function webhookBody(event: WebhookEvent): string {
  return JSON.stringify({
    id: event.id,
    type: event.type,
    createdAt: new Date(event.createdAt).toISOString(),
    data: event.data,
  });
}
