/**
 * Rows as both dialects return them (snake_case columns, epoch-ms numbers)
 * and their mapping to the domain types. JSON columns arrive as text from
 * SQLite and parsed from PostgreSQL (JSONB), so the caller passes a decoder.
 *
 * Optional domain fields are left out (not set to undefined) when the column
 * is NULL, so that stored objects compare equal to what was written.
 */
import type { BounceCategory } from '../core/bounce.js';
import type {
  AttemptOutcome,
  AttemptRecord,
  ClaimedMessage,
  ContactSnapshot,
  MessageStatus,
  NewMessage,
  StoredMessage,
  Stream,
} from '../core/message.js';
import type {
  ApiKeyRecord,
  Contact,
  ContactStatus,
  MailingList,
  Template,
} from '../core/ports/store.js';
import type { Suppression } from '../core/suppression.js';

export type JsonDecoder = (value: unknown) => unknown;

export const decodeJsonText: JsonDecoder = (value) => JSON.parse(String(value)) as unknown;
export const decodeJsonb: JsonDecoder = (value) => value;

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}

export interface MessageRow {
  id: string;
  stream: string;
  from_email: string;
  from_name: string | null;
  to_email: string;
  to_name: string | null;
  reply_to_email: string | null;
  reply_to_name: string | null;
  template_id: string | null;
  subject: string | null;
  html: string | null;
  text: string | null;
  variables: unknown;
  headers: unknown;
  message_id: string;
  status: string;
  attempts: number;
  due_at: number;
  lease_owner: string | null;
  last_error: string | null;
  bounce_category?: string | null;
  event_received_at?: number | null;
  created_at: number;
  updated_at: number;
  expires_at: number;
  campaign_id?: string | null;
  variant?: number | null;
}

export interface ClaimedMessageRow extends MessageRow {
  contact_id: string | null;
  contact_attributes: unknown;
}

/** The message columns in insert order, shared by both dialects' INSERT statements. */
export const MESSAGE_INSERT_COLUMNS = [
  'id',
  'stream',
  'from_email',
  'from_name',
  'to_email',
  'to_name',
  'reply_to_email',
  'reply_to_name',
  'template_id',
  'subject',
  'html',
  'text',
  'variables',
  'headers',
  'message_id',
  'status',
  'attempts',
  'due_at',
  'created_at',
  'updated_at',
  'expires_at',
  'campaign_id',
  'variant',
  'event_received_at',
] as const;

/** The values for MESSAGE_INSERT_COLUMNS; a new message is queued and due at once. */
export function messageInsertValues(
  message: NewMessage,
  encodeJson: (value: unknown) => unknown,
): unknown[] {
  return [
    message.id,
    message.stream,
    message.from.email,
    message.from.name ?? null,
    message.to.email,
    message.to.name ?? null,
    message.replyTo?.email ?? null,
    message.replyTo?.name ?? null,
    message.templateId ?? null,
    message.subject ?? null,
    message.html ?? null,
    message.text ?? null,
    encodeJson(message.variables),
    encodeJson(message.headers),
    message.messageId,
    'queued',
    0,
    message.createdAt,
    message.createdAt,
    message.createdAt,
    message.expiresAt,
    message.campaignId ?? null,
    message.variant ?? null,
    message.eventReceivedAt ?? null,
  ];
}

function address(email: string, name: string | null): { email: string; name?: string } {
  return name === null ? { email } : { email, name };
}

export function messageFromRow(row: MessageRow, decode: JsonDecoder): StoredMessage {
  const message: StoredMessage = {
    id: row.id,
    stream: row.stream as Stream,
    from: address(row.from_email, row.from_name),
    to: address(row.to_email, row.to_name),
    variables: asRecord(decode(row.variables)),
    headers: asRecord(decode(row.headers)) as Record<string, string>,
    messageId: row.message_id,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    status: row.status as MessageStatus,
    attempts: Number(row.attempts),
    dueAt: Number(row.due_at),
    updatedAt: Number(row.updated_at),
  };
  if (row.reply_to_email !== null) {
    message.replyTo = address(row.reply_to_email, row.reply_to_name);
  }
  if (row.template_id !== null) message.templateId = row.template_id;
  if (row.subject !== null) message.subject = row.subject;
  if (row.html !== null) message.html = row.html;
  if (row.text !== null) message.text = row.text;
  if (row.lease_owner !== null) message.leaseOwner = row.lease_owner;
  if (row.last_error !== null) message.lastError = row.last_error;
  if (row.bounce_category !== undefined && row.bounce_category !== null) {
    message.bounceCategory = row.bounce_category as BounceCategory;
  }
  if (row.campaign_id !== undefined && row.campaign_id !== null) {
    message.campaignId = row.campaign_id;
  }
  if (row.variant !== undefined && row.variant !== null) message.variant = Number(row.variant);
  if (row.event_received_at !== undefined && row.event_received_at !== null) {
    message.eventReceivedAt = Number(row.event_received_at);
  }
  return message;
}

/**
 * What messageFromRow returns for `message` once inserted already leased to
 * `lease.owner` (status `sending`, due when the lease runs out), built
 * without reading the row back: its variables and headers are the given
 * objects, not parsed copies.
 */
export function leasedFromNew(
  message: NewMessage,
  lease: { owner: string; until: number },
): StoredMessage {
  const leased: StoredMessage = {
    id: message.id,
    stream: message.stream,
    from: address(message.from.email, message.from.name ?? null),
    to: address(message.to.email, message.to.name ?? null),
    variables: message.variables,
    headers: message.headers,
    messageId: message.messageId,
    createdAt: message.createdAt,
    expiresAt: message.expiresAt,
    status: 'sending',
    attempts: 0,
    dueAt: lease.until,
    updatedAt: message.createdAt,
    leaseOwner: lease.owner,
  };
  if (message.replyTo)
    leased.replyTo = address(message.replyTo.email, message.replyTo.name ?? null);
  if (message.templateId !== undefined) leased.templateId = message.templateId;
  if (message.subject !== undefined) leased.subject = message.subject;
  if (message.html !== undefined) leased.html = message.html;
  if (message.text !== undefined) leased.text = message.text;
  if (message.campaignId !== undefined) leased.campaignId = message.campaignId;
  if (message.variant !== undefined) leased.variant = message.variant;
  if (message.eventReceivedAt !== undefined) leased.eventReceivedAt = message.eventReceivedAt;
  return leased;
}

export function claimedFromRow(row: ClaimedMessageRow, decode: JsonDecoder): ClaimedMessage {
  const message: ClaimedMessage = messageFromRow(row, decode);
  if (row.contact_id !== null) {
    message.contact = contactSnapshot(row.contact_id, row.contact_attributes, decode);
  }
  return message;
}

/** A claimed message's contact, from its id and attributes columns. */
export function contactSnapshot(
  id: string,
  attributes: unknown,
  decode: JsonDecoder,
): ContactSnapshot {
  return { id, attributes: asRecord(decode(attributes)) };
}

export interface AttemptRow {
  message_id: string;
  attempt: number;
  relay: string | null;
  started_at: number;
  finished_at: number;
  outcome: string;
  code: number | null;
  enhanced_code: string | null;
  response: string;
  category?: string | null;
}

export function attemptFromRow(row: AttemptRow): AttemptRecord {
  const attempt: AttemptRecord = {
    messageId: row.message_id,
    attempt: Number(row.attempt),
    startedAt: Number(row.started_at),
    finishedAt: Number(row.finished_at),
    outcome: row.outcome as AttemptOutcome,
    response: row.response,
  };
  if (row.relay !== null) attempt.relay = row.relay;
  if (row.code !== null) attempt.code = Number(row.code);
  if (row.enhanced_code !== null) attempt.enhancedCode = row.enhanced_code;
  if (row.category !== undefined && row.category !== null) {
    attempt.category = row.category as BounceCategory;
  }
  return attempt;
}

export interface ContactRow {
  id: string;
  email: string;
  attributes: unknown;
  status: string;
  created_at: number;
  updated_at: number;
}

export function contactFromRow(row: ContactRow, decode: JsonDecoder): Contact {
  return {
    id: row.id,
    email: row.email,
    attributes: asRecord(decode(row.attributes)),
    status: row.status as ContactStatus,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

export interface ListRow {
  id: string;
  name: string;
  description: string;
  created_at: number;
  member_count: number;
}

export function listFromRow(row: ListRow): MailingList {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    createdAt: Number(row.created_at),
    memberCount: Number(row.member_count),
  };
}

export interface TemplateRow {
  id: string;
  name: string;
  subject: string;
  html: string | null;
  text: string | null;
  created_at: number;
  updated_at: number;
}

export function templateFromRow(row: TemplateRow): Template {
  const template: Template = {
    id: row.id,
    name: row.name,
    subject: row.subject,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
  if (row.html !== null) template.html = row.html;
  if (row.text !== null) template.text = row.text;
  return template;
}

export interface ApiKeyRow {
  id: string;
  name: string;
  hash: string;
  prefix: string;
  created_at: number;
  revoked_at: number | null;
}

export function apiKeyFromRow(row: ApiKeyRow): ApiKeyRecord {
  const key: ApiKeyRecord = {
    id: row.id,
    name: row.name,
    hash: row.hash,
    prefix: row.prefix,
    createdAt: Number(row.created_at),
  };
  if (row.revoked_at !== null) key.revokedAt = Number(row.revoked_at);
  return key;
}

export interface SuppressionRow {
  email: string;
  reason: string;
  category: string | null;
  source_message_id: string | null;
  created_at: number;
  updated_at: number;
}

export function suppressionFromRow(row: SuppressionRow): Suppression {
  const suppression: Suppression = {
    email: row.email,
    reason: row.reason,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
  if (row.category !== null) suppression.category = row.category as BounceCategory;
  if (row.source_message_id !== null) suppression.sourceMessageId = row.source_message_id;
  return suppression;
}

/**
 * Counts by status from `SELECT status, count(*) AS n … GROUP BY status`
 * rows: every status of `statuses` present, 0 where no row counted it,
 * statuses not in the list ignored.
 */
export function countsByStatus<S extends string>(
  statuses: readonly S[],
  rows: readonly { status: string; n: number | string }[],
): Record<S, number> {
  const counts = Object.fromEntries(statuses.map((status) => [status, 0])) as Record<S, number>;
  for (const row of rows) {
    if (row.status in counts) counts[row.status as S] = Number(row.n);
  }
  return counts;
}
