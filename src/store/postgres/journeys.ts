/**
 * Journeys on PostgreSQL (see the JourneyStore port for the contract).
 * Several nodes share the tables, so:
 * - due runs are claimed with FOR UPDATE SKIP LOCKED, in one statement that
 *   leases them (next_at = lease end, lease_owner = node);
 * - a run waiting for an event is claimed and moved past its wait-for by one
 *   UPDATE, which row locks serialize against a timer claim;
 * - entering checks the trigger key, upserts the contact's last entry
 *   (a conditional ON CONFLICT: the row lock makes a second entrant wait,
 *   then see the first's entry) and inserts the run, in one transaction;
 * - a send is checked against the caps and logged with the contact's row
 *   locked (SELECT … FOR UPDATE), so two journeys cannot both take the last
 *   slot of a cap.
 */
import type pg from 'pg';
import type { JourneyDefinition, JourneyStatus } from '../../core/journey.js';
import type {
  ClaimRequest,
  EntryResult,
  EventCursor,
  Journey,
  JourneyRun,
  JourneyRunStatus,
  JourneyStore,
  Page,
  PageQuery,
  RunEntry,
  RunUpdate,
  SendRecord,
  StoredEvent,
} from '../../core/ports/store.js';
import type { SegmentCondition } from '../../core/segment.js';
import { type CapRule } from '../../core/frequency-cap.js';
import { eventFromRow, type EventRow } from '../event-rows.js';
import {
  cooldownParam,
  emptyRunCounts,
  journeyFromRow,
  runFromRow,
  type JourneyRow,
  type RunRow,
} from '../journey-rows.js';
import { afterCursor, fetchSize, toPage } from '../paging.js';
import { decodeJsonb } from '../rows.js';
import type { PgDatabase } from './pg-database.js';
import { postgresSegmentWhere } from './segment-sql.js';

const SQL = {
  insert: `INSERT INTO journeys (id, name, status, version, definition, activated_at, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)`,
  insertVersion: `INSERT INTO journey_versions (journey_id, version, definition, created_at)
    VALUES ($1, $2, $3::jsonb, $4)`,
  get: `SELECT * FROM journeys WHERE id = $1`,
  getForUpdate: `SELECT * FROM journeys WHERE id = $1 FOR UPDATE`,
  page: `SELECT * FROM journeys WHERE id > $1 ORDER BY id LIMIT $2`,
  active: `SELECT * FROM journeys WHERE status = 'active' ORDER BY id`,
  update: `UPDATE journeys SET name = $2, status = $3, version = $4, definition = $5::jsonb,
    activated_at = $6, updated_at = $7 WHERE id = $1 RETURNING *`,
  delete: `DELETE FROM journeys WHERE id = $1`,
  version: `SELECT definition FROM journey_versions WHERE journey_id = $1 AND version = $2`,
  runByTrigger: `SELECT 1 FROM journey_runs WHERE journey_id = $1 AND trigger_key = $2`,
  enterOnce: `INSERT INTO journey_entries (journey_id, contact_id, entered_at) VALUES ($1, $2, $3)
    ON CONFLICT (journey_id, contact_id) DO UPDATE SET entered_at = excluded.entered_at
    WHERE journey_entries.entered_at <= excluded.entered_at - $4::bigint
    RETURNING entered_at`,
  enterAlways: `INSERT INTO journey_entries (journey_id, contact_id, entered_at) VALUES ($1, $2, $3)
    ON CONFLICT (journey_id, contact_id) DO UPDATE
    SET entered_at = greatest(journey_entries.entered_at, excluded.entered_at)`,
  insertRun: `INSERT INTO journey_runs (id, journey_id, version, contact_id, trigger_key, trigger,
      status, pc, next_at, lease_owner, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6::jsonb, 'active', 0, $7, $8, $9, $9)
    ON CONFLICT (journey_id, trigger_key) DO NOTHING
    RETURNING *`,
  claimDue: `WITH picked AS (
      SELECT id FROM journey_runs WHERE status = 'active' AND next_at <= $1
      ORDER BY next_at LIMIT $2 FOR UPDATE SKIP LOCKED)
    UPDATE journey_runs r SET next_at = $3, lease_owner = $4, updated_at = $1
    FROM picked WHERE r.id = picked.id
    RETURNING r.*`,
  claimWaiting: `UPDATE journey_runs
    SET pc = pc + 1, wait_event = NULL, waiting_since = NULL, next_at = $1, lease_owner = $2,
      updated_at = $3
    WHERE contact_id = $4 AND wait_event = $5 AND status = 'active' AND waiting_since <= $6
      AND (lease_owner IS NULL OR next_at <= $3)
    RETURNING *`,
  save: `UPDATE journey_runs
    SET status = $1, pc = $2, next_at = $3, wait_event = $4, waiting_since = $5, last_error = $6,
      lease_owner = NULL, updated_at = $7
    WHERE id = $8 AND lease_owner = $9`,
  getRun: `SELECT * FROM journey_runs WHERE id = $1`,
  runsPage: `SELECT * FROM journey_runs WHERE journey_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
  runsPageContact: `SELECT * FROM journey_runs WHERE journey_id = $1 AND contact_id = $2
    AND id > $3 ORDER BY id LIMIT $4`,
  countRuns: `SELECT status, count(*)::bigint AS n FROM journey_runs WHERE journey_id = $1
    GROUP BY status`,
  lockContact: `SELECT 1 FROM contacts WHERE id = $1 FOR UPDATE`,
  sendExists: `SELECT 1 FROM journey_sends WHERE message_id = $1`,
  countAll: `SELECT count(*)::bigint AS n FROM journey_sends WHERE contact_id = $1 AND sent_at >= $2`,
  countJourney: `SELECT count(*)::bigint AS n FROM journey_sends
    WHERE contact_id = $1 AND journey_id = $2 AND sent_at >= $3`,
  insertSend: `INSERT INTO journey_sends (message_id, run_id, journey_id, contact_id, pc, sent_at)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (message_id) DO NOTHING`,
  runEngagement: `SELECT count(*)::bigint AS n FROM engagement e
    JOIN journey_sends s ON s.message_id = e.message_id
    WHERE s.run_id = $1 AND e.kind = $2 AND ($3::text IS NULL OR s.message_id = $3::text)`,
  newCursor: `INSERT INTO event_cursors (name, received_at, event_id, owner, lease_until)
    VALUES ($1, $2, '', $3, $4) ON CONFLICT (name) DO NOTHING
    RETURNING received_at, event_id`,
  leaseCursor: `UPDATE event_cursors SET owner = $2, lease_until = $3
    WHERE name = $1 AND (owner IS NULL OR owner = $2 OR lease_until <= $4)
    RETURNING received_at, event_id`,
  moveCursor: `UPDATE event_cursors SET received_at = $3, event_id = $4 WHERE name = $1 AND owner = $2`,
  eventsAfter: `SELECT * FROM events WHERE (received_at, id) > ($1::bigint, $2::text)
    AND received_at <= $3 ORDER BY received_at, id LIMIT $4`,
  addMember: `INSERT INTO segment_members (segment_id, contact_id, entered_at) VALUES ($1, $2, $3)
    ON CONFLICT DO NOTHING`,
  removeMember: `DELETE FROM segment_members WHERE segment_id = $1 AND contact_id = $2`,
} as const;

interface CursorRow {
  received_at: number;
  event_id: string;
}

export class PgJourneyStore implements JourneyStore {
  constructor(private readonly db: PgDatabase) {}

  async create(journey: Journey): Promise<Journey> {
    const definition = JSON.stringify(journey.definition);
    await this.db.transaction(async (client) => {
      await client.query(SQL.insert, [
        journey.id,
        journey.name,
        journey.status,
        journey.version,
        definition,
        journey.activatedAt ?? null,
        journey.createdAt,
        journey.updatedAt,
      ]);
      await client.query(SQL.insertVersion, [
        journey.id,
        journey.version,
        definition,
        journey.createdAt,
      ]);
    });
    return { ...journey };
  }

  async get(id: string): Promise<Journey | undefined> {
    const [row] = await this.db.rows<JourneyRow>(SQL.get, [id]);
    return row ? journeyFromRow(row, decodeJsonb) : undefined;
  }

  async list(query: PageQuery): Promise<Page<Journey>> {
    const rows = await this.db.rows<JourneyRow>(SQL.page, [afterCursor(query), fetchSize(query)]);
    return toPage(
      rows.map((row) => journeyFromRow(row, decodeJsonb)),
      query,
    );
  }

  async listActive(): Promise<Journey[]> {
    const rows = await this.db.rows<JourneyRow>(SQL.active);
    return rows.map((row) => journeyFromRow(row, decodeJsonb));
  }

  update(
    id: string,
    patch: { name?: string; status?: JourneyStatus; definition?: JourneyDefinition; at: number },
  ): Promise<Journey | undefined> {
    return this.db.transaction(async (client) => {
      const { rows } = await client.query<JourneyRow>(SQL.getForUpdate, [id]);
      const [row] = rows;
      if (!row) return undefined;
      const current = journeyFromRow(row, decodeJsonb);
      const version = patch.definition ? current.version + 1 : current.version;
      const definition = JSON.stringify(patch.definition ?? current.definition);
      const status = patch.status ?? current.status;
      const activatedAt =
        status === 'active' && current.status !== 'active'
          ? patch.at
          : (current.activatedAt ?? null);
      if (patch.definition) {
        await client.query(SQL.insertVersion, [id, version, definition, patch.at]);
      }
      const updated = await client.query<JourneyRow>(SQL.update, [
        id,
        patch.name ?? current.name,
        status,
        version,
        definition,
        activatedAt,
        patch.at,
      ]);
      const [out] = updated.rows;
      return out ? journeyFromRow(out, decodeJsonb) : undefined;
    });
  }

  async delete(id: string): Promise<boolean> {
    return ((await this.db.query(SQL.delete, [id])).rowCount ?? 0) > 0;
  }

  async definition(journeyId: string, version: number): Promise<JourneyDefinition | undefined> {
    const [row] = await this.db.rows<{ definition: unknown }>(SQL.version, [journeyId, version]);
    return row ? (row.definition as JourneyDefinition) : undefined;
  }

  enter(entry: RunEntry): Promise<EntryResult> {
    return this.db
      .transaction(async (client): Promise<EntryResult> => {
        const seen = await client.query(SQL.runByTrigger, [entry.journeyId, entry.triggerKey]);
        if (seen.rowCount) return { kind: 'duplicate' };
        if (entry.cooldownMs === 0) {
          await client.query(SQL.enterAlways, [entry.journeyId, entry.contactId, entry.at]);
        } else {
          const entered = await client.query(SQL.enterOnce, [
            entry.journeyId,
            entry.contactId,
            entry.at,
            cooldownParam(entry.cooldownMs),
          ]);
          if (!entered.rowCount) return { kind: 'refused' };
        }
        const { rows } = await client.query<RunRow>(SQL.insertRun, [
          entry.id,
          entry.journeyId,
          entry.version,
          entry.contactId,
          entry.triggerKey,
          JSON.stringify(entry.trigger),
          entry.leaseUntil,
          entry.owner,
          entry.at,
        ]);
        const [row] = rows;
        // Another node entered the same trigger meanwhile: undo this entry's upsert.
        if (!row) throw new DuplicateEntry();
        return { kind: 'entered', run: runFromRow(row, decodeJsonb) };
      })
      .catch((error: unknown) => {
        if (error instanceof DuplicateEntry) return { kind: 'duplicate' } as const;
        throw error;
      });
  }

  async claimDue({ limit, leaseMs, owner, now }: ClaimRequest): Promise<JourneyRun[]> {
    if (limit <= 0) return [];
    const rows = await this.db.rows<RunRow>(
      SQL.claimDue,
      [now, limit, now + leaseMs, owner],
      'sluice_journey_claim',
    );
    return rows.map((row) => runFromRow(row, decodeJsonb)).sort((a, b) => a.nextAt - b.nextAt);
  }

  async claimWaiting(request: {
    contactId: string;
    event: string;
    receivedAt: number;
    owner: string;
    now: number;
    leaseMs: number;
  }): Promise<JourneyRun[]> {
    const rows = await this.db.rows<RunRow>(SQL.claimWaiting, [
      request.now + request.leaseMs,
      request.owner,
      request.now,
      request.contactId,
      request.event,
      request.receivedAt,
    ]);
    return rows.map((row) => runFromRow(row, decodeJsonb));
  }

  async saveRun(update: RunUpdate): Promise<boolean> {
    const result = await this.db.query(SQL.save, [
      update.status,
      update.pc,
      update.nextAt,
      update.waitEvent ?? null,
      update.waitingSince ?? null,
      update.lastError ?? null,
      update.at,
      update.id,
      update.owner,
    ]);
    return (result.rowCount ?? 0) > 0;
  }

  async getRun(id: string): Promise<JourneyRun | undefined> {
    const [row] = await this.db.rows<RunRow>(SQL.getRun, [id]);
    return row ? runFromRow(row, decodeJsonb) : undefined;
  }

  async listRuns(
    journeyId: string,
    query: PageQuery & { contactId?: string },
  ): Promise<Page<JourneyRun>> {
    const rows =
      query.contactId === undefined
        ? await this.db.rows<RunRow>(SQL.runsPage, [
            journeyId,
            afterCursor(query),
            fetchSize(query),
          ])
        : await this.db.rows<RunRow>(SQL.runsPageContact, [
            journeyId,
            query.contactId,
            afterCursor(query),
            fetchSize(query),
          ]);
    return toPage(
      rows.map((row) => runFromRow(row, decodeJsonb)),
      query,
    );
  }

  async countRuns(journeyId: string): Promise<Record<JourneyRunStatus, number>> {
    const counts = emptyRunCounts();
    const rows = await this.db.rows<{ status: JourneyRunStatus; n: number }>(SQL.countRuns, [
      journeyId,
    ]);
    for (const row of rows) counts[row.status] = Number(row.n);
    return counts;
  }

  recordSend(send: SendRecord): Promise<'recorded' | 'duplicate' | 'capped'> {
    return this.db.transaction(async (client) => {
      await client.query(SQL.lockContact, [send.contactId]);
      if ((await client.query(SQL.sendExists, [send.messageId])).rowCount) return 'duplicate';
      for (const rule of send.caps) {
        if (await capBroken(client, rule, send)) return 'capped';
      }
      await client.query(SQL.insertSend, [
        send.messageId,
        send.runId,
        send.journeyId,
        send.contactId,
        send.pc,
        send.at,
      ]);
      return 'recorded';
    });
  }

  async runEngagement(runId: string, kind: 'open' | 'click', messageId?: string): Promise<number> {
    const [row] = await this.db.rows<{ n: number }>(SQL.runEngagement, [
      runId,
      kind,
      messageId ?? null,
    ]);
    return Number(row?.n ?? 0);
  }

  async claimCursor(
    name: string,
    owner: string,
    now: number,
    leaseMs: number,
  ): Promise<EventCursor | undefined> {
    const [created] = await this.db.rows<CursorRow>(SQL.newCursor, [
      name,
      now,
      owner,
      now + leaseMs,
    ]);
    if (created) return { receivedAt: Number(created.received_at), eventId: created.event_id };
    const [row] = await this.db.rows<CursorRow>(SQL.leaseCursor, [name, owner, now + leaseMs, now]);
    return row ? { receivedAt: Number(row.received_at), eventId: row.event_id } : undefined;
  }

  async moveCursor(name: string, owner: string, to: EventCursor): Promise<boolean> {
    const result = await this.db.query(SQL.moveCursor, [name, owner, to.receivedAt, to.eventId]);
    return (result.rowCount ?? 0) > 0;
  }

  async eventsAfter(after: EventCursor, until: number, limit: number): Promise<StoredEvent[]> {
    const rows = await this.db.rows<EventRow>(SQL.eventsAfter, [
      after.receivedAt,
      after.eventId,
      until,
      limit,
    ]);
    return rows.map((row) => eventFromRow(row, decodeJsonb));
  }

  async contactMatches(
    conditions: SegmentCondition,
    contactId: string,
    now: number,
  ): Promise<boolean> {
    const { sql, values } = postgresSegmentWhere(conditions, now, [contactId]);
    const rows = await this.db.rows(`SELECT 1 FROM contacts c WHERE c.id = $1 AND ${sql}`, values);
    return rows.length > 0;
  }

  async setMembership(
    segmentId: string,
    contactId: string,
    member: boolean,
    at: number,
  ): Promise<'entered' | 'left' | 'unchanged'> {
    const result = member
      ? await this.db.query(SQL.addMember, [segmentId, contactId, at])
      : await this.db.query(SQL.removeMember, [segmentId, contactId]);
    if (!result.rowCount) return 'unchanged';
    return member ? 'entered' : 'left';
  }
}

/** Thrown inside the entry transaction to roll back when another node won the trigger. */
class DuplicateEntry extends Error {}

async function capBroken(client: pg.PoolClient, rule: CapRule, send: SendRecord): Promise<boolean> {
  const since = send.at - rule.windowMs;
  const { rows } =
    rule.scope === 'all'
      ? await client.query<{ n: number }>(SQL.countAll, [send.contactId, since])
      : await client.query<{ n: number }>(SQL.countJourney, [
          send.contactId,
          rule.scope.journeyId,
          since,
        ]);
  return Number(rows[0]?.n ?? 0) >= rule.limit;
}
