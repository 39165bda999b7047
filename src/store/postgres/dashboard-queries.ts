/**
 * The dashboard's read-only queries on PostgreSQL: `messages_recipient`, and
 * the partial `messages_pending_age` for the waiting list (SQLite reads that
 * from its status index instead since its migration 0014, which spares its
 * one thread two index writes a message; PostgreSQL keeps the index).
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
import type { PgDatabase } from './pg-database.js';

const PENDING = `status IN ('queued', 'deferred', 'sending')`;

const SQL = {
  byRecipient: `SELECT ${SUMMARY_COLUMNS} FROM messages WHERE to_email = $1
    ORDER BY created_at DESC, id DESC LIMIT $2`,
  byRecipientAfter: `SELECT ${SUMMARY_COLUMNS} FROM messages WHERE to_email = $1
    AND (created_at, id) < ($2, $3)
    ORDER BY created_at DESC, id DESC LIMIT $4`,
  pending: `SELECT ${SUMMARY_COLUMNS} FROM messages WHERE ${PENDING}
    ORDER BY created_at, id LIMIT $1`,
  pendingAfter: `SELECT ${SUMMARY_COLUMNS} FROM messages WHERE ${PENDING}
    AND (created_at, id) > ($1, $2)
    ORDER BY created_at, id LIMIT $3`,
  oldestPending: `SELECT min(created_at) AS t FROM messages WHERE ${PENDING}`,
  // The partial UNIQUE index messages_campaign (campaign_id, to_email).
  byCampaign: `SELECT ${SUMMARY_COLUMNS} FROM messages
    WHERE campaign_id = $1 AND to_email > $2 ORDER BY to_email LIMIT $3`,
  byCampaignTo: `SELECT ${SUMMARY_COLUMNS} FROM messages WHERE campaign_id = $1 AND to_email = $2`,
} as const;

export class PgDashboardQueries implements DashboardQueries {
  constructor(private readonly db: PgDatabase) {}

  async searchMessages(query: MessageSearchQuery): Promise<Page<MessageSummary>> {
    if (query.campaignId !== undefined) return this.byCampaign(query, query.campaignId);
    const cursor = query.after !== undefined ? decodeSummaryCursor(query.after) : undefined;
    const take = query.limit + 1;
    let rows: SummaryRow[];
    if (query.recipient !== undefined) {
      const to = normalizeRecipient(query.recipient);
      rows = cursor
        ? await this.db.rows<SummaryRow>(SQL.byRecipientAfter, [
            to,
            cursor.createdAt,
            cursor.id,
            take,
          ])
        : await this.db.rows<SummaryRow>(SQL.byRecipient, [to, take]);
    } else {
      rows = cursor
        ? await this.db.rows<SummaryRow>(SQL.pendingAfter, [cursor.createdAt, cursor.id, take])
        : await this.db.rows<SummaryRow>(SQL.pending, [take]);
    }
    return page(rows.map(summaryFromRow), query.limit);
  }

  private async byCampaign(
    query: MessageSearchQuery,
    campaignId: string,
  ): Promise<Page<MessageSummary>> {
    if (query.recipient !== undefined) {
      const to = normalizeRecipient(query.recipient);
      const rows = await this.db.rows<SummaryRow>(SQL.byCampaignTo, [campaignId, to]);
      return { items: rows.map(summaryFromRow) };
    }
    const after = query.after !== undefined ? decodeCampaignCursor(query.after) : '';
    const rows = await this.db.rows<SummaryRow>(SQL.byCampaign, [
      campaignId,
      after,
      query.limit + 1,
    ]);
    return campaignPage(rows.map(summaryFromRow), query.limit);
  }

  async oldestPendingAt(): Promise<number | undefined> {
    const [row] = await this.db.rows<{ t: number | null }>(SQL.oldestPending, []);
    return row?.t ?? undefined;
  }
}
