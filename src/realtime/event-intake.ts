/**
 * Event ingestion, before and around the store: every check that can be
 * made without the database (so a batch with one bad event is refused
 * whole, naming the field, before anything is written), and the admission
 * bound that turns overload into a 429 instead of an ever-growing queue.
 *
 * Glossary: an *event* is something a contact did (`order.placed`) at a
 * time (`timestamp`, stored as occurredAt), with free-form properties; its
 * client `id` is its idempotency key; `attributes` identify the contact
 * (merged into its attributes, as POST /v1/contacts does).
 */
import { parseEmail } from '../core/address.js';
import { SluiceError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { EventContactRef, NewEvent } from '../core/ports/store.js';

export interface EventInput {
  contact: { email: string } | { id: string };
  name: string;
  properties?: Record<string, unknown>;
  timestamp?: string;
  id?: string;
  attributes?: Record<string, unknown>;
}

/**
 * Serialised size limit of `properties` and of `attributes`: room for a
 * cart of a few hundred lines, small enough that a 1,000-event batch stays
 * a bounded write and trigger conditions read small documents.
 */
export const MAX_JSON_BYTES = 32 * 1024;

/**
 * How far ahead of the server's clock a timestamp may be: covers clock skew
 * and time zones written wrong by a few hours, but refuses the year-2099 event
 * that would sort first on every timeline and count in every window forever.
 */
export const MAX_FUTURE_MS = 24 * 3_600_000;

/** ISO 8601 date-time with a zone (Z or ±hh:mm); fractions of a second allowed. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * Checks and converts the events of one request, in order. `prefix` is the
 * JSON path of the event list in errors (`events` for a batch, empty for
 * one event), so that a failure names `events[3].timestamp`.
 */
export function prepareEvents(inputs: EventInput[], now: number, prefix: string): NewEvent[] {
  return inputs.map((input, index) => {
    const at = (name: string) => (prefix === '' ? name : `${prefix}[${index}].${name}`);
    const contact: EventContactRef =
      'email' in input.contact
        ? { email: parseEmail(input.contact.email, at('contact.email')) }
        : { id: input.contact.id };
    const properties = input.properties ?? {};
    checkSize(properties, at('properties'));
    if (input.attributes) checkSize(input.attributes, at('attributes'));
    return {
      id: newId('event'),
      ...(input.id !== undefined ? { key: input.id } : {}),
      contact,
      newContactId: newId('contact'),
      name: input.name,
      properties,
      ...(input.attributes ? { attributes: input.attributes } : {}),
      occurredAt:
        input.timestamp === undefined ? now : parseTime(input.timestamp, now, at('timestamp')),
      receivedAt: now,
    };
  });
}

function checkSize(value: Record<string, unknown>, field: string): void {
  const bytes = Buffer.byteLength(JSON.stringify(value));
  if (bytes > MAX_JSON_BYTES) {
    throw new SluiceError(
      'ERR_VALIDATION',
      `${field}: ${bytes} bytes as JSON, more than the ${MAX_JSON_BYTES} allowed.`,
      { field },
    );
  }
}

function parseTime(value: string, now: number, field: string): number {
  const ms = ISO_TIME.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw new SluiceError(
      'ERR_VALIDATION',
      `${field}: "${value.slice(0, 64)}" is not an ISO 8601 date-time with a zone, such as 2026-05-01T12:00:00Z.`,
      { field },
    );
  }
  if (ms > now + MAX_FUTURE_MS) {
    throw new SluiceError(
      'ERR_VALIDATION',
      `${field}: more than one day in the future (the server's time is ${new Date(now).toISOString()}).`,
      { field },
    );
  }
  return ms;
}

/**
 * Admission control: counts the events handed to the store and not yet
 * committed (waiting for the group commit or in it). A request whose events
 * would take the count above `maxPending` is refused whole (ERR_OVERLOADED,
 * 429 with Retry-After): under overload the client is told to come back,
 * rather than the queue, the memory and every request's latency growing
 * until something times out and the events are lost.
 *
 *   admit(n): pending + n <= max ──► pending += n, run the write,
 *                                     pending -= n when it settles (either way)
 *             otherwise          ──► ERR_OVERLOADED, nothing written
 */
export class EventAdmission {
  private pending = 0;

  constructor(private readonly maxPending: number) {}

  /** Events admitted and not yet committed. */
  get waiting(): number {
    return this.pending;
  }

  async run<R>(count: number, write: () => Promise<R>): Promise<R> {
    if (this.pending + count > this.maxPending) {
      throw new SluiceError(
        'ERR_OVERLOADED',
        `Too many events are waiting to be stored (${this.pending}, at most ${this.maxPending}); nothing was stored. Retry after the Retry-After header's seconds.`,
      );
    }
    this.pending += count;
    try {
      return await write();
    } finally {
      this.pending -= count;
    }
  }
}
