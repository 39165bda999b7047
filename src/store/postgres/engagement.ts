/** Engagement events (opens, clicks, unsubscribes) on PostgreSQL: one statement each. */
import type { EngagementEvent, EngagementKind, EngagementStore } from '../../core/ports/store.js';
import { engagementFromRow, engagementValues, type EngagementRow } from '../engagement-rows.js';
import { engagementEvent } from '../../core/webhook-events.js';
import type { PgDatabase } from './pg-database.js';
import { fanOutSql } from './webhooks.js';

const SQL = {
  /** The row and its webhook event (opened, clicked, unsubscribed) in one statement. */
  insert: `WITH inserted AS (
      INSERT INTO engagement (id, kind, message_id, email, contact_id, url, at)
      VALUES ($1, $2, $3, $4, $5, $6, $7))
    ${fanOutSql('$8', '$9::text', '$10::jsonb', '$7')}`,
  forMessage: `SELECT * FROM engagement WHERE message_id = $1 ORDER BY at, id`,
  countForContact: `SELECT count(*)::int AS n FROM engagement
    WHERE contact_id = $1 AND kind = $2 AND at >= $3`,
} as const;

export class PgEngagementStore implements EngagementStore {
  constructor(private readonly db: PgDatabase) {}

  async record(event: EngagementEvent): Promise<void> {
    const hook = engagementEvent(event);
    await this.db.query(SQL.insert, [
      ...engagementValues(event),
      hook.id,
      hook.type,
      JSON.stringify(hook.data),
    ]);
  }

  async forMessage(messageId: string): Promise<EngagementEvent[]> {
    const rows = await this.db.rows<EngagementRow>(SQL.forMessage, [messageId]);
    return rows.map(engagementFromRow);
  }

  async countForContact(contactId: string, kind: EngagementKind, since: number): Promise<number> {
    const [row] = await this.db.rows<{ n: number }>(SQL.countForContact, [contactId, kind, since]);
    return row?.n ?? 0;
  }
}
