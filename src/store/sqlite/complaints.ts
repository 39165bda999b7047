/**
 * Complaints on SQLite: suppression, contact status and the `complained`
 * webhook event in one IMMEDIATE transaction (ports/webhook-store.ts).
 */
import type { Complaint, ComplaintStore } from '../../core/ports/webhook-store.js';
import { complaintEventData, newWebhookEventId } from '../../core/webhook-events.js';
import { promised } from './sqlite-errors.js';
import type { StatementCache } from './statement-cache.js';
import { upsertSuppression } from './suppressions.js';
import { enqueueEvent } from './webhooks.js';

const SQL = {
  markContact: `UPDATE contacts SET status = 'complained', updated_at = ? WHERE email = ? RETURNING id`,
} as const;

export class SqliteComplaintStore implements ComplaintStore {
  constructor(private readonly cache: StatementCache) {}

  record(complaint: Complaint): Promise<{ contactId?: string; eventId: string }> {
    const run = this.cache.transaction(() => {
      upsertSuppression(this.cache, {
        email: complaint.email,
        reason: 'complaint',
        ...(complaint.messageId ? { sourceMessageId: complaint.messageId } : {}),
        at: complaint.at,
      });
      const contact = this.cache
        .get<{ id: string }>(SQL.markContact)
        .get(complaint.at, complaint.email);
      const eventId = newWebhookEventId(complaint.at);
      enqueueEvent(this.cache, {
        id: eventId,
        type: 'complained',
        createdAt: complaint.at,
        data: complaintEventData(complaint, contact?.id),
      });
      return { ...(contact ? { contactId: contact.id } : {}), eventId };
    });
    return promised(() => run.immediate());
  }
}
