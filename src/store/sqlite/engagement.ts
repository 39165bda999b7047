/** Engagement events (opens, clicks, unsubscribes) on SQLite: one statement each. */
import type { EngagementEvent, EngagementKind, EngagementStore } from '../../core/ports/store.js';
import { engagementEvent } from '../../core/webhook-events.js';
import { engagementFromRow, engagementValues, type EngagementRow } from '../engagement-rows.js';
import { promised } from './sqlite-errors.js';
import type { StatementCache } from './statement-cache.js';
import { enqueueEvent } from './webhooks.js';

const SQL = {
  insert: `INSERT INTO engagement (id, kind, message_id, email, contact_id, url, at)
    VALUES (?, ?, ?, ?, ?, ?, ?)`,
  forMessage: `SELECT * FROM engagement WHERE message_id = ? ORDER BY at, id`,
  countForContact: `SELECT count(*) AS n FROM engagement
    WHERE contact_id = ? AND kind = ? AND at >= ?`,
} as const;

export class SqliteEngagementStore implements EngagementStore {
  constructor(private readonly cache: StatementCache) {}

  /** With its webhook event (opened, clicked, unsubscribed) in the same transaction. */
  record(event: EngagementEvent): Promise<void> {
    const run = this.cache.transaction(() => {
      this.cache.get(SQL.insert).run(...engagementValues(event));
      enqueueEvent(this.cache, engagementEvent(event));
    });
    return promised(() => run.immediate());
  }

  forMessage(messageId: string): Promise<EngagementEvent[]> {
    return promised(() =>
      this.cache.get<EngagementRow>(SQL.forMessage).all(messageId).map(engagementFromRow),
    );
  }

  countForContact(contactId: string, kind: EngagementKind, since: number): Promise<number> {
    return promised(() => {
      const row = this.cache.get<{ n: number }>(SQL.countForContact).get(contactId, kind, since);
      return row?.n ?? 0;
    });
  }
}
