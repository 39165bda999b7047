/**
 * The dashboard's message rows, shared by both dialects: the columns read,
 * the keyset cursor (`<createdAt>.<id>`) and the row → summary mapping.
 */
import type { BounceCategory } from '../core/bounce.js';
import { SluiceError } from '../core/errors.js';
import type { MessageStatus, Stream } from '../core/message.js';
import type { MessageSummary, Page } from '../core/ports/store.js';

export const SUMMARY_COLUMNS = `id, stream, from_email, to_email, subject, template_id, status,
  attempts, created_at, updated_at, last_error, bounce_category`;

export interface SummaryRow {
  id: string;
  stream: string;
  from_email: string;
  to_email: string;
  subject: string | null;
  template_id: string | null;
  status: string;
  attempts: number;
  created_at: number;
  updated_at: number;
  last_error: string | null;
  bounce_category: string | null;
}

export function summaryFromRow(row: SummaryRow): MessageSummary {
  return {
    id: row.id,
    stream: row.stream as Stream,
    from: row.from_email,
    to: row.to_email,
    ...(row.subject !== null ? { subject: row.subject } : {}),
    ...(row.template_id !== null ? { templateId: row.template_id } : {}),
    status: row.status as MessageStatus,
    attempts: row.attempts,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    ...(row.last_error !== null ? { lastError: row.last_error } : {}),
    ...(row.bounce_category !== null
      ? { bounceCategory: row.bounce_category as BounceCategory }
      : {}),
  };
}

export interface SummaryCursor {
  createdAt: number;
  id: string;
}

export function encodeSummaryCursor(summary: MessageSummary): string {
  return `${summary.createdAt}.${summary.id}`;
}

/** ERR_VALIDATION naming `after` when the cursor was not made by encodeSummaryCursor. */
export function decodeSummaryCursor(after: string): SummaryCursor {
  const match = /^(\d{1,16})\.([A-Za-z0-9_]{1,100})$/.exec(after);
  if (!match?.[1] || !match[2]) {
    throw new SluiceError('ERR_VALIDATION', 'after: not a cursor returned by a previous page', {
      field: 'after',
    });
  }
  return { createdAt: Number(match[1]), id: match[2] };
}

/** The recipient as stored: the domain lower-cased, the local part as given. */
export function normalizeRecipient(address: string): string {
  const trimmed = address.trim();
  const at = trimmed.lastIndexOf('@');
  return at < 0 ? trimmed : trimmed.slice(0, at) + trimmed.slice(at).toLowerCase();
}

/** `limit + 1` rows read → one page and the cursor of its last item when there are more. */
export function summaryPage(items: MessageSummary[], limit: number): Page<MessageSummary> {
  if (items.length <= limit) return { items };
  const kept = items.slice(0, limit);
  const last = kept[kept.length - 1];
  return last ? { items: kept, next: encodeSummaryCursor(last) } : { items: kept };
}

/** The cursor of a campaign's messages (ordered by address): the last address, base64url. */
export function encodeCampaignCursor(to: string): string {
  return Buffer.from(to, 'utf8').toString('base64url');
}

/** ERR_VALIDATION naming `after` when the cursor was not made by encodeCampaignCursor. */
export function decodeCampaignCursor(after: string): string {
  const to = /^[A-Za-z0-9_-]{1,1400}$/.test(after)
    ? Buffer.from(after, 'base64url').toString('utf8')
    : '';
  if (!to.includes('@')) {
    throw new SluiceError('ERR_VALIDATION', 'after: not a cursor returned by a previous page', {
      field: 'after',
    });
  }
  return to;
}

/** `limit + 1` rows of a campaign read → one page, the cursor after its last address. */
export function campaignPage(items: MessageSummary[], limit: number): Page<MessageSummary> {
  if (items.length <= limit) return { items };
  const kept = items.slice(0, limit);
  const last = kept[kept.length - 1];
  return last ? { items: kept, next: encodeCampaignCursor(last.to) } : { items: kept };
}
