/**
 * Accepts on PostgreSQL, group-committed (see ../group-commit.ts).
 *
 * Measured on 2 cores with 200 concurrent callers (docs/storage.md): one
 * statement per accept on a pool of 10 reaches ~11,000/s (the round trips
 * cost CPU that Node and the server share); one statement per batch
 * ~37,000/s. So a batch is written by ONE statement (atomic on its own):
 *
 *   input  = the batch as a JSON array, one record per message
 *   keys   = INSERT its idempotency keys ON CONFLICT DO NOTHING (a key
 *            another transaction holds is waited for, then skipped)
 *   insert = the messages without a key, and those whose key went in
 *   woken  = pg_notify on the outbox channel: delivered to the LISTENing
 *            workers of every node when (and only if) this statement's
 *            transaction commits, once per batch, not once per message
 *
 * Then each caller's result is worked out:
 * - message inserted → created;
 * - its key was already there → replayed or conflict, from the stored key;
 * - an earlier item of the same batch had the same key (a "follower") →
 *   judged against that key as stored after the batch, as if it came next.
 *
 * A unique violation (a duplicate message id: a bug or a replayed id)
 * fails the whole statement; the batch then falls back to one statement
 * per item, so that only the offending item gets ERR_CONFLICT.
 */
import type { NewMessage } from '../../core/message.js';
import type { AcceptResult, IdempotencyClaim } from '../../core/ports/store.js';
import type { ItemOutcome } from '../group-commit.js';
import { MESSAGE_INSERT_COLUMNS, messageInsertValues } from '../rows.js';
import { isSluiceError } from '../../core/errors.js';
import type { PgDatabase } from './pg-database.js';

export interface AcceptItem {
  message: NewMessage;
  idempotency: IdempotencyClaim | undefined;
}

interface StoredKey {
  requestHash: string;
  messageId: string;
}

const COLUMN_TYPES: Record<string, string> = {
  variables: 'json',
  headers: 'json',
  attempts: 'integer',
  due_at: 'bigint',
  created_at: 'bigint',
  updated_at: 'bigint',
  expires_at: 'bigint',
  variant: 'integer',
};
export const COLUMNS = MESSAGE_INSERT_COLUMNS.join(', ');
export const RECORD = MESSAGE_INSERT_COLUMNS.map((c) => `${c} ${COLUMN_TYPES[c] ?? 'text'}`).join(
  ', ',
);
const N = MESSAGE_INSERT_COLUMNS.length;
const CREATED_AT = MESSAGE_INSERT_COLUMNS.indexOf('created_at') + 1;
const SINGLE_PARAMS = MESSAGE_INSERT_COLUMNS.map(
  (c, i) => `$${i + 1}::${COLUMN_TYPES[c] ?? 'text'}`,
).join(', ');

const SQL = {
  batch: `WITH input AS (
      SELECT * FROM json_to_recordset($1::json)
        AS i (${RECORD}, idem_scope text, idem_key text, idem_hash text)),
    keys AS (
      INSERT INTO idempotency_keys (scope, key, request_hash, message_id, created_at)
      SELECT idem_scope, idem_key, idem_hash, id, created_at FROM input WHERE idem_key IS NOT NULL
      ON CONFLICT (scope, key) DO NOTHING
      RETURNING message_id),
    woken AS (SELECT pg_notify($2, ''))
    INSERT INTO messages (${COLUMNS})
    SELECT ${COLUMNS} FROM input
    WHERE (idem_key IS NULL OR id IN (SELECT message_id FROM keys)) AND EXISTS (SELECT 1 FROM woken)
    RETURNING id`,
  single: `INSERT INTO messages (${COLUMNS}) VALUES (${SINGLE_PARAMS})`,
  singleWithKey: `WITH key AS (
      INSERT INTO idempotency_keys (scope, key, request_hash, message_id, created_at)
      VALUES ($${N + 1}, $${N + 2}, $${N + 3}, $1, $${CREATED_AT})
      ON CONFLICT (scope, key) DO NOTHING
      RETURNING message_id)
    INSERT INTO messages (${COLUMNS}) SELECT ${SINGLE_PARAMS} WHERE EXISTS (SELECT 1 FROM key)
    RETURNING id`,
  findKeys: `SELECT scope, key, request_hash, message_id FROM idempotency_keys
    WHERE (scope, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
} as const;

function keyOf(claim: IdempotencyClaim): string {
  return JSON.stringify([claim.scope, claim.key]);
}

function judge(claim: IdempotencyClaim, stored: StoredKey): AcceptResult {
  return stored.requestHash === claim.requestHash
    ? { kind: 'replayed', id: stored.messageId }
    : { kind: 'conflict' };
}

export function batchRecord(item: AcceptItem): Record<string, unknown> {
  const values = messageInsertValues(item.message, (json) => json);
  const record: Record<string, unknown> = Object.fromEntries(
    MESSAGE_INSERT_COLUMNS.map((column, i) => [column, values[i]]),
  );
  record.idem_scope = item.idempotency?.scope ?? null;
  record.idem_key = item.idempotency?.key ?? null;
  record.idem_hash = item.idempotency?.requestHash ?? null;
  return record;
}

export async function commitAccepts(
  db: PgDatabase,
  items: readonly AcceptItem[],
  wakeChannel: string,
): Promise<ItemOutcome<AcceptResult>[]> {
  // Leaders write; a follower repeats a key an earlier item of the batch carries.
  const leaders = new Map<string, AcceptItem>();
  const writers = items.filter((item) => {
    if (!item.idempotency) return true;
    const key = keyOf(item.idempotency);
    if (leaders.has(key)) return false;
    leaders.set(key, item);
    return true;
  });
  let inserted: Set<string>;
  try {
    const rows = await db.rows<{ id: string }>(
      SQL.batch,
      [JSON.stringify(writers.map(batchRecord)), wakeChannel],
      'sluice_accept_batch_notify',
    );
    inserted = new Set(rows.map((row) => row.id));
  } catch (error) {
    if (!isSluiceError(error) || error.code !== 'ERR_CONFLICT') throw error;
    const outcomes = await acceptOneByOne(db, items);
    // Rare (a duplicate message id): the single statements carry no notify.
    await db.query("SELECT pg_notify($1, '')", [wakeChannel]);
    return outcomes;
  }
  const stored = await storedKeys(db, writers, inserted);
  return items.map((item): ItemOutcome<AcceptResult> => {
    const claim = item.idempotency;
    const leader = claim ? leaders.get(keyOf(claim)) : undefined;
    if (!claim || (leader === item && inserted.has(item.message.id))) {
      return { ok: true, value: { kind: 'created', id: item.message.id } };
    }
    const key = stored.get(keyOf(claim));
    if (!key) return { ok: false, error: new Error(`idempotency key ${keyOf(claim)} vanished`) };
    return { ok: true, value: judge(claim, key) };
  });
}

/** The stored key of every key in the batch: the leader's own when it was inserted, else read back. */
async function storedKeys(
  db: PgDatabase,
  writers: AcceptItem[],
  inserted: Set<string>,
): Promise<Map<string, StoredKey>> {
  const stored = new Map<string, StoredKey>();
  const missing: IdempotencyClaim[] = [];
  for (const { message, idempotency } of writers) {
    if (!idempotency) continue;
    if (inserted.has(message.id)) {
      stored.set(keyOf(idempotency), {
        requestHash: idempotency.requestHash,
        messageId: message.id,
      });
    } else {
      missing.push(idempotency);
    }
  }
  if (missing.length > 0) {
    const rows = await db.rows<{
      scope: string;
      key: string;
      request_hash: string;
      message_id: string;
    }>(SQL.findKeys, [missing.map((c) => c.scope), missing.map((c) => c.key)]);
    for (const row of rows) {
      stored.set(keyOf({ scope: row.scope, key: row.key, requestHash: '' }), {
        requestHash: row.request_hash,
        messageId: row.message_id,
      });
    }
  }
  return stored;
}

/** The slow path after a unique violation: one statement per item, in order. */
async function acceptOneByOne(
  db: PgDatabase,
  items: readonly AcceptItem[],
): Promise<ItemOutcome<AcceptResult>[]> {
  const outcomes: ItemOutcome<AcceptResult>[] = [];
  for (const item of items) {
    try {
      outcomes.push({ ok: true, value: await acceptOne(db, item) });
    } catch (error) {
      if (!isSluiceError(error) || error.code !== 'ERR_CONFLICT') throw error;
      outcomes.push({ ok: false, error });
    }
  }
  return outcomes;
}

export async function acceptOne(db: PgDatabase, item: AcceptItem): Promise<AcceptResult> {
  const { message, idempotency } = item;
  const values = messageInsertValues(message, JSON.stringify);
  if (!idempotency) {
    await db.query(SQL.single, values, 'sluice_accept');
    return { kind: 'created', id: message.id };
  }
  const { scope, key, requestHash } = idempotency;
  const result = await db.query(
    SQL.singleWithKey,
    [...values, scope, key, requestHash],
    'sluice_accept_key',
  );
  if (result.rowCount === 1) return { kind: 'created', id: message.id };
  const [row] = await db.rows<{ request_hash: string; message_id: string }>(SQL.findKeys, [
    [scope],
    [key],
  ]);
  if (!row) throw new Error(`idempotency key ${keyOf(idempotency)} vanished after a conflict`);
  return judge(idempotency, { requestHash: row.request_hash, messageId: row.message_id });
}
