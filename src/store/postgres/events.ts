/**
 * Events on PostgreSQL, group-committed (../group-commit.ts): each append
 * call is one item, and a batch of calls is written in ONE transaction with
 * a fixed number of statements, however many events and calls it holds:
 *
 *   1. lock   the contacts named by `{id}` (FOR KEY SHARE: they cannot be
 *             deleted before the commit); a call naming a missing one fails
 *             alone, before anything of it is written;
 *   2. keys   read the stored events of every idempotency key; walking the
 *             events in order, a stored key or one seen earlier in the batch
 *             makes a duplicate (nothing of it is written);
 *   3. emails insert the new emails (ON CONFLICT DO NOTHING, with their
 *             attributes merged in order), then read every email's id;
 *   4. merge  one UPDATE merging each existing contact's combined patch
 *             (`||` to set, `-` to remove, as in contacts.ts);
 *   5. insert the events, ON CONFLICT (idempotency_key) DO NOTHING: a key a
 *             concurrent transaction stored after step 2 is waited for, then
 *             read back as a duplicate (its identify was applied twice, which
 *             merges the same attributes again).
 */
import type pg from 'pg';
import type {
  AppendOptions,
  AppendResult,
  EventStore,
  NewEvent,
  Page,
  PageQuery,
  StoredEvent,
} from '../../core/ports/store.js';
import { mergeAttributes, splitAttributePatch } from '../attributes.js';
import {
  combinePatches,
  contactNotFound,
  eventCursor,
  eventFromRow,
  parseEventCursor,
  type EventRow,
} from '../event-rows.js';
import { GroupCommit, type ItemOutcome } from '../group-commit.js';
import { fetchSize, toPageBy } from '../paging.js';
import { decodeJsonb } from '../rows.js';
import { unavailableError } from '../store-errors.js';
import type { PgDatabase } from './pg-database.js';

const SQL = {
  lockContacts: `SELECT id FROM contacts WHERE id = ANY($1::text[]) FOR KEY SHARE`,
  byKeys: `SELECT id, idempotency_key, contact_id, name, occurred_at FROM events
    WHERE idempotency_key = ANY($1::text[])`,
  insertContacts: `INSERT INTO contacts (id, email, attributes, status, created_at, updated_at)
    SELECT id, email, attributes, 'active', at, at
    FROM json_to_recordset($1::json) AS i (id text, email text, attributes jsonb, at bigint)
    ON CONFLICT (email) DO NOTHING
    RETURNING id, email`,
  contactsByEmail: `SELECT id, email FROM contacts WHERE email = ANY($1::text[]) FOR KEY SHARE`,
  mergeAttributes: `UPDATE contacts c SET
      attributes = (c.attributes || i.patch_set) - ARRAY(SELECT json_array_elements_text(i.patch_remove)),
      updated_at = i.at
    FROM json_to_recordset($1::json) AS i (id text, patch_set jsonb, patch_remove json, at bigint)
    WHERE c.id = i.id`,
  insertEvents: `INSERT INTO events
      (id, idempotency_key, contact_id, name, properties, occurred_at, received_at)
    SELECT * FROM json_to_recordset($1::json) AS i (id text, idempotency_key text,
      contact_id text, name text, properties jsonb, occurred_at bigint, received_at bigint)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id`,
  page: `SELECT * FROM events WHERE contact_id = $1 AND (occurred_at, id) < ($2, $3)
    ORDER BY occurred_at DESC, id DESC LIMIT $4`,
  count: `SELECT count(*)::int AS n FROM events
    WHERE contact_id = $1 AND name = $2 AND occurred_at >= $3`,
} as const;

type KeyRow = Pick<EventRow, 'id' | 'idempotency_key' | 'contact_id' | 'name' | 'occurred_at'>;

/** An event to write, and where its result goes. */
interface Fresh {
  event: NewEvent;
  contactId: string;
}

/** Per event of the batch: its result, or the fresh event it duplicates (known after the write). */
type Slot = { result: AppendResult } | { fresh: Fresh; duplicate: boolean };

function duplicateOf(row: KeyRow): AppendResult {
  return {
    kind: 'duplicate',
    id: row.id,
    contactId: row.contact_id,
    name: row.name,
    occurredAt: row.occurred_at,
  };
}

export class PgEventStore implements EventStore {
  private readonly appends: GroupCommit<NewEvent[], AppendResult[]>;

  constructor(private readonly db: PgDatabase) {
    this.appends = new GroupCommit({
      commit: (items: readonly NewEvent[][]) =>
        this.db.transaction((client) => commitAppends(client, items)),
    });
  }

  async append(events: NewEvent[], options: AppendOptions = {}): Promise<AppendResult[]> {
    if (this.appends.isClosed) throw unavailableError('the store is closed');
    if (events.length === 0) return [];
    // Committed is durable here: PostgreSQL flushed its WAL before answering the COMMIT.
    const results = await this.appends.submit(events);
    options.onCommitted?.(results);
    return results;
  }

  close(): Promise<void> {
    return this.appends.close();
  }

  async listForContact(contactId: string, query: PageQuery): Promise<Page<StoredEvent>> {
    const { at, id } = parseEventCursor(query.after);
    const rows = await this.db.rows<EventRow>(SQL.page, [contactId, at, id, fetchSize(query)]);
    return toPageBy(
      rows.map((row) => eventFromRow(row, decodeJsonb)),
      query,
      eventCursor,
    );
  }

  async countForContact(contactId: string, name: string, since: number): Promise<number> {
    const [row] = await this.db.rows<{ n: number }>(
      SQL.count,
      [contactId, name, since],
      'sluice_event_count',
    );
    return row?.n ?? 0;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function rows<R extends pg.QueryResultRow>(
  client: pg.PoolClient,
  text: string,
  values: unknown[],
): Promise<R[]> {
  return (await client.query<R>(text, values)).rows;
}

async function commitAppends(
  client: pg.PoolClient,
  items: readonly NewEvent[][],
): Promise<ItemOutcome<AppendResult[]>[]> {
  // 1. lock the contacts named by id; a call naming a missing one fails alone.
  const namedIds = [
    ...new Set(items.flat().flatMap((e) => ('id' in e.contact ? [e.contact.id] : []))),
  ];
  const known = new Set(
    namedIds.length === 0
      ? []
      : (await rows<{ id: string }>(client, SQL.lockContacts, [namedIds])).map((r) => r.id),
  );
  const failures = items.map((events) => {
    const index = events.findIndex((e) => 'id' in e.contact && !known.has(e.contact.id));
    return index < 0 ? undefined : contactNotFound(events[index] as NewEvent, index);
  });
  const live = items.flatMap((events, i) => (failures[i] ? [] : events));

  // 2. duplicates: stored keys, or keys seen earlier in the batch.
  const keys = [...new Set(live.flatMap((e) => (e.key === undefined ? [] : [e.key])))];
  const stored = new Map(
    keys.length === 0
      ? []
      : (await rows<KeyRow>(client, SQL.byKeys, [keys])).map((r) => [r.idempotency_key, r]),
  );
  const firstByKey = new Map<string, Fresh>();
  const fresh: Fresh[] = [];
  const slots = items.map((events, i): Slot[] =>
    failures[i]
      ? []
      : events.map((event): Slot => {
          const row = event.key === undefined ? undefined : stored.get(event.key);
          if (row) return { result: duplicateOf(row) };
          const first = event.key === undefined ? undefined : firstByKey.get(event.key);
          if (first) return { fresh: first, duplicate: true };
          const entry: Fresh = { event, contactId: '' };
          if (event.key !== undefined) firstByKey.set(event.key, entry);
          fresh.push(entry);
          return { fresh: entry, duplicate: false };
        }),
  );

  await resolveContacts(client, fresh);

  // 5. insert; a key taken meanwhile by another transaction is read back.
  let inserted = new Set<string>();
  if (fresh.length > 0) {
    // Sorted by key, as contacts by email and by id below: two nodes writing
    // overlapping batches then take their row locks in one order, not in
    // opposite orders (a deadlock).
    const byKey = [...fresh].sort((x, y) => compare(x.event.key ?? '', y.event.key ?? ''));
    const records = byKey.map(({ event, contactId }) => ({
      id: event.id,
      idempotency_key: event.key ?? null,
      contact_id: contactId,
      name: event.name,
      properties: event.properties,
      occurred_at: event.occurredAt,
      received_at: event.receivedAt,
    }));
    const written = await rows<{ id: string }>(client, SQL.insertEvents, [JSON.stringify(records)]);
    inserted = new Set(written.map((r) => r.id));
  }
  const raced = fresh.flatMap((f) => (inserted.has(f.event.id) ? [] : [f.event.key ?? '']));
  const racedRows = new Map(
    raced.length === 0
      ? []
      : (await rows<KeyRow>(client, SQL.byKeys, [raced])).map((r) => [r.idempotency_key, r]),
  );

  return items.map((_, i): ItemOutcome<AppendResult[]> => {
    const failure = failures[i];
    if (failure) return { ok: false, error: failure };
    const results = (slots[i] ?? []).map((slot): AppendResult => {
      if ('result' in slot) return slot.result;
      const { event, contactId } = slot.fresh;
      if (!inserted.has(event.id)) {
        const row = racedRows.get(event.key ?? '');
        if (!row) throw new Error(`event ${event.id} was neither inserted nor found by its key`);
        return duplicateOf(row);
      }
      return {
        kind: slot.duplicate ? 'duplicate' : 'stored',
        id: event.id,
        contactId,
        name: event.name,
        occurredAt: event.occurredAt,
      };
    });
    return { ok: true, value: results };
  });
}

/** Steps 3 and 4: sets each fresh event's contactId, creating and merging contacts. */
async function resolveContacts(client: pg.PoolClient, fresh: Fresh[]): Promise<void> {
  const newEmails = new Map<string, { id: string; patch?: Record<string, unknown>; at: number }>();
  for (const { event } of fresh) {
    if (!('email' in event.contact)) continue;
    const entry = newEmails.get(event.contact.email);
    if (!entry) {
      newEmails.set(event.contact.email, {
        id: event.newContactId,
        ...(event.attributes ? { patch: { ...event.attributes } } : {}),
        at: event.receivedAt,
      });
    } else {
      const patch = combinePatches(entry.patch, event.attributes);
      if (patch) entry.patch = patch;
      entry.at = event.receivedAt;
    }
  }
  const idByEmail = new Map<string, string>();
  const created = new Set<string>();
  if (newEmails.size > 0) {
    const records = [...newEmails]
      .sort(([x], [y]) => compare(x, y))
      .map(([email, e]) => ({
        id: e.id,
        email,
        attributes: mergeAttributes({}, e.patch),
        at: e.at,
      }));
    for (const row of await rows<{ id: string; email: string }>(client, SQL.insertContacts, [
      JSON.stringify(records),
    ])) {
      idByEmail.set(row.email, row.id);
      created.add(row.id);
    }
    const existing = [...newEmails.keys()].filter((email) => !idByEmail.has(email));
    if (existing.length > 0) {
      const found = await rows<{ id: string; email: string }>(client, SQL.contactsByEmail, [
        existing,
      ]);
      for (const row of found) idByEmail.set(row.email, row.id);
    }
  }

  const patches = new Map<string, { patch: Record<string, unknown>; at: number }>();
  for (const entry of fresh) {
    const { contact, attributes, receivedAt } = entry.event;
    const contactId = 'id' in contact ? contact.id : idByEmail.get(contact.email);
    if (contactId === undefined) throw new Error(`no contact for ${JSON.stringify(contact)}`);
    entry.contactId = contactId;
    // A contact created by this batch was written with every patch of its events.
    if (!attributes || Object.keys(attributes).length === 0 || created.has(contactId)) continue;
    const previous = patches.get(contactId);
    patches.set(contactId, {
      patch: combinePatches(previous?.patch, attributes) ?? {},
      at: receivedAt,
    });
  }
  if (patches.size > 0) {
    const records = [...patches]
      .sort(([x], [y]) => compare(x, y))
      .map(([id, { patch, at }]) => {
        const { set, remove } = splitAttributePatch(patch);
        return { id, patch_set: set, patch_remove: remove, at };
      });
    await client.query(SQL.mergeAttributes, [JSON.stringify(records)]);
  }
}
