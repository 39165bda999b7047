/**
 * The dashboard's read-only queries on SQLite. The recipient search walks
 * `messages_recipient` (to_email, created_at); the waiting list and the
 * oldest waiting message walk the partial index `messages_pending_age`
 * (named with INDEXED BY: without statistics SQLite prefers the status index
 * and sorts the whole live queue), whose WHERE the queries repeat word for word.
 */
import type {
  DashboardQueries,
  MessageSearchQuery,
  MessageSummary,
  Page,
} from '../../core/ports/store.js';
import {
  campaignPage,
  decodeCampaignCursor,
  decodeSummaryCursor,
  normalizeRecipient,
  SUMMARY_COLUMNS,
  summaryFromRow,
  summaryPage as page,
  type SummaryRow,
} from '../dashboard-rows.js';
import { promised } from './sqlite-errors.js';
import type { StatementCache } from './statement-cache.js';

const PENDING = `status IN ('queued', 'deferred', 'sending')`;

const SQL = {
  byRecipient: `SELECT ${SUMMARY_COLUMNS} FROM messages WHERE to_email = ?
    ORDER BY created_at DESC, id DESC LIMIT ?`,
  byRecipientAfter: `SELECT ${SUMMARY_COLUMNS} FROM messages WHERE to_email = ?
    AND (created_at < ? OR (created_at = ? AND id < ?))
    ORDER BY created_at DESC, id DESC LIMIT ?`,
  pending: `SELECT ${SUMMARY_COLUMNS} FROM messages INDEXED BY messages_pending_age WHERE ${PENDING}
    ORDER BY created_at, id LIMIT ?`,
  pendingAfter: `SELECT ${SUMMARY_COLUMNS} FROM messages INDEXED BY messages_pending_age WHERE ${PENDING}
    AND (created_at > ? OR (created_at = ? AND id > ?))
    ORDER BY created_at, id LIMIT ?`,
  oldestPending: `SELECT min(created_at) AS t FROM messages INDEXED BY messages_pending_age WHERE ${PENDING}`,
  // The partial UNIQUE index messages_campaign (campaign_id, to_email): campaign_id = ? implies its WHERE.
  byCampaign: `SELECT ${SUMMARY_COLUMNS} FROM messages INDEXED BY messages_campaign
    WHERE campaign_id = ? AND to_email > ? ORDER BY to_email LIMIT ?`,
  byCampaignTo: `SELECT ${SUMMARY_COLUMNS} FROM messages INDEXED BY messages_campaign
    WHERE campaign_id = ? AND to_email = ?`,
} as const;

export class SqliteDashboardQueries implements DashboardQueries {
  constructor(private readonly cache: StatementCache) {}

  searchMessages(query: MessageSearchQuery): Promise<Page<MessageSummary>> {
    return promised(() => {
      if (query.campaignId !== undefined) return this.byCampaign(query, query.campaignId);
      const cursor = query.after !== undefined ? decodeSummaryCursor(query.after) : undefined;
      const take = query.limit + 1;
      let rows: SummaryRow[];
      if (query.recipient !== undefined) {
        const to = normalizeRecipient(query.recipient);
        rows = cursor
          ? this.cache
              .get<SummaryRow>(SQL.byRecipientAfter)
              .all(to, cursor.createdAt, cursor.createdAt, cursor.id, take)
          : this.cache.get<SummaryRow>(SQL.byRecipient).all(to, take);
      } else {
        rows = cursor
          ? this.cache
              .get<SummaryRow>(SQL.pendingAfter)
              .all(cursor.createdAt, cursor.createdAt, cursor.id, take)
          : this.cache.get<SummaryRow>(SQL.pending).all(take);
      }
      return page(rows.map(summaryFromRow), query.limit);
    });
  }

  private byCampaign(query: MessageSearchQuery, campaignId: string): Page<MessageSummary> {
    if (query.recipient !== undefined) {
      const to = normalizeRecipient(query.recipient);
      const rows = this.cache.get<SummaryRow>(SQL.byCampaignTo).all(campaignId, to);
      return { items: rows.map(summaryFromRow) };
    }
    const after = query.after !== undefined ? decodeCampaignCursor(query.after) : '';
    const rows = this.cache.get<SummaryRow>(SQL.byCampaign).all(campaignId, after, query.limit + 1);
    return campaignPage(rows.map(summaryFromRow), query.limit);
  }

  oldestPendingAt(): Promise<number | undefined> {
    return promised(() => {
      const row = this.cache.get<{ t: number | null }>(SQL.oldestPending).get();
      return row?.t ?? undefined;
    });
  }
}
