/**
 * Messages and their life cycle.
 *
 * State machine of one message (one row of the outbox):
 *
 *   queued ──claim──► sending ──250──────────► delivered
 *     ▲                 │ ├─5xx─────────────► bounced
 *     │                 │ ├─render error────► failed
 *     │                 │ ├─suppressed──────► suppressed
 *     │                 │ └─4xx / no conn───► deferred ──(retry due)──► sending …
 *     │                 │                        └─(older than maxAge)─► expired
 *     └──release────────┘  (graceful shutdown hands an unsent claim back)
 *
 * A `sending` row carries a lease (`dueAt` = lease expiry, `leaseOwner`);
 * when the lease runs out (the node died) the row is claimable again, so a
 * message is delivered at least once. Its `messageId` (the RFC 5322
 * Message-ID) is fixed at accept time, so duplicates after a crash are rare
 * and countable at the receiver.
 */

import type { BounceCategory } from './bounce.js';

export const MESSAGE_STATUSES = [
  'queued',
  'sending',
  'deferred',
  'delivered',
  'bounced',
  'expired',
  'failed',
  'suppressed',
] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/** States a message never leaves. */
export const FINAL_STATUSES = ['delivered', 'bounced', 'expired', 'failed', 'suppressed'] as const;
export type FinalStatus = (typeof FINAL_STATUSES)[number];

/** States the claimer picks up once `dueAt` has passed. */
export const CLAIMABLE_STATUSES = ['queued', 'deferred', 'sending'] as const;

export function isFinalStatus(status: MessageStatus): status is FinalStatus {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}

/** Transactional mail goes before bulk mail (its own lane). */
export const STREAMS = ['transactional', 'bulk'] as const;
export type Stream = (typeof STREAMS)[number];

export interface Address {
  /** The address, with the domain lower-cased. */
  email: string;
  name?: string;
}

/** A message as accepted, before its first delivery attempt. */
export interface NewMessage {
  id: string;
  stream: Stream;
  from: Address;
  to: Address;
  replyTo?: Address;
  /** Either a template … */
  templateId?: string;
  /** … or inline Liquid sources. */
  subject?: string;
  html?: string;
  text?: string;
  variables: Record<string, unknown>;
  /** Extra headers (already checked for CR/LF). */
  headers: Record<string, string>;
  /** RFC 5322 Message-ID without angle brackets; stable across retries. */
  messageId: string;
  /** Epoch milliseconds. */
  createdAt: number;
  /** After this instant a deferred message is `expired` instead of retried. */
  expiresAt: number;
  /**
   * A campaign's message (core/campaign.ts): its content, variables and pool
   * come from the campaign's `variant` (the index into its variants; 0 when
   * it has none), unless the row carries its own.
   */
  campaignId?: string;
  variant?: number;
}

export interface StoredMessage extends NewMessage {
  status: MessageStatus;
  /** Delivery attempts made so far. */
  attempts: number;
  /**
   * For queued/deferred: when the message may be tried (again).
   * For sending: when its lease runs out. Unused once final.
   */
  dueAt: number;
  leaseOwner?: string;
  lastError?: string;
  /** Bounce category of the latest failed attempt (bounced, deferred or expired after a reply). */
  bounceCategory?: BounceCategory;
  updatedAt: number;
}

export interface ContactSnapshot {
  id: string;
  attributes: Record<string, unknown>;
}

/** A message handed to a worker, with what rendering needs. */
export interface ClaimedMessage extends StoredMessage {
  /** The contact whose email equals `to.email`, when one exists. */
  contact?: ContactSnapshot;
}

export const ATTEMPT_OUTCOMES = ['delivered', 'deferred', 'bounced', 'failed'] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

/** One delivery attempt, as shown by `GET /v1/messages/:id`. */
export interface AttemptRecord {
  messageId: string;
  /** 1-based. */
  attempt: number;
  relay?: string;
  startedAt: number;
  finishedAt: number;
  outcome: AttemptOutcome;
  /** SMTP reply code, when a reply was received. */
  code?: number;
  /** Enhanced status code such as 5.1.1, when given. */
  enhancedCode?: string;
  /** The reply line or the local reason (connection refused, timeout …). */
  response: string;
  /** How the bounce rules classified a deferred or bounced attempt. */
  category?: BounceCategory;
}
