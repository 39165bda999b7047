/**
 * The dashboard's read-only queries on SQLite. The recipient search walks
 * `messages_recipient` (to_email, created_at); the waiting list and the
 * oldest waiting message walk `messages_status` (status, created_at), one
 * range per live status: a page takes the first rows of each range and
 * merges them (UNION ALL of three ordered subqueries, then the page's
 * order), the oldest is the least of the three ranges' first. Never a sort
 * of the whole live queue (`status IN (…) ORDER BY created_at` would be).
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

/** The statuses of messages not yet final (the waiting list). */
const PENDING_STATUSES = ['queued', 'deferred', 'sending'] as const;

/**
 * The waiting list's page: the first @take rows of each live status after
 * the cursor (when `after`), merged. `created_at >= @createdAt` makes the
 * cursor a seek in each range; the OR keeps the exact order (created_at, id).
 */
function pendingPage(after: boolean): string {
  const cursor = after
    ? ' AND created_at >= @createdAt AND (created_at > @createdAt OR (created_at = @createdAt AND id > @id))'
    : '';
  const arms = PENDING_STATUSES.map(
    (status) => `SELECT * FROM (SELECT ${SUMMARY_COLUMNS} FROM messages INDEXED BY messages_status
      WHERE status = '${status}'${cursor} ORDER BY created_at, id LIMIT @take)`,
  );
  return `${arms.join(' UNION ALL ')} ORDER BY created_at, id LIMIT @take`;
}

export const DASHBOARD_SQL = {
  byRecipient: `SELECT ${SUMMARY_COLUMNS} FROM messages WHERE to_email = ?
    ORDER BY created_at DESC, id DESC LIMIT ?`,
  byRecipientAfter: `SELECT ${SUMMARY_COLUMNS} FROM messages WHERE to_email = ?
    AND (created_at < ? OR (created_at = ? AND id < ?))
    ORDER BY created_at DESC, id DESC LIMIT ?`,
  pending: pendingPage(false),
  pendingAfter: pendingPage(true),
  oldestPending: `SELECT min(t) AS t FROM (${PENDING_STATUSES.map(
    (status) => `SELECT min(created_at) AS t FROM messages WHERE status = '${status}'`,
  ).join(' UNION ALL ')})`,
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
              .get<SummaryRow>(DASHBOARD_SQL.byRecipientAfter)
              .all(to, cursor.createdAt, cursor.createdAt, cursor.id, take)
          : this.cache.get<SummaryRow>(DASHBOARD_SQL.byRecipient).all(to, take);
      } else {
        rows = cursor
          ? this.cache
              .get<SummaryRow>(DASHBOARD_SQL.pendingAfter)
              .all({ createdAt: cursor.createdAt, id: cursor.id, take })
          : this.cache.get<SummaryRow>(DASHBOARD_SQL.pending).all({ take });
      }
      return page(rows.map(summaryFromRow), query.limit);
    });
  }

  private byCampaign(query: MessageSearchQuery, campaignId: string): Page<MessageSummary> {
    if (query.recipient !== undefined) {
      const to = normalizeRecipient(query.recipient);
      const rows = this.cache.get<SummaryRow>(DASHBOARD_SQL.byCampaignTo).all(campaignId, to);
      return { items: rows.map(summaryFromRow) };
    }
    const after = query.after !== undefined ? decodeCampaignCursor(query.after) : '';
    const rows = this.cache
      .get<SummaryRow>(DASHBOARD_SQL.byCampaign)
      .all(campaignId, after, query.limit + 1);
    return campaignPage(rows.map(summaryFromRow), query.limit);
  }

  oldestPendingAt(): Promise<number | undefined> {
    return promised(() => {
      const row = this.cache.get<{ t: number | null }>(DASHBOARD_SQL.oldestPending).get();
      return row?.t ?? undefined;
    });
  }
}
