/** Row ↔ EngagementEvent, shared by both dialects (bigint `at` comes back as text from pg). */
import type { EngagementEvent, EngagementKind } from '../core/ports/store.js';

export interface EngagementRow {
  id: string;
  kind: string;
  message_id: string;
  email: string;
  contact_id: string | null;
  url: string | null;
  at: number | string;
}

export function engagementFromRow(row: EngagementRow): EngagementEvent {
  return {
    id: row.id,
    kind: row.kind as EngagementKind,
    messageId: row.message_id,
    email: row.email,
    ...(row.contact_id !== null ? { contactId: row.contact_id } : {}),
    ...(row.url !== null ? { url: row.url } : {}),
    at: Number(row.at),
  };
}

export function engagementValues(event: EngagementEvent): (string | number | null)[] {
  return [
    event.id,
    event.kind,
    event.messageId,
    event.email.toLowerCase(),
    event.contactId ?? null,
    event.url ?? null,
    event.at,
  ];
}
