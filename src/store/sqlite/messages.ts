/**
 * The outbox on SQLite: accept (group-committed), claim, settle, release.
 *
 * better-sqlite3 is synchronous: every method runs its transaction to the
 * end before returning, so a claim or settle never interleaves with another
 * write of this process. BEGIN IMMEDIATE takes the write lock up front, so
 * a second process (the CLI, say) waits on busy_timeout instead of failing
 * halfway through a transaction on a lock upgrade.
 */
import type {
  AttemptRecord,
  ClaimedMessage,
  NewMessage,
  StoredMessage,
} from '../../core/message.js';
import { MESSAGE_STATUSES, STREAMS } from '../../core/message.js';
import type { Settlement } from '../../core/outcome.js';
import type {
  AcceptResult,
  ClaimRequest,
  AcceptOptions,
  IdempotencyClaim,
  MessageStore,
  StatusCounts,
} from '../../core/ports/store.js';
import { GroupCommit, type ItemOutcome } from '../group-commit.js';
import {
  attemptFromRow,
  claimedFromRow,
  countsByStatus,
  contactSnapshot,
  leasedFromNew,
  decodeJsonText,
  MESSAGE_INSERT_COLUMNS,
  messageFromRow,
  messageInsertValues,
  type AttemptRow,
  type ClaimedMessageRow,
  type MessageRow,
} from '../rows.js';
import { itemOutcomes, runDeferred, runDurable } from './deferred-commit.js';
import { promised } from './sqlite-errors.js';
import { unavailableError } from '../store-errors.js';
import type { StatementCache } from './statement-cache.js';
import type { WalSync } from './wal-sync.js';
import { upsertSuppression } from './suppressions.js';
import { enqueueEvent, hasSubscribers } from './webhooks.js';
import {
  messageEventData,
  newWebhookEventId,
  settlementEventType,
} from '../../core/webhook-events.js';

interface AcceptItem {
  message: NewMessage;
  idempotency: IdempotencyClaim | undefined;
  leaseTo?: { owner: string; until: number } | undefined;
}

const STATUS_COLUMN = MESSAGE_INSERT_COLUMNS.indexOf('status');
const DUE_AT_COLUMN = MESSAGE_INSERT_COLUMNS.indexOf('due_at');

/** Must read exactly as in the partial index `messages_claim`, or SQLite will not use it. */
const CLAIMABLE = `status IN ('queued', 'deferred', 'sending')`;

/**
 * The columns a claim reads, in the order of the pick's rows: arrays
 * (better-sqlite3's raw mode) made into rows by pickedRow(). As objects,
 * the driver set ~30 properties one by one on each fresh object: a 500-row
 * pick of campaign messages took 6.2 µs a row, 2.9 as arrays, and the whole
 * claim 14.0 → 9.9 µs a message with this literal (11.8 with a loop setting
 * the properties by name; 30 Nov 2026, bench in docs/benchmarks.md).
 */
export const PICKED_COLUMNS = [
  ...MESSAGE_INSERT_COLUMNS,
  'lease_owner',
  'last_error',
  'bounce_category',
  'contact_id',
  'contact_attributes',
] as const satisfies readonly (keyof ClaimedMessageRow)[];
const PICKED_SOURCES: Partial<Record<(typeof PICKED_COLUMNS)[number], string>> = {
  contact_id: 'c.id',
  contact_attributes: 'c.attributes',
};

/** A picked row from its array, in PICKED_COLUMNS order (pick-columns.test.ts checks the two agree). */
export function pickedRow(v: readonly unknown[]): ClaimedMessageRow {
  return {
    id: v[0],
    stream: v[1],
    from_email: v[2],
    from_name: v[3],
    to_email: v[4],
    to_name: v[5],
    reply_to_email: v[6],
    reply_to_name: v[7],
    template_id: v[8],
    subject: v[9],
    html: v[10],
    text: v[11],
    variables: v[12],
    headers: v[13],
    message_id: v[14],
    status: v[15],
    attempts: v[16],
    due_at: v[17],
    created_at: v[18],
    updated_at: v[19],
    expires_at: v[20],
    campaign_id: v[21],
    variant: v[22],
    event_received_at: v[23],
    lease_owner: v[24],
    last_error: v[25],
    bounce_category: v[26],
    contact_id: v[27],
    contact_attributes: v[28],
  } as ClaimedMessageRow;
}

/**
 * Messages of a paused or cancelled campaign are never claimed. Pausing
 * holds them (dueAt far ahead, so claims do not even reach them); this
 * catches the few that became due again meanwhile (a retry scheduled by an
 * attempt in flight at the pause).
 */
const NOT_HELD = `(m.campaign_id IS NULL OR NOT EXISTS (SELECT 1 FROM campaigns k
    WHERE k.id = m.campaign_id AND k.status IN ('paused', 'cancelled')))`;

/**
 * Rows a statement of acceptBatch: 1,000-message batches of campaign
 * messages, 8.9 → 7.1 µs a message (store microbenchmark, 30 Nov 2026);
 * 20 rows 7.8, 50 rows 7.4 in a bare loop. 50 × 24 values stays far below
 * SQLite's limit of 32,766 bound values a statement.
 */
const INSERT_ROWS = 50;

function insertIgnoring(rows: number): string {
  const row = `(${MESSAGE_INSERT_COLUMNS.map(() => '?').join(', ')})`;
  return `INSERT INTO messages (${MESSAGE_INSERT_COLUMNS.join(', ')})
    VALUES ${Array.from({ length: rows }, () => row).join(', ')} ON CONFLICT DO NOTHING`;
}

export const OUTBOX_SQL = {
  insertMessage: `INSERT INTO messages (${MESSAGE_INSERT_COLUMNS.join(', ')})
    VALUES (${MESSAGE_INSERT_COLUMNS.map(() => '?').join(', ')})`,
  findIdempotency: `SELECT request_hash, message_id FROM idempotency_keys WHERE scope = ? AND key = ?`,
  insertIdempotency: `INSERT INTO idempotency_keys (scope, key, request_hash, message_id, created_at)
    VALUES (?, ?, ?, ?, ?)`,
  // A message stored already claimed (AcceptOptions.leaseTo): as a claim leaves it.
  insertLeased: `INSERT INTO messages (${MESSAGE_INSERT_COLUMNS.join(', ')}, lease_owner)
    VALUES (${MESSAGE_INSERT_COLUMNS.map(() => '?').join(', ')}, ?)`,
  contactOf: `SELECT id, attributes FROM contacts WHERE email = ?`,
  insertIgnoring: insertIgnoring(1),
  // The fan-out's rows INSERT_ROWS at a time (the rest of a batch one by one):
  // one statement's call, binding and step for many rows.
  insertIgnoringMany: insertIgnoring(INSERT_ROWS),
  campaignSending: `SELECT 1 FROM campaigns WHERE id = ? AND status = 'sending'`,
  get: `SELECT * FROM messages WHERE id = ?`,
  attempts: `SELECT * FROM message_attempts WHERE message_id = ? ORDER BY attempt`,
  // Whether a stream has anything due, before the pick: the pick returning
  // whole rows joined with contacts took ~55 µs even when it found nothing,
  // this ~12 µs (30 Nov 2026, a 3,000-row outbox), and a claim usually finds
  // one of the two streams empty (journeys' sends, or a campaign's).
  anyDue: `SELECT 1 FROM messages m WHERE m.stream = ? AND m.${CLAIMABLE} AND m.due_at <= ? LIMIT 1`,
  // Rows as arrays (raw mode), in PICKED_COLUMNS order, then the rowid.
  pick: `SELECT ${PICKED_COLUMNS.map((c) => PICKED_SOURCES[c] ?? `m.${c}`).join(', ')}, m.rowid
    FROM messages m LEFT JOIN contacts c ON c.email = m.to_email
    WHERE m.stream = ? AND m.${CLAIMABLE} AND m.due_at <= ? AND ${NOT_HELD}
    ORDER BY m.due_at LIMIT ?`,
  // The picked rows at once, by rowid (a JSON array): one statement a claim
  // instead of one a row, and no search of the id index (a 500-row claim:
  // 16 → 13 µs a message with its pick, 30 Nov 2026).
  lease: `UPDATE messages SET status = 'sending', due_at = ?, lease_owner = ?, updated_at = ?
    WHERE rowid IN (SELECT value FROM json_each(?))`,
  settle: `UPDATE messages
    SET status = ?, due_at = ?, lease_owner = NULL, last_error = ?, attempts = attempts + ?,
        bounce_category = ?, updated_at = ?
    WHERE id = ? AND lease_owner = ? AND status = 'sending'`,
  settled: `SELECT attempts, to_email, stream FROM messages WHERE id = ?`,
  // The attempt number is the row's counter, read by the INSERT itself: no
  // read back into JavaScript a settlement (~2 µs of its ~17, 30 Nov 2026).
  insertAttempt: `INSERT INTO message_attempts
    (message_id, attempt, relay, started_at, finished_at, outcome, code, enhanced_code, response,
     category)
    SELECT id, attempts, ?, ?, ?, ?, ?, ?, ?, ? FROM messages WHERE id = ?`,
  release: `UPDATE messages SET status = 'queued', due_at = ?, lease_owner = NULL, updated_at = ?
    WHERE id = ? AND lease_owner = ? AND status = 'sending'`,
  reclaimAbandoned: `UPDATE messages SET status = 'queued', due_at = ?, lease_owner = NULL, updated_at = ?
    WHERE status = 'sending'`,
  countByStatus: `SELECT status, count(*) AS n FROM messages GROUP BY status`,
  nextDue: `SELECT due_at FROM messages WHERE stream = ? AND ${CLAIMABLE} ORDER BY due_at LIMIT 1`,
} as const;

export class SqliteMessageStore implements MessageStore {
  private readonly accepts: GroupCommit<AcceptItem, AcceptResult>;

  constructor(
    private readonly cache: StatementCache,
    maxBatch?: number,
    /** Makes durable accept batches durable off the event loop (./wal-sync.ts); without it, a FULL commit. */
    private readonly wal?: WalSync,
  ) {
    const commit = (items: readonly AcceptItem[]): Promise<ItemOutcome<AcceptResult>[]> =>
      this.commitAccepts(items);
    this.accepts = new GroupCommit({ commit, ...(maxBatch ? { maxBatch } : {}) });
  }

  accept(
    message: NewMessage,
    idempotency?: IdempotencyClaim,
    options: AcceptOptions = {},
  ): Promise<AcceptResult> {
    // Closed for deferred accepts too, which do not go through the group commit.
    if (this.accepts.isClosed) return Promise.reject(unavailableError('the store is closed'));
    const item = { message, idempotency, leaseTo: options.leaseTo };
    if (options.durability === 'deferred') {
      // A journey's send: at once, in the turn of the journey writes it follows (./journeys.ts).
      return promised(() => this.cache.deferred(() => this.acceptOne(item)), {
        id: message.id,
      });
    }
    return this.accepts.submit(item);
  }

  /** Waits for accepts already submitted, then refuses new ones. */
  close(): Promise<void> {
    return this.accepts.close();
  }

  /**
   * One transaction for the batch, one savepoint per item: a constraint
   * violation (a duplicate id) rolls back that item only and becomes its
   * outcome; any other error aborts the transaction and fails the batch.
   */
  private commitAccepts(items: readonly AcceptItem[]): Promise<ItemOutcome<AcceptResult>[]> {
    const acceptAll = (): ItemOutcome<AcceptResult>[] =>
      itemOutcomes(
        this.cache,
        items,
        (item) => this.acceptOne(item),
        (item) => ({ id: item.message.id }),
      );
    return runDurable(this.cache, this.wal, acceptAll);
  }

  private acceptOne({ message, idempotency, leaseTo }: AcceptItem): AcceptResult {
    if (idempotency) {
      const previous = this.cache
        .get<{ request_hash: string; message_id: string }>(OUTBOX_SQL.findIdempotency)
        .get(idempotency.scope, idempotency.key);
      if (previous) {
        return previous.request_hash === idempotency.requestHash
          ? { kind: 'replayed', id: previous.message_id }
          : { kind: 'conflict' };
      }
    }
    const claimed = leaseTo ? this.insertLeased(message, leaseTo) : undefined;
    if (!claimed) {
      this.cache.get(OUTBOX_SQL.insertMessage).run(...messageInsertValues(message, JSON.stringify));
    }
    if (idempotency) {
      this.cache
        .get(OUTBOX_SQL.insertIdempotency)
        .run(
          idempotency.scope,
          idempotency.key,
          idempotency.requestHash,
          message.id,
          message.createdAt,
        );
    }
    return claimed
      ? { kind: 'created', id: message.id, claimed }
      : { kind: 'created', id: message.id };
  }

  /**
   * Inserts the message as a claim leaves it: sending, leased to `owner`
   * until `until`. Returned as the claim's read would return it, with its
   * contact, without reading the row back (INSERT … RETURNING costs twice a
   * plain INSERT on SQLite, and a read back ~15 µs a triggered email).
   */
  private insertLeased(
    message: NewMessage,
    leaseTo: { owner: string; until: number },
  ): ClaimedMessage {
    const values = messageInsertValues(message, JSON.stringify);
    values[STATUS_COLUMN] = 'sending';
    values[DUE_AT_COLUMN] = leaseTo.until;
    this.cache.get(OUTBOX_SQL.insertLeased).run(...values, leaseTo.owner);
    const claimed: ClaimedMessage = leasedFromNew(message, leaseTo);
    const contact = this.cache
      .get<{ id: string; attributes: string }>(OUTBOX_SQL.contactOf)
      .get(message.to.email);
    if (contact) claimed.contact = contactSnapshot(contact.id, contact.attributes, decodeJsonText);
    return claimed;
  }

  /** One IMMEDIATE transaction: the campaign's status is read under the write lock a pause needs too. */
  acceptBatch(messages: NewMessage[], options: { campaignId?: string } = {}): Promise<number> {
    if (messages.length === 0) return Promise.resolve(0);
    const run = this.cache.transaction(() => {
      const { campaignId } = options;
      if (campaignId !== undefined && !this.cache.get(OUTBOX_SQL.campaignSending).get(campaignId)) {
        return 0;
      }
      const many = this.cache.get(OUTBOX_SQL.insertIgnoringMany);
      const one = this.cache.get(OUTBOX_SQL.insertIgnoring);
      let created = 0;
      let next = 0;
      for (; next + INSERT_ROWS <= messages.length; next += INSERT_ROWS) {
        const values: unknown[] = [];
        for (let i = next; i < next + INSERT_ROWS; i++) {
          values.push(...messageInsertValues(messages[i] as NewMessage, JSON.stringify));
        }
        created += many.run(...values).changes;
      }
      for (const message of messages.slice(next)) {
        created += one.run(...messageInsertValues(message, JSON.stringify)).changes;
      }
      return created;
    });
    // Deferred (no fsync of its own, on the event loop): a batch lost to a power
    // cut is written again when the fan-out resumes from its saved cursor, which
    // commits after it (the WAL keeps commits in order). Its messages may have
    // been sent meanwhile: at least once, as after any crash (docs/storage.md).
    return promised(() => runDeferred(this.cache, () => run.immediate()));
  }

  get(id: string): Promise<StoredMessage | undefined> {
    return promised(() => {
      const row = this.cache.get<MessageRow>(OUTBOX_SQL.get).get(id);
      return row ? messageFromRow(row, decodeJsonText) : undefined;
    });
  }

  attempts(id: string): Promise<AttemptRecord[]> {
    return promised(() =>
      this.cache.get<AttemptRow>(OUTBOX_SQL.attempts).all(id).map(attemptFromRow),
    );
  }

  /** Streams in priority order (transactional first); within one, the rows due first. */
  claim({ limit, leaseMs, owner, now }: ClaimRequest): Promise<ClaimedMessage[]> {
    if (limit <= 0) return Promise.resolve([]);
    const leaseUntil = now + leaseMs;
    const run = (): ClaimedMessage[] => {
      const claimed: ClaimedMessage[] = [];
      for (const stream of STREAMS) {
        const room = limit - claimed.length;
        if (room <= 0) break;
        if (!this.cache.get(OUTBOX_SQL.anyDue).get(stream, now)) continue;
        const rows = this.cache.get<unknown[]>(OUTBOX_SQL.pick).raw(true).all(stream, now, room);
        if (rows.length === 0) continue;
        const keys = JSON.stringify(rows.map((row) => row[PICKED_COLUMNS.length]));
        this.cache.get(OUTBOX_SQL.lease).run(leaseUntil, owner, now, keys);
        for (const values of rows) {
          // Set on the fresh object rather than spread into a copy: a second
          // ~20-field object a claimed message, for the garbage collector.
          const message = claimedFromRow(pickedRow(values), decodeJsonText);
          message.status = 'sending';
          message.dueAt = leaseUntil;
          message.leaseOwner = owner;
          message.updatedAt = now;
          claimed.push(message);
        }
      }
      return claimed;
    };
    // Deferred: a claim lost to a power cut leaves the message queued, to be claimed again.
    return promised(() => runDeferred(this.cache, () => this.cache.immediate(run)));
  }

  /**
   * A settlement applies only while its row is still `sending` under its
   * owner; otherwise the lease was taken over and the new owner's work wins.
   * The attempt number is the row's counter after the increment, so a
   * retried worker can never write a duplicate attempt. Each applied
   * settlement's webhook event (core/webhook-events.ts) joins the webhook
   * outbox in the same transaction.
   */
  settle(settlements: Settlement[]): Promise<string[]> {
    if (settlements.length === 0) return Promise.resolve([]);
    const run = (): string[] => {
      const applied: string[] = [];
      // No RETURNING (it costs more than the UPDATE on SQLite): the attempt's
      // INSERT reads the counter from the row, and a webhook event reads the row back.
      const update = this.cache.get(OUTBOX_SQL.settle);
      const settled = this.cache.get<{ attempts: number; to_email: string; stream: string }>(
        OUTBOX_SQL.settled,
      );
      const insertAttempt = this.cache.get(OUTBOX_SQL.insertAttempt);
      const webhooks = hasSubscribers(this.cache);
      for (const s of settlements) {
        const dueAt = s.status === 'deferred' ? s.dueAt : s.at;
        const { changes } = update.run(
          s.status,
          dueAt,
          s.lastError ?? null,
          s.attempt ? 1 : 0,
          s.bounceCategory ?? null,
          s.at,
          s.id,
          s.leaseOwner,
        );
        if (changes === 0) continue;
        applied.push(s.id);
        if (s.attempt) {
          const a = s.attempt;
          insertAttempt.run(
            a.relay ?? null,
            a.startedAt,
            a.finishedAt,
            a.outcome,
            a.code ?? null,
            a.enhancedCode ?? null,
            a.response,
            a.category ?? null,
            s.id,
          );
        }
        if (s.suppress) upsertSuppression(this.cache, s.suppress);
        const type = webhooks ? settlementEventType(s) : undefined;
        const row = type ? settled.get(s.id) : undefined;
        if (type && row) {
          enqueueEvent(this.cache, {
            id: newWebhookEventId(s.at),
            type,
            createdAt: s.at,
            data: messageEventData(s, {
              attempts: row.attempts,
              toEmail: row.to_email,
              stream: row.stream,
            }),
          });
        }
      }
      return applied;
    };
    // Deferred: a settlement lost to a power cut leaves the message `sending`;
    // its lease runs out and it is sent again (at least once, as after a crash).
    return promised(() => runDeferred(this.cache, () => this.cache.immediate(run)));
  }

  release(ids: string[], owner: string, now: number): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    const run = this.cache.transaction(() => {
      const release = this.cache.get(OUTBOX_SQL.release);
      for (const id of ids) release.run(now, now, id, owner);
    });
    return promised(() => run.immediate());
  }

  reclaimAbandoned(now: number): Promise<number> {
    return promised(() => this.cache.get(OUTBOX_SQL.reclaimAbandoned).run(now, now).changes);
  }

  /** Off the event loop when it can be (StatementCache.readAll): O(messages), read at each metrics scrape. */
  async countByStatus(): Promise<StatusCounts> {
    const rows = await this.cache.readAll<{ status: string; n: number }>(OUTBOX_SQL.countByStatus);
    return countsByStatus(MESSAGE_STATUSES, rows);
  }

  nextDueAt(): Promise<number | undefined> {
    return promised(() => {
      const next = this.cache.get<{ due_at: number }>(OUTBOX_SQL.nextDue);
      const dues = STREAMS.flatMap((stream) => next.get(stream)?.due_at ?? []);
      return dues.length > 0 ? Math.min(...dues) : undefined;
    });
  }
}
