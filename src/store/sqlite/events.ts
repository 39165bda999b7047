/**
 * Events on SQLite: appends are group-committed (../group-commit.ts), one
 * append call being one item, so concurrent HTTP requests share one
 * transaction and one fsync.
 *
 * Within the batch transaction, each call is checked before it writes: a
 * `{id}` naming no contact fails that call alone, and nothing of it has been
 * written yet, so no savepoint is needed. Then its events go in order: a key
 * seen before (stored, or earlier in this transaction) makes a duplicate;
 * otherwise the contact is found or created, merged with `attributes`, and
 * the event inserted. better-sqlite3 is synchronous, so each statement sees
 * the rows of the ones before it.
 */
import type {
  AppendOptions,
  AppendResult,
  EventStore,
  NewEvent,
  Page,
  PageQuery,
  StoredEvent,
} from '../../core/ports/store.js';
import { isSluiceError } from '../../core/errors.js';
import { mergeAttributes } from '../attributes.js';
import {
  contactNotFound,
  eventCursor,
  eventFromRow,
  parseEventCursor,
  type EventRow,
} from '../event-rows.js';
import { GroupCommit, type ItemOutcome } from '../group-commit.js';
import { fetchSize, toPageBy } from '../paging.js';
import { decodeJsonText } from '../rows.js';
import { unavailableError } from '../store-errors.js';
import { runDurable } from './deferred-commit.js';
import { promised } from './sqlite-errors.js';
import type { StatementCache } from './statement-cache.js';
import type { WalSync } from './wal-sync.js';

const SQL = {
  byKey: `SELECT id, contact_id, name, occurred_at FROM events WHERE idempotency_key = ?`,
  contactById: `SELECT id, attributes FROM contacts WHERE id = ?`,
  contactByEmail: `SELECT id, attributes FROM contacts WHERE email = ?`,
  insertContact: `INSERT INTO contacts (id, email, attributes, status, created_at, updated_at)
    VALUES (?, ?, ?, 'active', ?, ?)`,
  updateAttributes: `UPDATE contacts SET attributes = ?, updated_at = ? WHERE id = ?`,
  insert: `INSERT INTO events
    (id, idempotency_key, contact_id, name, properties, occurred_at, received_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)`,
  page: `SELECT * FROM events WHERE contact_id = ? AND (occurred_at, id) < (?, ?)
    ORDER BY occurred_at DESC, id DESC LIMIT ?`,
  count: `SELECT count(*) AS n FROM events
    WHERE contact_id = ? AND name = ? AND occurred_at >= ?`,
} as const;

/** One append call: its events, and who hears of them once committed. */
interface AppendItem {
  events: NewEvent[];
  onCommitted: AppendOptions['onCommitted'];
}

/**
 * Each committed call's onCommitted, right after the commit. One that throws
 * fails its own call (once durable), as an error of the caller's code would.
 */
function announce(items: readonly AppendItem[], outcomes: ItemOutcome<AppendResult[]>[]): void {
  outcomes.forEach((outcome, index) => {
    const onCommitted = items[index]?.onCommitted;
    if (!outcome.ok || !onCommitted) return;
    try {
      onCommitted(outcome.value);
    } catch (error) {
      outcomes[index] = { ok: false, error };
    }
  });
}

interface ContactRef {
  id: string;
  attributes: string;
}

export class SqliteEventStore implements EventStore {
  private readonly appends: GroupCommit<AppendItem, AppendResult[]>;

  constructor(
    private readonly cache: StatementCache,
    maxBatch?: number,
    /** Makes each batch durable off the event loop (./wal-sync.ts); without it, a FULL commit. */
    private readonly wal?: WalSync,
  ) {
    this.appends = new GroupCommit({
      commit: (items: readonly AppendItem[]) => this.commitAppends(items),
      ...(maxBatch ? { maxBatch } : {}),
    });
  }

  append(events: NewEvent[], options: AppendOptions = {}): Promise<AppendResult[]> {
    if (this.appends.isClosed) return Promise.reject(unavailableError('the store is closed'));
    if (events.length === 0) return Promise.resolve([]);
    return this.appends.submit({ events, onCommitted: options.onCommitted });
  }

  /** Waits for appends already submitted, then refuses new ones. */
  close(): Promise<void> {
    return this.appends.close();
  }

  private commitAppends(items: readonly AppendItem[]): Promise<ItemOutcome<AppendResult[]>[]> {
    const run = (): ItemOutcome<AppendResult[]>[] =>
      items.map(({ events }): ItemOutcome<AppendResult[]> => {
        try {
          this.checkContactIds(events);
        } catch (error) {
          if (isSluiceError(error)) return { ok: false, error };
          throw error;
        }
        return { ok: true, value: events.map((event) => this.appendOne(event)) };
      });
    // announce() turns the outcome of a call whose onCommitted threw into its failure.
    return runDurable(this.cache, this.wal, run, (outcomes) => announce(items, outcomes));
  }

  private checkContactIds(events: NewEvent[]): void {
    const byId = this.cache.get<ContactRef>(SQL.contactById);
    events.forEach((event, index) => {
      if ('id' in event.contact && !byId.get(event.contact.id)) {
        throw contactNotFound(event, index);
      }
    });
  }

  private appendOne(event: NewEvent): AppendResult {
    if (event.key !== undefined) {
      const stored = this.cache
        .get<Pick<EventRow, 'id' | 'contact_id' | 'name' | 'occurred_at'>>(SQL.byKey)
        .get(event.key);
      if (stored) {
        return {
          kind: 'duplicate',
          id: stored.id,
          contactId: stored.contact_id,
          name: stored.name,
          occurredAt: stored.occurred_at,
        };
      }
    }
    const contactId = this.resolveContact(event);
    this.cache
      .get(SQL.insert)
      .run(
        event.id,
        event.key ?? null,
        contactId,
        event.name,
        JSON.stringify(event.properties),
        event.occurredAt,
        event.receivedAt,
      );
    return {
      kind: 'stored',
      id: event.id,
      contactId,
      name: event.name,
      occurredAt: event.occurredAt,
    };
  }

  /** The contact's id, after creating it (new email) or merging the event's attributes into it. */
  private resolveContact(event: NewEvent): string {
    const at = event.receivedAt;
    const found =
      'id' in event.contact
        ? this.cache.get<ContactRef>(SQL.contactById).get(event.contact.id)
        : this.cache.get<ContactRef>(SQL.contactByEmail).get(event.contact.email);
    if (!found) {
      // checkContactIds ran first, so only an email can be new here.
      const email = 'email' in event.contact ? event.contact.email : '';
      const attributes = mergeAttributes({}, event.attributes);
      this.cache
        .get(SQL.insertContact)
        .run(event.newContactId, email, JSON.stringify(attributes), at, at);
      return event.newContactId;
    }
    if (event.attributes && Object.keys(event.attributes).length > 0) {
      const stored = decodeJsonText(found.attributes) as Record<string, unknown>;
      const merged = mergeAttributes(stored, event.attributes);
      this.cache.get(SQL.updateAttributes).run(JSON.stringify(merged), at, found.id);
    }
    return found.id;
  }

  listForContact(contactId: string, query: PageQuery): Promise<Page<StoredEvent>> {
    return promised(() => {
      const { at, id } = parseEventCursor(query.after);
      const rows = this.cache.get<EventRow>(SQL.page).all(contactId, at, id, fetchSize(query));
      return toPageBy(
        rows.map((row) => eventFromRow(row, decodeJsonText)),
        query,
        eventCursor,
      );
    });
  }

  countForContact(contactId: string, name: string, since: number): Promise<number> {
    return promised(
      () => this.cache.get<{ n: number }>(SQL.count).get(contactId, name, since)?.n ?? 0,
    );
  }
}
