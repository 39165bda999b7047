/**
 * Campaigns on SQLite (see CampaignStore in core/ports/store.ts). One
 * process writes (singleWriter), so the fan-out lease is a plain
 * conditional update; it still guards a fan-out left over from a killed run
 * until its lease runs out, exactly as on PostgreSQL.
 */
import type {
  Campaign,
  CampaignDefinition,
  CampaignStatus,
  FanOutProgress,
} from '../../core/campaign.js';
import {
  CAMPAIGN_HOLD,
  type CampaignEngagementCount,
  type CampaignMessageCount,
  type CampaignStore,
  type CampaignTransition,
  type EngagementKind,
  type FanOutSave,
  type Page,
  type PageQuery,
} from '../../core/ports/store.js';
import type { BounceCategory } from '../../core/bounce.js';
import type { MessageStatus } from '../../core/message.js';
import {
  campaignFromRow,
  CANCELLED_ERROR,
  definitionOf,
  fanOutSaveValues,
  type CampaignRow,
} from '../campaign-rows.js';
import { afterCursor, fetchSize, toPage } from '../paging.js';
import { decodeJsonText } from '../rows.js';
import { runDeferred } from './deferred-commit.js';
import { promised } from './sqlite-errors.js';
import type { StatementCache } from './statement-cache.js';

const READY = `status = 'sending' AND (phase IN ('pending', 'all', 'test', 'rest')
  OR (phase = 'waiting' AND test_ends_at <= ?))`;

export const CAMPAIGN_SQL = {
  insert: `INSERT INTO campaigns (id, name, status, definition, send_at, phase, progress, winner,
      pause, started_at, test_ends_at, fanned_out_at, completed_at, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  get: `SELECT * FROM campaigns WHERE id = ?`,
  page: `SELECT * FROM campaigns WHERE id > ? ORDER BY id LIMIT ?`,
  pageByStatus: `SELECT * FROM campaigns WHERE id > ? AND status = ? ORDER BY id LIMIT ?`,
  deleteDraft: `DELETE FROM campaigns WHERE id = ? AND status = 'draft'`,
  due: `SELECT id FROM campaigns WHERE status = 'scheduled' AND send_at <= ?
    ORDER BY send_at LIMIT ?`,
  nextSendAt: `SELECT min(send_at) AS next FROM campaigns WHERE status = 'scheduled'`,
  readyFanOut: `SELECT id FROM campaigns WHERE ${READY}
      AND (lease_owner IS NULL OR lease_until <= ? OR lease_owner = ?)
      ORDER BY started_at, id LIMIT 1`,
  claimFanOut: `UPDATE campaigns SET lease_owner = ?, lease_until = ?, updated_at = ?
    WHERE id = ? RETURNING *`,
  saveFanOut: `UPDATE campaigns SET progress = ?, phase = ?, winner = coalesce(?, winner),
      test_ends_at = coalesce(?, test_ends_at), lease_until = ?, updated_at = ?
    WHERE id = ? AND lease_owner = ? AND status = 'sending'`,
  finishFanOut: `UPDATE campaigns SET progress = ?, phase = 'done', status = 'sent',
      fanned_out_at = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?
    WHERE id = ? AND lease_owner = ? AND status = 'sending'`,
  releaseFanOut: `UPDATE campaigns SET lease_owner = NULL, lease_until = NULL
    WHERE id = ? AND lease_owner = ?`,
  active: `SELECT * FROM campaigns
    WHERE status IN ('sending', 'sent', 'paused', 'cancelled') AND completed_at IS NULL
    ORDER BY id LIMIT ?`,
  // After a walk of the ranges found every message final (completeIfSettled):
  // the messages written since it began, newer than the newest it saw.
  completeIfSettled: `UPDATE campaigns SET completed_at = ?
    WHERE id = ? AND completed_at IS NULL AND status IN ('sent', 'cancelled')
      AND NOT EXISTS (SELECT 1 FROM messages
        WHERE campaign_id = ? AND id > ? AND status IN ('queued', 'deferred', 'sending'))`,
  holdable: `SELECT 1 FROM messages
    WHERE campaign_id = ? AND status IN ('queued', 'deferred') AND due_at < ${CAMPAIGN_HOLD} LIMIT 1`,
  cancellable: `SELECT 1 FROM messages WHERE campaign_id = ?
    AND (status IN ('queued', 'deferred') OR (status = 'sending' AND due_at <= ?)) LIMIT 1`,
  hold: `UPDATE messages SET due_at = ${CAMPAIGN_HOLD}, updated_at = ?
    WHERE campaign_id = ? AND status IN ('queued', 'deferred') AND due_at < ${CAMPAIGN_HOLD}`,
  release: `UPDATE messages SET due_at = ?, updated_at = ?
    WHERE campaign_id = ? AND status IN ('queued', 'deferred') AND due_at >= ${CAMPAIGN_HOLD}`,
  cancel: `UPDATE messages SET status = 'failed', last_error = '${CANCELLED_ERROR}',
      lease_owner = NULL, due_at = ?, updated_at = ?
    WHERE campaign_id = ?
      AND (status IN ('queued', 'deferred') OR (status = 'sending' AND due_at <= ?))`,
  // The statistics, one range of the campaign's message ids at a time
  // (see eachRange), each statement within the covering index
  // messages_campaign_stats (migration 0013). range / rangeDown: the first
  // and last id of the next range up from (down from) an id, NULL when
  // none is left.
  range: `SELECT min(id) AS first, max(id) AS last FROM (SELECT id FROM messages
    WHERE campaign_id = ? AND id > ? ORDER BY id LIMIT ?)`,
  rangeDown: `SELECT min(id) AS first, max(id) AS last FROM (SELECT id FROM messages
    WHERE campaign_id = ? AND id < ? ORDER BY id DESC LIMIT ?)`,
  messageCounts: `SELECT variant, status, bounce_category, count(*) AS n FROM messages
    WHERE campaign_id = ? AND id >= ? AND id <= ? GROUP BY 1, 2, 3`,
  engagementCounts: `SELECT m.variant AS variant, e.kind AS kind, count(DISTINCT e.message_id) AS n
    FROM messages m JOIN engagement e ON e.message_id = m.id
    WHERE m.campaign_id = ? AND m.id >= ? AND m.id <= ? GROUP BY 1, 2`,
  unsettledIn: `SELECT 1 FROM messages WHERE campaign_id = ? AND id >= ? AND id <= ?
    AND status IN ('queued', 'deferred', 'sending') LIMIT 1`,
  // CROSS JOIN: SQLite then starts from the complained contacts (their
  // partial index, migration 0012), not from every message of the campaign.
  complaints: `SELECT count(*) AS n FROM contacts c CROSS JOIN messages m
    WHERE c.status = 'complained' AND m.campaign_id = ? AND m.to_email = c.email`,
} as const;

function transitionSql(from: readonly CampaignStatus[]): string {
  return `UPDATE campaigns SET status = ?,
      send_at = CASE WHEN ? THEN ? ELSE send_at END,
      pause = CASE WHEN ? THEN ? ELSE pause END,
      started_at = coalesce(started_at, ?),
      lease_owner = CASE WHEN ? = 'sending' THEN lease_owner END,
      lease_until = CASE WHEN ? = 'sending' THEN lease_until END,
      updated_at = ?
    WHERE id = ? AND status IN (${from.map(() => '?').join(', ')})
    RETURNING *`;
}

/**
 * Messages of a campaign per statement of its statistics: a range of 5,000
 * ids costs 1 – 3 ms of the one thread, and the upkeep reads its counts
 * and its engagement side by side (Promise.all), so one turn of the event
 * loop holds a range of each: 2.5 ms typical, 5 – 8 ms at worst at 1M
 * messages. 10,000 held it twice as long for no shorter upkeep; 2,500 made
 * the upkeep 60 % longer (docs/benchmarks.md, 30 Nov).
 */
export const STATS_CHUNK = 5_000;

/**
 * Above every id: ids are ASCII (a prefix and hex digits, core/ids.ts), and
 * SQLite compares text by its UTF-8 bytes. The bound of the first range down.
 */
const ABOVE_EVERY_ID = '\uffff';

/** Lets the event loop run (timers, sockets) before the next range. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class SqliteCampaignStore implements CampaignStore {
  constructor(
    private readonly cache: StatementCache,
    /** Messages per statement of the statistics (STATS_CHUNK; smaller in tests). */
    private readonly statsChunk = STATS_CHUNK,
  ) {}

  private row(sql: string, ...values: unknown[]): Campaign | undefined {
    const row = this.cache.get<CampaignRow>(sql).get(...values);
    return row ? campaignFromRow(row, decodeJsonText) : undefined;
  }

  create(campaign: Campaign): Promise<Campaign> {
    return promised(
      () => {
        this.cache
          .get(CAMPAIGN_SQL.insert)
          .run(
            campaign.id,
            campaign.name,
            campaign.status,
            JSON.stringify(definitionOf(campaign)),
            campaign.sendAt ?? null,
            campaign.progress.phase,
            JSON.stringify(campaign.progress),
            campaign.winner ?? null,
            campaign.pause ? JSON.stringify(campaign.pause) : null,
            campaign.startedAt ?? null,
            campaign.testEndsAt ?? null,
            campaign.fannedOutAt ?? null,
            campaign.completedAt ?? null,
            campaign.createdAt,
            campaign.updatedAt,
          );
        return structuredClone(campaign);
      },
      { id: campaign.id },
    );
  }

  get(id: string): Promise<Campaign | undefined> {
    return promised(() => this.row(CAMPAIGN_SQL.get, id));
  }

  getMany(ids: string[]): Promise<Campaign[]> {
    return promised(() => ids.flatMap((id) => this.row(CAMPAIGN_SQL.get, id) ?? []));
  }

  list(query: PageQuery & { status?: CampaignStatus }): Promise<Page<Campaign>> {
    return promised(() => {
      const rows = query.status
        ? this.cache
            .get<CampaignRow>(CAMPAIGN_SQL.pageByStatus)
            .all(afterCursor(query), query.status, fetchSize(query))
        : this.cache.get<CampaignRow>(CAMPAIGN_SQL.page).all(afterCursor(query), fetchSize(query));
      return toPage(
        rows.map((row) => campaignFromRow(row, decodeJsonText)),
        query,
      );
    });
  }

  update(
    id: string,
    patch: { name: string; definition: CampaignDefinition; sendAt?: number | null; at: number },
    statuses: readonly CampaignStatus[],
  ): Promise<Campaign | undefined> {
    const sql = `UPDATE campaigns SET name = ?, definition = ?,
        send_at = CASE WHEN ? THEN ? ELSE send_at END, updated_at = ?
      WHERE id = ? AND status IN (${statuses.map(() => '?').join(', ')}) RETURNING *`;
    return promised(() =>
      this.row(
        sql,
        patch.name,
        JSON.stringify(definitionOf(patch.definition)),
        patch.sendAt === undefined ? 0 : 1,
        patch.sendAt ?? null,
        patch.at,
        id,
        ...statuses,
      ),
    );
  }

  transition(id: string, change: CampaignTransition): Promise<Campaign | undefined> {
    const run = this.cache.transaction(() => {
      const campaign = this.row(
        transitionSql(change.from),
        change.to,
        change.sendAt === undefined ? 0 : 1,
        change.sendAt ?? null,
        change.pause === undefined ? 0 : 1,
        change.pause ? JSON.stringify(change.pause) : null,
        change.startedAt ?? null,
        change.to,
        change.to,
        change.at,
        id,
        ...change.from,
      );
      if (!campaign) return undefined;
      this.applyToMessages(id, change.messages, change.at);
      return campaign;
    });
    return promised(() => run.immediate());
  }

  private applyToMessages(id: string, what: CampaignTransition['messages'], at: number): number {
    if (what === 'hold') return this.cache.get(CAMPAIGN_SQL.hold).run(at, id).changes;
    if (what === 'release') return this.cache.get(CAMPAIGN_SQL.release).run(at, at, id).changes;
    if (what === 'cancel') return this.cache.get(CAMPAIGN_SQL.cancel).run(at, at, id, at).changes;
    return 0;
  }

  deleteDraft(id: string): Promise<boolean> {
    return promised(() => this.cache.get(CAMPAIGN_SQL.deleteDraft).run(id).changes > 0);
  }

  due(now: number, limit: number): Promise<string[]> {
    return promised(() =>
      this.cache
        .get<{ id: string }>(CAMPAIGN_SQL.due)
        .all(now, limit)
        .map((row) => row.id),
    );
  }

  nextSendAt(): Promise<number | undefined> {
    return promised(() => {
      const row = this.cache.get<{ next: number | null }>(CAMPAIGN_SQL.nextSendAt).get();
      return row?.next ?? undefined;
    });
  }

  /**
   * A read first, and a write only when there is a campaign to take: the
   * scheduler asks every poll, and a write transaction on SQLite is an fsync
   * on the thread that drives the SMTP sockets (measured: a FULL-sync
   * UPDATE a second made retries in the mixed-farm e2e miss their window).
   * One process writes, so nothing can take the row between the two.
   */
  claimFanOut(owner: string, now: number, leaseMs: number): Promise<Campaign | undefined> {
    return promised(() => {
      const ready = this.cache.get<{ id: string }>(CAMPAIGN_SQL.readyFanOut).get(now, now, owner);
      if (!ready) return undefined;
      return this.row(CAMPAIGN_SQL.claimFanOut, owner, now + leaseMs, now, ready.id);
    });
  }

  /** Deferred, as the batch it follows is (messages.acceptBatch). */
  saveFanOut(id: string, save: FanOutSave): Promise<boolean> {
    const values = fanOutSaveValues(id, save);
    return promised(() =>
      runDeferred(
        this.cache,
        () => this.cache.get(CAMPAIGN_SQL.saveFanOut).run(...values).changes > 0,
      ),
    );
  }

  finishFanOut(id: string, owner: string, progress: FanOutProgress, at: number): Promise<boolean> {
    const done = { ...progress, phase: 'done' as const };
    return promised(
      () =>
        this.cache.get(CAMPAIGN_SQL.finishFanOut).run(JSON.stringify(done), at, at, id, owner)
          .changes > 0,
    );
  }

  releaseFanOut(id: string, owner: string): Promise<void> {
    return promised(() => {
      this.cache.get(CAMPAIGN_SQL.releaseFanOut).run(id, owner);
    });
  }

  active(limit: number): Promise<Campaign[]> {
    return promised(() =>
      this.cache
        .get<CampaignRow>(CAMPAIGN_SQL.active)
        .all(limit)
        .map((row) => campaignFromRow(row, decodeJsonText)),
    );
  }

  // The upkeep below runs every few seconds per campaign: each reads first
  // and writes only when there is something to change (see claimFanOut).

  /**
   * Ranges first (see eachRange), newest first: messages are sent about in
   * the order they were written, so while a campaign sends its unsettled
   * messages are its newest, found in the first range. Only when there is
   * none, the update. A final state is final, so what the walk saw stays
   * settled; the update checks the messages written since the walk began,
   * whose ids sort after the newest it saw (ids start with their creation
   * time, core/ids.ts; and a campaign takes messages only while `sending`,
   * which the update excludes). Not the whole index again: one walk of a
   * 1M campaign's entries held the loop ~0.2 s.
   */
  async completeIfSettled(id: string, at: number): Promise<boolean> {
    let unsettled = false;
    let newest = '';
    const newestFirst = true;
    await this.eachRange(
      id,
      (first, last) => {
        if (newest === '') newest = last;
        unsettled = this.cache.get(CAMPAIGN_SQL.unsettledIn).get(id, first, last) !== undefined;
        return unsettled;
      },
      newestFirst,
    );
    if (unsettled) return false;
    return promised(
      () => this.cache.get(CAMPAIGN_SQL.completeIfSettled).run(at, id, id, newest).changes > 0,
    );
  }

  sweepCancelled(id: string, now: number): Promise<number> {
    return promised(() =>
      this.cache.get(CAMPAIGN_SQL.cancellable).get(id, now)
        ? this.applyToMessages(id, 'cancel', now)
        : 0,
    );
  }

  sweepPaused(id: string, at: number): Promise<number> {
    return promised(() =>
      this.cache.get(CAMPAIGN_SQL.holdable).get(id)
        ? this.cache.get(CAMPAIGN_SQL.hold).run(at, id).changes
        : 0,
    );
  }

  /**
   * Runs `visit` on the campaign's messages one range of at most statsChunk
   * ids at a time (first and last id, both in the range), in id order or
   * newest first, and lets the event loop run between ranges:
   * better-sqlite3 runs a statement to its end on the one thread, and one
   * statement over a 1M-message campaign held it ~0.5 s even from the
   * covering index, 1 – 8 s without it. Each message is in exactly one
   * range, so sums over the ranges count it once, in the state its range
   * found it in (as one statement finds each row in one state); messages
   * written after their range was read are not counted, as if written after
   * the statement. Stops when `visit` returns true.
   */
  private async eachRange(
    id: string,
    visit: (first: string, last: string) => boolean | void,
    newestFirst = false,
  ): Promise<void> {
    let from = newestFirst ? ABOVE_EVERY_ID : '';
    const next = newestFirst ? CAMPAIGN_SQL.rangeDown : CAMPAIGN_SQL.range;
    for (;;) {
      const done = await promised(() => {
        const range = this.cache
          .get<{ first: string | null; last: string | null }>(next)
          .get(id, from, this.statsChunk);
        if (!range?.first || !range.last) return true;
        from = newestFirst ? range.first : range.last;
        return visit(range.first, range.last) === true;
      });
      if (done) return;
      await nextTurn();
    }
  }

  async messageCounts(id: string): Promise<CampaignMessageCount[]> {
    const totals = new Map<string, CampaignMessageCount>();
    await this.eachRange(id, (first, last) => {
      const rows = this.cache
        .get<{ variant: number | null; status: string; bounce_category: string | null; n: number }>(
          CAMPAIGN_SQL.messageCounts,
        )
        .all(id, first, last);
      for (const row of rows) {
        const variant = Number(row.variant ?? 0);
        const key = `${variant} ${row.status} ${row.bounce_category ?? ''}`;
        const total = totals.get(key);
        if (total) {
          total.count += Number(row.n);
          continue;
        }
        totals.set(key, {
          variant,
          status: row.status as MessageStatus,
          ...(row.bounce_category ? { bounceCategory: row.bounce_category as BounceCategory } : {}),
          count: Number(row.n),
        });
      }
    });
    return [...totals.values()];
  }

  /** Distinct messages per range: the ranges do not overlap, so their sums are exact. */
  async engagementCounts(id: string): Promise<CampaignEngagementCount[]> {
    const totals = new Map<string, CampaignEngagementCount>();
    await this.eachRange(id, (first, last) => {
      const rows = this.cache
        .get<{ variant: number | null; kind: string; n: number }>(CAMPAIGN_SQL.engagementCounts)
        .all(id, first, last);
      for (const row of rows) {
        const variant = Number(row.variant ?? 0);
        const key = `${variant} ${row.kind}`;
        const total = totals.get(key);
        if (total) total.messages += Number(row.n);
        else
          totals.set(key, { variant, kind: row.kind as EngagementKind, messages: Number(row.n) });
      }
    });
    return [...totals.values()];
  }

  complaints(id: string): Promise<number> {
    return promised(() => this.cache.get<{ n: number }>(CAMPAIGN_SQL.complaints).get(id)?.n ?? 0);
  }
}
