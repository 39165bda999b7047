/**
 * Journeys on SQLite: definitions, runs, the send log, the backstop cursor
 * and per-event segment membership (see the JourneyStore port for the
 * contract). better-sqlite3 is synchronous and this process is the only
 * writer, so each multi-statement operation needs no row locks: nothing
 * else writes between its statements.
 *
 * The writes of runs (enter, claims, saves, the send log, memberships) run
 * in the connection's deferred turn (StatementCache.deferred): each at once,
 * in a savepoint of one transaction that commits when the microtask
 * checkpoint is over, so every step of every event one events commit
 * announced shares one COMMIT, and a step does not wait for the one before
 * to commit. At one transaction each, the disk capped a 2-core machine at
 * under 100 triggered sends a second (bench/triggers.ts).
 *
 * That transaction has no fsync of its own (./deferred-commit.ts). Every
 * run starts from a durable event, and the WAL keeps commits in
 * order, so a power cut loses at most the newest run writes, never an older
 * one without the newer: the event is still there, and the backstop scan
 * (whose cursor moves in the same order) hands it to the runner again,
 * where every effect is idempotent (the trigger key, the send log, the
 * outbox's idempotency key). A crash of the process alone loses nothing
 * (the operating system has the WAL). Four fsyncs per triggered send, each
 * blocking the one event loop for milliseconds, were most of the
 * event-to-inbox latency (docs/benchmarks.md).
 */
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
import { brokenCap, type CapRule } from '../../core/frequency-cap.js';
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
import { unavailableError } from '../store-errors.js';
import { decodeJsonText } from '../rows.js';
import { sqliteSegmentWhere } from './segment-sql.js';
import { mapped, promised } from './sqlite-errors.js';
import type { StatementCache } from './statement-cache.js';

const SQL = {
  insert: `INSERT INTO journeys (id, name, status, version, definition, activated_at, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  insertVersion: `INSERT INTO journey_versions (journey_id, version, definition, created_at)
    VALUES (?, ?, ?, ?)`,
  get: `SELECT * FROM journeys WHERE id = ?`,
  page: `SELECT * FROM journeys WHERE id > ? ORDER BY id LIMIT ?`,
  active: `SELECT * FROM journeys WHERE status = 'active' ORDER BY id`,
  update: `UPDATE journeys SET name = ?, status = ?, version = ?, definition = ?, activated_at = ?,
    updated_at = ? WHERE id = ? RETURNING *`,
  delete: `DELETE FROM journeys WHERE id = ?`,
  version: `SELECT definition FROM journey_versions WHERE journey_id = ? AND version = ?`,
  runByTrigger: `SELECT 1 FROM journey_runs WHERE journey_id = ? AND trigger_key = ?`,
  enterOnce: `INSERT INTO journey_entries (journey_id, contact_id, entered_at) VALUES (?, ?, ?)
    ON CONFLICT (journey_id, contact_id) DO UPDATE SET entered_at = excluded.entered_at
    WHERE journey_entries.entered_at <= excluded.entered_at - ?`,
  enterAlways: `INSERT INTO journey_entries (journey_id, contact_id, entered_at) VALUES (?, ?, ?)
    ON CONFLICT (journey_id, contact_id) DO UPDATE
    SET entered_at = max(journey_entries.entered_at, excluded.entered_at)`,
  insertRun: `INSERT INTO journey_runs (id, journey_id, version, contact_id, trigger_key, trigger,
      status, pc, next_at, lease_owner, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, 'active', 0, ?, ?, ?, ?)`,
  pickDue: `SELECT id FROM journey_runs WHERE status = 'active' AND next_at <= ?
    ORDER BY next_at LIMIT ?`,
  lease: `UPDATE journey_runs SET next_at = ?, lease_owner = ?, updated_at = ? WHERE id = ?
    RETURNING *`,
  claimWaiting: `UPDATE journey_runs
    SET pc = pc + 1, wait_event = NULL, waiting_since = NULL, next_at = ?, lease_owner = ?,
      updated_at = ?
    WHERE contact_id = ? AND wait_event = ? AND status = 'active' AND waiting_since <= ?
      AND (lease_owner IS NULL OR next_at <= ?)
    RETURNING *`,
  save: `UPDATE journey_runs
    SET status = ?, pc = ?, next_at = ?, wait_event = ?, waiting_since = ?, last_error = ?,
      lease_owner = NULL, updated_at = ?
    WHERE id = ? AND lease_owner = ?`,
  getRun: `SELECT * FROM journey_runs WHERE id = ?`,
  runsPage: `SELECT * FROM journey_runs WHERE journey_id = ? AND id > ? ORDER BY id LIMIT ?`,
  runsPageContact: `SELECT * FROM journey_runs WHERE journey_id = ? AND contact_id = ? AND id > ?
    ORDER BY id LIMIT ?`,
  countRuns: `SELECT status, count(*) AS n FROM journey_runs WHERE journey_id = ? GROUP BY status`,
  sendExists: `SELECT 1 FROM journey_sends WHERE message_id = ?`,
  countAll: `SELECT count(*) AS n FROM journey_sends WHERE contact_id = ? AND sent_at >= ?`,
  countJourney: `SELECT count(*) AS n FROM journey_sends
    WHERE contact_id = ? AND journey_id = ? AND sent_at >= ?`,
  insertSend: `INSERT INTO journey_sends (message_id, run_id, journey_id, contact_id, pc, sent_at)
    VALUES (?, ?, ?, ?, ?, ?)`,
  runEngagement: `SELECT count(*) AS n FROM engagement e
    JOIN journey_sends s ON s.message_id = e.message_id
    WHERE s.run_id = ? AND e.kind = ?`,
  messageEngagement: `SELECT count(*) AS n FROM engagement e
    JOIN journey_sends s ON s.message_id = e.message_id
    WHERE s.run_id = ? AND e.kind = ? AND s.message_id = ?`,
  cursor: `SELECT * FROM event_cursors WHERE name = ?`,
  newCursor: `INSERT INTO event_cursors (name, received_at, event_id, owner, lease_until)
    VALUES (?, ?, '', ?, ?)`,
  leaseCursor: `UPDATE event_cursors SET owner = ?, lease_until = ?
    WHERE name = ? AND (owner IS NULL OR owner = ? OR lease_until <= ?)
    RETURNING received_at, event_id`,
  moveCursor: `UPDATE event_cursors SET received_at = ?, event_id = ? WHERE name = ? AND owner = ?`,
  eventsAfter: `SELECT * FROM events WHERE (received_at, id) > (?, ?) AND received_at <= ?
    ORDER BY received_at, id LIMIT ?`,
  member: `SELECT 1 FROM segment_members WHERE segment_id = ? AND contact_id = ?`,
  addMember: `INSERT INTO segment_members (segment_id, contact_id, entered_at) VALUES (?, ?, ?)`,
  removeMember: `DELETE FROM segment_members WHERE segment_id = ? AND contact_id = ?`,
} as const;

interface CursorRow {
  received_at: number;
  event_id: string;
}

export class SqliteJourneyStore implements JourneyStore {
  private closed = false;

  constructor(private readonly cache: StatementCache) {}

  /** Refuses new writes (those made are in the turn the store commits before it closes). */
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** A run write, in this turn's deferred transaction (StatementCache.deferred): rolled back alone if it fails. */
  private write<R>(fn: () => R): Promise<R> {
    if (this.closed) return Promise.reject(unavailableError('the store is closed'));
    return promised(() => this.cache.deferred(fn));
  }

  create(journey: Journey): Promise<Journey> {
    const run = this.cache.transaction(() => {
      const definition = JSON.stringify(journey.definition);
      this.cache
        .get(SQL.insert)
        .run(
          journey.id,
          journey.name,
          journey.status,
          journey.version,
          definition,
          journey.activatedAt ?? null,
          journey.createdAt,
          journey.updatedAt,
        );
      this.cache
        .get(SQL.insertVersion)
        .run(journey.id, journey.version, definition, journey.createdAt);
      return { ...journey };
    });
    return promised(() => run.immediate(), { id: journey.id, name: journey.name });
  }

  get(id: string): Promise<Journey | undefined> {
    return promised(() => {
      const row = this.cache.get<JourneyRow>(SQL.get).get(id);
      return row ? journeyFromRow(row, decodeJsonText) : undefined;
    });
  }

  list(query: PageQuery): Promise<Page<Journey>> {
    return promised(() => {
      const rows = this.cache.get<JourneyRow>(SQL.page).all(afterCursor(query), fetchSize(query));
      return toPage(
        rows.map((row) => journeyFromRow(row, decodeJsonText)),
        query,
      );
    });
  }

  listActive(): Promise<Journey[]> {
    return promised(() =>
      this.cache
        .get<JourneyRow>(SQL.active)
        .all()
        .map((row) => journeyFromRow(row, decodeJsonText)),
    );
  }

  update(
    id: string,
    patch: { name?: string; status?: JourneyStatus; definition?: JourneyDefinition; at: number },
  ): Promise<Journey | undefined> {
    const run = this.cache.transaction((): Journey | undefined => {
      const row = this.cache.get<JourneyRow>(SQL.get).get(id);
      if (!row) return undefined;
      const current = journeyFromRow(row, decodeJsonText);
      const version = patch.definition ? current.version + 1 : current.version;
      const definition = JSON.stringify(patch.definition ?? current.definition);
      const status = patch.status ?? current.status;
      const activatedAt =
        status === 'active' && current.status !== 'active'
          ? patch.at
          : (current.activatedAt ?? null);
      if (patch.definition) {
        this.cache.get(SQL.insertVersion).run(id, version, definition, patch.at);
      }
      const updated = this.cache
        .get<JourneyRow>(SQL.update)
        .get(patch.name ?? current.name, status, version, definition, activatedAt, patch.at, id);
      return updated ? journeyFromRow(updated, decodeJsonText) : undefined;
    });
    return promised(() => run.immediate(), { id, name: patch.name });
  }

  delete(id: string): Promise<boolean> {
    return promised(() => this.cache.get(SQL.delete).run(id).changes > 0);
  }

  definition(journeyId: string, version: number): Promise<JourneyDefinition | undefined> {
    return promised(() => {
      const row = this.cache.get<{ definition: string }>(SQL.version).get(journeyId, version);
      return row ? (decodeJsonText(row.definition) as JourneyDefinition) : undefined;
    });
  }

  enter(entry: RunEntry): Promise<EntryResult> {
    return this.write((): EntryResult => {
      if (this.cache.get(SQL.runByTrigger).get(entry.journeyId, entry.triggerKey)) {
        return { kind: 'duplicate' };
      }
      if (entry.cooldownMs === 0) {
        this.cache.get(SQL.enterAlways).run(entry.journeyId, entry.contactId, entry.at);
      } else {
        // One row changed: inserted, or updated past the cool-down; none: refused.
        const { changes } = this.cache
          .get(SQL.enterOnce)
          .run(entry.journeyId, entry.contactId, entry.at, cooldownParam(entry.cooldownMs));
        if (changes === 0) return { kind: 'refused' };
      }
      // No RETURNING: on SQLite it doubles the insert's cost (its rows go
      // through a temporary table); the new run is what was just written.
      this.cache
        .get(SQL.insertRun)
        .run(
          entry.id,
          entry.journeyId,
          entry.version,
          entry.contactId,
          entry.triggerKey,
          JSON.stringify(entry.trigger),
          entry.leaseUntil,
          entry.owner,
          entry.at,
          entry.at,
        );
      const run: JourneyRun = {
        id: entry.id,
        journeyId: entry.journeyId,
        version: entry.version,
        contactId: entry.contactId,
        triggerKey: entry.triggerKey,
        trigger: entry.trigger,
        status: 'active',
        pc: 0,
        nextAt: entry.leaseUntil,
        leaseOwner: entry.owner,
        createdAt: entry.at,
        updatedAt: entry.at,
      };
      return { kind: 'entered', run };
    });
  }

  claimDue({ limit, leaseMs, owner, now }: ClaimRequest): Promise<JourneyRun[]> {
    if (limit <= 0) return Promise.resolve([]);
    return this.write(() => {
      const ids = this.cache.get<{ id: string }>(SQL.pickDue).all(now, limit);
      const lease = this.cache.get<RunRow>(SQL.lease);
      return ids.flatMap(({ id }) => {
        const row = lease.get(now + leaseMs, owner, now, id);
        return row ? [runFromRow(row, decodeJsonText)] : [];
      });
    });
  }

  claimWaiting(request: {
    contactId: string;
    event: string;
    receivedAt: number;
    owner: string;
    now: number;
    leaseMs: number;
  }): Promise<JourneyRun[]> {
    return this.write(() =>
      this.cache
        .get<RunRow>(SQL.claimWaiting)
        .all(
          request.now + request.leaseMs,
          request.owner,
          request.now,
          request.contactId,
          request.event,
          request.receivedAt,
          request.now,
        )
        .map((row) => runFromRow(row, decodeJsonText)),
    );
  }

  saveRun(update: RunUpdate): Promise<boolean> {
    return this.write(
      () =>
        this.cache
          .get(SQL.save)
          .run(
            update.status,
            update.pc,
            update.nextAt,
            update.waitEvent ?? null,
            update.waitingSince ?? null,
            update.lastError ?? null,
            update.at,
            update.id,
            update.owner,
          ).changes > 0,
    );
  }

  getRun(id: string): Promise<JourneyRun | undefined> {
    return promised(() => {
      const row = this.cache.get<RunRow>(SQL.getRun).get(id);
      return row ? runFromRow(row, decodeJsonText) : undefined;
    });
  }

  listRuns(
    journeyId: string,
    query: PageQuery & { contactId?: string },
  ): Promise<Page<JourneyRun>> {
    return promised(() => {
      const rows =
        query.contactId === undefined
          ? this.cache
              .get<RunRow>(SQL.runsPage)
              .all(journeyId, afterCursor(query), fetchSize(query))
          : this.cache
              .get<RunRow>(SQL.runsPageContact)
              .all(journeyId, query.contactId, afterCursor(query), fetchSize(query));
      return toPage(
        rows.map((row) => runFromRow(row, decodeJsonText)),
        query,
      );
    });
  }

  countRuns(journeyId: string): Promise<Record<JourneyRunStatus, number>> {
    return promised(() => {
      const counts = emptyRunCounts();
      for (const row of this.cache
        .get<{ status: JourneyRunStatus; n: number }>(SQL.countRuns)
        .all(journeyId)) {
        counts[row.status] = row.n;
      }
      return counts;
    });
  }

  recordSend(send: SendRecord): Promise<'recorded' | 'duplicate' | 'capped'> {
    return this.write((): 'recorded' | 'duplicate' | 'capped' => {
      if (this.cache.get(SQL.sendExists).get(send.messageId)) return 'duplicate';
      const count = (rule: CapRule, since: number): number =>
        rule.scope === 'all'
          ? (this.cache.get<{ n: number }>(SQL.countAll).get(send.contactId, since)?.n ?? 0)
          : (this.cache
              .get<{ n: number }>(SQL.countJourney)
              .get(send.contactId, rule.scope.journeyId, since)?.n ?? 0);
      if (brokenCap(send.caps, send.at, count)) return 'capped';
      this.cache
        .get(SQL.insertSend)
        .run(send.messageId, send.runId, send.journeyId, send.contactId, send.pc, send.at);
      return 'recorded';
    });
  }

  runEngagement(runId: string, kind: 'open' | 'click', messageId?: string): Promise<number> {
    return promised(() =>
      messageId === undefined
        ? (this.cache.get<{ n: number }>(SQL.runEngagement).get(runId, kind)?.n ?? 0)
        : (this.cache.get<{ n: number }>(SQL.messageEngagement).get(runId, kind, messageId)?.n ??
          0),
    );
  }

  /**
   * The backstop cursor's lease and moves are deferred writes too: one lost
   * to a power cut only makes the scan hand some events to the runner again
   * (idempotent, above). They were autocommits with `FULL`, an fsync on the
   * event loop every page of 200 events (at 1,000 events/s, five a second).
   */
  claimCursor(
    name: string,
    owner: string,
    now: number,
    leaseMs: number,
  ): Promise<EventCursor | undefined> {
    return this.write((): EventCursor | undefined => {
      if (!this.cache.get(SQL.cursor).get(name)) {
        // A new cursor starts now: events stored before journeys ran are not replayed.
        this.cache.get(SQL.newCursor).run(name, now, owner, now + leaseMs);
        return { receivedAt: now, eventId: '' };
      }
      const row = this.cache
        .get<CursorRow>(SQL.leaseCursor)
        .get(owner, now + leaseMs, name, owner, now);
      return row ? { receivedAt: row.received_at, eventId: row.event_id } : undefined;
    });
  }

  moveCursor(name: string, owner: string, to: EventCursor): Promise<boolean> {
    return this.write(
      () => this.cache.get(SQL.moveCursor).run(to.receivedAt, to.eventId, name, owner).changes > 0,
    );
  }

  eventsAfter(after: EventCursor, until: number, limit: number): Promise<StoredEvent[]> {
    return promised(() =>
      this.cache
        .get<EventRow>(SQL.eventsAfter)
        .all(after.receivedAt, after.eventId, until, limit)
        .map((row) => eventFromRow(row, decodeJsonText)),
    );
  }

  contactMatches(conditions: SegmentCondition, contactId: string, now: number): Promise<boolean> {
    return promised(() => {
      const { sql, values } = sqliteSegmentWhere(conditions, now);
      // Compiled per condition: prepared each time, like segment selections.
      const row = this.cache.db
        .prepare(`SELECT 1 AS hit FROM contacts c WHERE c.id = ? AND ${sql}`)
        .get(contactId, ...values);
      return row !== undefined;
    });
  }

  setMembership(
    segmentId: string,
    contactId: string,
    member: boolean,
    at: number,
  ): Promise<'entered' | 'left' | 'unchanged'> {
    return this.write(() =>
      mapped(() => {
        const was = this.cache.get(SQL.member).get(segmentId, contactId) !== undefined;
        if (was === member) return 'unchanged';
        if (member) this.cache.get(SQL.addMember).run(segmentId, contactId, at);
        else this.cache.get(SQL.removeMember).run(segmentId, contactId);
        return member ? 'entered' : 'left';
      }),
    );
  }
}
