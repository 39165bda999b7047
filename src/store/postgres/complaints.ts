/**
 * Complaints on PostgreSQL: suppression, contact status and the
 * `complained` webhook event in one statement (ports/webhook-store.ts).
 */
import type { Complaint, ComplaintStore } from '../../core/ports/webhook-store.js';
import { suppressionKey } from '../../core/suppression.js';
import { complaintEventData, newWebhookEventId } from '../../core/webhook-events.js';
import type { PgDatabase } from './pg-database.js';
import { fanOutSql } from './webhooks.js';

const SQL = {
  record: `WITH suppressed AS (
      INSERT INTO suppressions (email, reason, category, source_message_id, created_at, updated_at)
      VALUES ($1, 'complaint', NULL, $2, $3, $3)
      ON CONFLICT (email) DO UPDATE SET reason = excluded.reason, category = excluded.category,
        source_message_id = excluded.source_message_id, updated_at = excluded.updated_at),
    contact AS (
      UPDATE contacts SET status = 'complained', updated_at = $3 WHERE email = $4 RETURNING id),
    data AS (
      SELECT $6::jsonb || coalesce((SELECT jsonb_build_object('contactId', id) FROM contact),
        '{}'::jsonb) AS value),
    hooked AS (${fanOutSql('$5', "'complained'", '(SELECT value FROM data)', '$3')})
    SELECT id FROM contact`,
} as const;

export class PgComplaintStore implements ComplaintStore {
  constructor(private readonly db: PgDatabase) {}

  async record(complaint: Complaint): Promise<{ contactId?: string; eventId: string }> {
    const eventId = newWebhookEventId(complaint.at);
    const [row] = await this.db.rows<{ id: string }>(SQL.record, [
      suppressionKey(complaint.email),
      complaint.messageId ?? null,
      complaint.at,
      complaint.email,
      eventId,
      JSON.stringify(complaintEventData(complaint, undefined)),
    ]);
    return { ...(row ? { contactId: row.id } : {}), eventId };
  }
}
