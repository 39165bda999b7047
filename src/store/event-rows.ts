/**
 * What both dialects share about events: the row and its mapping, the page
 * cursor, and the planning of one append (which events are duplicates,
 * which contact patches they carry), so that SQLite and PostgreSQL decide
 * the same way and differ only in how they write.
 */
import type { NewEvent, StoredEvent } from '../core/ports/store.js';
import { SluiceError } from '../core/errors.js';
import type { JsonDecoder } from './rows.js';

export interface EventRow {
  id: string;
  idempotency_key: string | null;
  contact_id: string;
  name: string;
  properties: unknown;
  occurred_at: number;
  received_at: number;
}

export function eventFromRow(row: EventRow, decode: JsonDecoder): StoredEvent {
  const properties = decode(row.properties);
  return {
    id: row.id,
    ...(row.idempotency_key !== null ? { key: row.idempotency_key } : {}),
    contactId: row.contact_id,
    name: row.name,
    properties:
      properties !== null && typeof properties === 'object'
        ? (properties as Record<string, unknown>)
        : {},
    occurredAt: row.occurred_at,
    receivedAt: row.received_at,
  };
}

/**
 * Pages go newest first by (occurred_at, id); the cursor is the last item's
 * pair as `<occurredAt>:<id>`. The first page starts below the largest safe
 * integer, which no epoch-ms time reaches.
 */
export function eventCursor(event: StoredEvent): string {
  return `${event.occurredAt}:${event.id}`;
}

export function parseEventCursor(after: string | undefined): { at: number; id: string } {
  if (after === undefined || after === '') return { at: Number.MAX_SAFE_INTEGER, id: '' };
  const colon = after.indexOf(':');
  const at = Number(after.slice(0, colon));
  if (colon < 1 || !Number.isSafeInteger(at)) {
    throw new SluiceError('ERR_VALIDATION', 'after: not a cursor from a previous page.', {
      field: 'after',
    });
  }
  return { at, id: after.slice(colon + 1) };
}

/**
 * Patches in the order given, as one patch: a later key replaces an earlier
 * one, and a `null` still removes. Applying the result equals applying each
 * in turn (mergeAttributes is key-wise last-writer-wins).
 */
export function combinePatches(
  first: Record<string, unknown> | undefined,
  next: Record<string, unknown> | undefined,
): Record<string, unknown> | undefined {
  if (!first) return next && { ...next };
  return next ? { ...first, ...next } : first;
}

export function contactNotFound(event: NewEvent, index: number): SluiceError {
  const id = 'id' in event.contact ? event.contact.id : '';
  return new SluiceError('ERR_CONTACT_NOT_FOUND', `No contact has the id "${id}".`, {
    index,
  });
}
