/**
 * The outbox on PostgreSQL. Every write is ONE statement (atomic on its
 * own, one round trip), so many Sluice processes can share the table:
 *
 * - accept: group-committed, one statement per batch (see accept.ts); an
 *   idempotency key's `ON CONFLICT DO NOTHING` waits for a concurrent
 *   holder of the same key and then yields to it, so one key stores one
 *   message however many nodes receive the request.
 * - claim: `FOR UPDATE SKIP LOCKED` per stream, in priority order, then the
 *   lease update and the contact join: two nodes never get the same row,
 *   and neither waits for the other.
 * - settle: the whole batch as one JSON parameter, guarded by owner, with
 *   each applied settlement's webhook event in the webhook outbox.
 */
import type {
  AttemptRecord,
  ClaimedMessage,
  NewMessage,
  StoredMessage,
} from '../../core/message.js';
import { MESSAGE_STATUSES, STREAMS } from '../../core/message.js';
import type { Settlement } from '../../core/outcome.js';
import { suppressionKey } from '../../core/suppression.js';
import type {
  AcceptResult,
  ClaimRequest,
  IdempotencyClaim,
  MessageStore,
  StatusCounts,
} from '../../core/ports/store.js';
import { GroupCommit } from '../group-commit.js';
import {
  attemptFromRow,
  claimedFromRow,
  countsByStatus,
  decodeJsonb,
  messageFromRow,
  type AttemptRow,
  type ClaimedMessageRow,
  type MessageRow,
} from '../rows.js';
import { unavailableError } from '../store-errors.js';
import {
  newWebhookEventId,
  settlementEventData,
  settlementEventType,
} from '../../core/webhook-events.js';
import { batchRecord, COLUMNS, commitAccepts, RECORD, type AcceptItem } from './accept.js';
import type { PgDatabase } from './pg-database.js';

/** Must read as in the partial index `messages_claim` for the planner to use it. */
const CLAIMABLE = `status IN ('queued', 'deferred', 'sending')`;

/** Messages of a paused or cancelled campaign are never claimed (see the SQLite outbox). */
const NOT_HELD = `(campaign_id IS NULL OR NOT EXISTS (SELECT 1 FROM campaigns k
    WHERE k.id = messages.campaign_id AND k.status IN ('paused', 'cancelled')))`;

/** One CTE per stream, in priority order; each takes the room the ones before it left. */
function claimSql(): string {
  const picks = STREAMS.map((stream, rank) => {
    const taken = STREAMS.slice(0, rank).map((_, r) => `(SELECT count(*) FROM pick${r})`);
    const room = ['$2::bigint', ...taken].join(' - ');
    return `pick${rank} AS (
      SELECT id, due_at, ${rank} AS rank FROM messages
      WHERE stream = '${stream}' AND ${CLAIMABLE} AND due_at <= $1 AND ${NOT_HELD}
      ORDER BY due_at LIMIT (${room})
      FOR UPDATE SKIP LOCKED)`;
  });
  const picked = STREAMS.map((_, rank) => `SELECT * FROM pick${rank}`).join(' UNION ALL ');
  return `WITH ${picks.join(',\n')},
    picked AS (${picked}),
    leased AS (
      UPDATE messages SET status = 'sending', due_at = $3, lease_owner = $4, updated_at = $1
      WHERE id = ANY (ARRAY(SELECT id FROM picked))
      RETURNING *)
    SELECT l.*, c.id AS contact_id, c.attributes AS contact_attributes
    FROM leased l
    JOIN picked p ON p.id = l.id
    LEFT JOIN contacts c ON c.email = l.to_email
    ORDER BY p.rank, p.due_at`;
}

export const OUTBOX_SQL = {
  campaignSending: `SELECT status FROM campaigns WHERE id = $1 FOR SHARE`,
  insertIgnoring: `INSERT INTO messages (${COLUMNS})
    SELECT ${COLUMNS} FROM json_to_recordset($1::json) AS i (${RECORD})
    ON CONFLICT DO NOTHING`,
  get: `SELECT * FROM messages WHERE id = $1`,
  attempts: `SELECT * FROM message_attempts WHERE message_id = $1 ORDER BY attempt`,
  claim: claimSql(),
  settle: `WITH input AS (
      SELECT * FROM jsonb_to_recordset($1::jsonb) AS i (
        ord integer, id text, lease_owner text, status text, due_at bigint, last_error text,
        at bigint, has_attempt boolean, relay text, started_at bigint, finished_at bigint,
        outcome text, code integer, enhanced_code text, response text, category text,
        bounce_category text, suppress_email text, suppress_reason text,
        suppress_category text, suppress_source text, webhook_event_id text, webhook_type text,
        webhook_data jsonb)),
    settled AS (
      UPDATE messages m
      SET status = i.status, due_at = i.due_at, lease_owner = NULL, last_error = i.last_error,
          attempts = m.attempts + CASE WHEN i.has_attempt THEN 1 ELSE 0 END,
          bounce_category = i.bounce_category, updated_at = i.at
      FROM input i
      WHERE m.id = i.id AND m.lease_owner = i.lease_owner AND m.status = 'sending'
      RETURNING m.id, m.attempts, i.ord, m.to_email, m.stream),
    recorded AS (
      INSERT INTO message_attempts
        (message_id, attempt, relay, started_at, finished_at, outcome, code, enhanced_code, response,
         category)
      SELECT s.id, s.attempts, i.relay, i.started_at, i.finished_at, i.outcome, i.code,
             i.enhanced_code, i.response, i.category
      FROM settled s JOIN input i ON i.ord = s.ord
      WHERE i.has_attempt),
    suppressed AS (
      -- One row per address (an upsert may not touch a row twice): the latest settlement's.
      INSERT INTO suppressions (email, reason, category, source_message_id, created_at, updated_at)
      SELECT DISTINCT ON (i.suppress_email) i.suppress_email, i.suppress_reason,
             i.suppress_category, i.suppress_source, i.at, i.at
      FROM settled s JOIN input i ON i.ord = s.ord
      WHERE i.suppress_email IS NOT NULL
      ORDER BY i.suppress_email, i.ord DESC
      ON CONFLICT (email) DO UPDATE SET reason = excluded.reason, category = excluded.category,
        source_message_id = excluded.source_message_id, updated_at = excluded.updated_at),
    hooked AS (
      -- The webhook outbox (core/webhook-events.ts): the settlement's data plus what the row knows.
      INSERT INTO webhook_deliveries
        (endpoint_id, event_id, type, data, created_at, status, attempts, next_attempt_at)
      SELECT e.id, i.webhook_event_id, i.webhook_type,
             i.webhook_data || jsonb_build_object('recipient', s.to_email, 'stream', s.stream)
               || CASE WHEN i.has_attempt THEN jsonb_build_object('attempt', s.attempts)
                  ELSE '{}'::jsonb END,
             i.at, 'pending', 0, i.at
      FROM settled s JOIN input i ON i.ord = s.ord
      JOIN webhook_endpoints e ON e.enabled AND e.events ? i.webhook_type
      WHERE i.webhook_type IS NOT NULL)
    SELECT id FROM settled ORDER BY ord`,
  release: `UPDATE messages SET status = 'queued', due_at = $1, lease_owner = NULL, updated_at = $1
    WHERE id = ANY($2::text[]) AND lease_owner = $3 AND status = 'sending'`,
  reclaimAbandoned: `UPDATE messages SET status = 'queued', due_at = $1, lease_owner = NULL, updated_at = $1
    WHERE status = 'sending'`,
  countByStatus: `SELECT status, count(*) AS n FROM messages GROUP BY status`,
  nextDue: `SELECT least(${STREAMS.map(
    (stream) =>
      `(SELECT due_at FROM messages WHERE stream = '${stream}' AND ${CLAIMABLE} ORDER BY due_at LIMIT 1)`,
  ).join(', ')}) AS next`,
} as const;

/** A settlement as one row of the settle statement's JSON input. */
function settlementRow(s: Settlement, ord: number): Record<string, unknown> {
  const a = s.attempt;
  return {
    ord,
    id: s.id,
    lease_owner: s.leaseOwner,
    status: s.status,
    due_at: s.status === 'deferred' ? s.dueAt : s.at,
    last_error: s.lastError ?? null,
    at: s.at,
    has_attempt: a !== undefined,
    relay: a?.relay ?? null,
    started_at: a?.startedAt ?? null,
    finished_at: a?.finishedAt ?? null,
    outcome: a?.outcome ?? null,
    code: a?.code ?? null,
    enhanced_code: a?.enhancedCode ?? null,
    response: a?.response ?? null,
    category: a?.category ?? null,
    bounce_category: s.bounceCategory ?? null,
    suppress_email: s.suppress ? suppressionKey(s.suppress.email) : null,
    suppress_reason: s.suppress?.reason ?? null,
    suppress_category: s.suppress?.category ?? null,
    suppress_source: s.suppress?.sourceMessageId ?? null,
    ...webhookColumns(s),
  };
}

/** The settlement's webhook event, completed in SQL with recipient, stream and attempt number. */
function webhookColumns(s: Settlement): Record<string, unknown> {
  const type = settlementEventType(s);
  return type
    ? {
        webhook_event_id: newWebhookEventId(s.at),
        webhook_type: type,
        webhook_data: settlementEventData(s),
      }
    : { webhook_event_id: null, webhook_type: null, webhook_data: null };
}

export class PgMessageStore implements MessageStore {
  private readonly accepts: GroupCommit<AcceptItem, AcceptResult>;

  /** `wakeChannel`: the NOTIFY channel each accept batch signals (see accept.ts). */
  constructor(
    private readonly db: PgDatabase,
    private readonly wakeChannel: string,
  ) {
    this.accepts = new GroupCommit({ commit: (items) => commitAccepts(db, items, wakeChannel) });
  }

  accept(message: NewMessage, idempotency?: IdempotencyClaim): Promise<AcceptResult> {
    if (this.accepts.isClosed) return Promise.reject(unavailableError('the store is closed'));
    return this.accepts.submit({ message, idempotency });
  }

  /** Waits for accepts already submitted, then refuses new ones. */
  close(): Promise<void> {
    return this.accepts.close();
  }

  /**
   * One transaction: the campaign row FOR SHARE (a pause or cancel, which
   * updates it, waits for this batch or makes it write nothing), one INSERT
   * of the whole batch as JSON, and a NOTIFY delivered on commit.
   */
  async acceptBatch(
    messages: NewMessage[],
    options: { campaignId?: string } = {},
  ): Promise<number> {
    if (messages.length === 0) return 0;
    const records = JSON.stringify(
      messages.map((message) => batchRecord({ message, idempotency: undefined })),
    );
    return this.db.transaction(async (client) => {
      const { campaignId } = options;
      if (campaignId !== undefined) {
        const { rows } = await client.query<{ status: string }>(OUTBOX_SQL.campaignSending, [
          campaignId,
        ]);
        if (rows[0]?.status !== 'sending') return 0;
      }
      const result = await client.query(OUTBOX_SQL.insertIgnoring, [records]);
      await client.query("SELECT pg_notify($1, '')", [this.wakeChannel]);
      return result.rowCount ?? 0;
    });
  }

  async get(id: string): Promise<StoredMessage | undefined> {
    const [row] = await this.db.rows<MessageRow>(OUTBOX_SQL.get, [id]);
    return row ? messageFromRow(row, decodeJsonb) : undefined;
  }

  async attempts(id: string): Promise<AttemptRecord[]> {
    return (await this.db.rows<AttemptRow>(OUTBOX_SQL.attempts, [id])).map(attemptFromRow);
  }

  async claim({ limit, leaseMs, owner, now }: ClaimRequest): Promise<ClaimedMessage[]> {
    if (limit <= 0) return [];
    const rows = await this.db.rows<ClaimedMessageRow>(
      OUTBOX_SQL.claim,
      [now, limit, now + leaseMs, owner],
      'sluice_claim',
    );
    return rows.map((row) => claimedFromRow(row, decodeJsonb));
  }

  /**
   * One statement for the batch. An id given twice is settled by its first
   * settlement only (the second would find the row no longer `sending`, as
   * it would on SQLite). The attempt number is the row's counter after the
   * increment.
   */
  async settle(settlements: Settlement[]): Promise<string[]> {
    const seen = new Set<string>();
    const input = settlements.flatMap((s, ord) => {
      if (seen.has(s.id)) return [];
      seen.add(s.id);
      return [settlementRow(s, ord)];
    });
    if (input.length === 0) return [];
    const rows = await this.db.rows<{ id: string }>(
      OUTBOX_SQL.settle,
      [JSON.stringify(input)],
      'sluice_settle',
    );
    return rows.map((row) => row.id);
  }

  async release(ids: string[], owner: string, now: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query(OUTBOX_SQL.release, [now, ids, owner]);
  }

  async reclaimAbandoned(now: number): Promise<number> {
    const result = await this.db.query(OUTBOX_SQL.reclaimAbandoned, [now]);
    return result.rowCount ?? 0;
  }

  async countByStatus(): Promise<StatusCounts> {
    const rows = await this.db.rows<{ status: string; n: number }>(OUTBOX_SQL.countByStatus);
    return countsByStatus(MESSAGE_STATUSES, rows);
  }

  async nextDueAt(): Promise<number | undefined> {
    const [row] = await this.db.rows<{ next: number | null }>(OUTBOX_SQL.nextDue);
    return row?.next ?? undefined;
  }
}
