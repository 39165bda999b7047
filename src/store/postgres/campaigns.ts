/**
 * Campaigns on PostgreSQL (see CampaignStore in core/ports/store.ts). Many
 * nodes share the table:
 *
 * - the scheduler's move scheduled → sending is a conditional UPDATE, so
 *   one node makes it;
 * - the fan-out of a campaign is owned by one node through a lease on its
 *   row, taken with FOR UPDATE SKIP LOCKED (a node never waits for another's
 *   claim) and renewed with every saved batch; a dead node's lease runs out
 *   and another node takes the fan-out over from the saved cursor;
 * - a status change and what it does to the campaign's messages are one
 *   transaction; the fan-out's batch insert holds the campaign row FOR SHARE
 *   (messages.acceptBatch), so a pause either sees the batch's rows (and
 *   holds them) or makes the batch write nothing.
 */
import type {
  Campaign,
  CampaignDefinition,
  CampaignStatus,
  FanOutProgress,
} from '../../core/campaign.js';
import type { BounceCategory } from '../../core/bounce.js';
import type { MessageStatus } from '../../core/message.js';
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
import {
  campaignFromRow,
  CANCELLED_ERROR,
  definitionOf,
  fanOutSaveValues,
  type CampaignRow,
} from '../campaign-rows.js';
import { afterCursor, fetchSize, toPage } from '../paging.js';
import { decodeJsonb } from '../rows.js';
import type { PgDatabase } from './pg-database.js';

type Queryable = Pick<PgDatabase, 'rows'>;

const READY = `status = 'sending' AND (phase IN ('pending', 'all', 'test', 'rest')
  OR (phase = 'waiting' AND test_ends_at <= $1))`;

const SQL = {
  insert: `INSERT INTO campaigns (id, name, status, definition, send_at, phase, progress, winner,
      pause, started_at, test_ends_at, fanned_out_at, completed_at, created_at, updated_at)
    VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7::jsonb, $8, $9::jsonb, $10, $11, $12, $13, $14, $15)`,
  get: `SELECT * FROM campaigns WHERE id = $1`,
  getMany: `SELECT * FROM campaigns WHERE id = ANY($1::text[])`,
  page: `SELECT * FROM campaigns WHERE id > $1 AND ($2::text IS NULL OR status = $2)
    ORDER BY id LIMIT $3`,
  update: `UPDATE campaigns SET name = $1, definition = $2::jsonb,
      send_at = CASE WHEN $3::boolean THEN $4::bigint ELSE send_at END, updated_at = $5
    WHERE id = $6 AND status = ANY($7::text[]) RETURNING *`,
  transition: `UPDATE campaigns SET status = $1,
      send_at = CASE WHEN $2::boolean THEN $3::bigint ELSE send_at END,
      pause = CASE WHEN $4::boolean THEN $5::jsonb ELSE pause END,
      started_at = coalesce(started_at, $6::bigint),
      lease_owner = CASE WHEN $1 = 'sending' THEN lease_owner END,
      lease_until = CASE WHEN $1 = 'sending' THEN lease_until END,
      updated_at = $7
    WHERE id = $8 AND status = ANY($9::text[])
    RETURNING *`,
  deleteDraft: `DELETE FROM campaigns WHERE id = $1 AND status = 'draft'`,
  due: `SELECT id FROM campaigns WHERE status = 'scheduled' AND send_at <= $1
    ORDER BY send_at LIMIT $2`,
  nextSendAt: `SELECT min(send_at) AS next FROM campaigns WHERE status = 'scheduled'`,
  claimFanOut: `UPDATE campaigns SET lease_owner = $2, lease_until = $3, updated_at = $1
    WHERE id = (SELECT id FROM campaigns WHERE ${READY}
      AND (lease_owner IS NULL OR lease_until <= $1 OR lease_owner = $2)
      ORDER BY started_at, id LIMIT 1
      FOR UPDATE SKIP LOCKED)
    RETURNING *`,
  saveFanOut: `UPDATE campaigns SET progress = $1::jsonb, phase = $2,
      winner = coalesce($3::integer, winner), test_ends_at = coalesce($4::bigint, test_ends_at),
      lease_until = $5, updated_at = $6
    WHERE id = $7 AND lease_owner = $8 AND status = 'sending'`,
  finishFanOut: `UPDATE campaigns SET progress = $1::jsonb, phase = 'done', status = 'sent',
      fanned_out_at = $2, lease_owner = NULL, lease_until = NULL, updated_at = $2
    WHERE id = $3 AND lease_owner = $4 AND status = 'sending'`,
  releaseFanOut: `UPDATE campaigns SET lease_owner = NULL, lease_until = NULL
    WHERE id = $1 AND lease_owner = $2`,
  active: `SELECT * FROM campaigns
    WHERE status IN ('sending', 'sent', 'paused', 'cancelled') AND completed_at IS NULL
    ORDER BY id LIMIT $1`,
  completeIfSettled: `UPDATE campaigns SET completed_at = $1
    WHERE id = $2 AND completed_at IS NULL AND status IN ('sent', 'cancelled')
      AND NOT EXISTS (SELECT 1 FROM messages
        WHERE campaign_id = $2 AND status IN ('queued', 'deferred', 'sending'))`,
  hold: `UPDATE messages SET due_at = ${CAMPAIGN_HOLD}, updated_at = $1
    WHERE campaign_id = $2 AND status IN ('queued', 'deferred') AND due_at < ${CAMPAIGN_HOLD}`,
  release: `UPDATE messages SET due_at = $1, updated_at = $1
    WHERE campaign_id = $2 AND status IN ('queued', 'deferred') AND due_at >= ${CAMPAIGN_HOLD}`,
  cancel: `UPDATE messages SET status = 'failed', last_error = '${CANCELLED_ERROR}',
      lease_owner = NULL, due_at = $1, updated_at = $1
    WHERE campaign_id = $2
      AND (status IN ('queued', 'deferred') OR (status = 'sending' AND due_at <= $1))`,
  messageCounts: `SELECT coalesce(variant, 0) AS variant, status, bounce_category, count(*) AS n
    FROM messages WHERE campaign_id = $1 GROUP BY 1, 2, 3`,
  engagementCounts: `SELECT coalesce(m.variant, 0) AS variant, e.kind AS kind,
      count(DISTINCT e.message_id) AS n
    FROM messages m JOIN engagement e ON e.message_id = m.id
    WHERE m.campaign_id = $1 GROUP BY 1, 2`,
  complaints: `SELECT count(*) AS n FROM messages m JOIN contacts c ON c.email = m.to_email
    WHERE m.campaign_id = $1 AND c.status = 'complained'`,
} as const;

function fromRows(rows: CampaignRow[]): Campaign[] {
  return rows.map((row) => campaignFromRow(row, decodeJsonb));
}

export class PgCampaignStore implements CampaignStore {
  constructor(private readonly db: PgDatabase) {}

  private async one(sql: string, values: unknown[], db: Queryable = this.db) {
    const [row] = await db.rows<CampaignRow>(sql, values);
    return row ? campaignFromRow(row, decodeJsonb) : undefined;
  }

  async create(campaign: Campaign): Promise<Campaign> {
    await this.db.query(SQL.insert, [
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
    ]);
    return structuredClone(campaign);
  }

  get(id: string): Promise<Campaign | undefined> {
    return this.one(SQL.get, [id]);
  }

  async getMany(ids: string[]): Promise<Campaign[]> {
    if (ids.length === 0) return [];
    return fromRows(await this.db.rows<CampaignRow>(SQL.getMany, [ids]));
  }

  async list(query: PageQuery & { status?: CampaignStatus }): Promise<Page<Campaign>> {
    const rows = await this.db.rows<CampaignRow>(SQL.page, [
      afterCursor(query),
      query.status ?? null,
      fetchSize(query),
    ]);
    return toPage(fromRows(rows), query);
  }

  update(
    id: string,
    patch: { name: string; definition: CampaignDefinition; sendAt?: number | null; at: number },
    statuses: readonly CampaignStatus[],
  ): Promise<Campaign | undefined> {
    return this.one(SQL.update, [
      patch.name,
      JSON.stringify(definitionOf(patch.definition)),
      patch.sendAt !== undefined,
      patch.sendAt ?? null,
      patch.at,
      id,
      statuses,
    ]);
  }

  transition(id: string, change: CampaignTransition): Promise<Campaign | undefined> {
    return this.db.transaction(async (client) => {
      const { rows } = await client.query<CampaignRow>(SQL.transition, [
        change.to,
        change.sendAt !== undefined,
        change.sendAt ?? null,
        change.pause !== undefined,
        change.pause ? JSON.stringify(change.pause) : null,
        change.startedAt ?? null,
        change.at,
        id,
        change.from,
      ]);
      const [row] = rows;
      if (!row) return undefined;
      const sql =
        change.messages === 'hold'
          ? SQL.hold
          : change.messages === 'release'
            ? SQL.release
            : change.messages === 'cancel'
              ? SQL.cancel
              : undefined;
      if (sql) await client.query(sql, [change.at, id]);
      return campaignFromRow(row, decodeJsonb);
    });
  }

  async deleteDraft(id: string): Promise<boolean> {
    return ((await this.db.query(SQL.deleteDraft, [id])).rowCount ?? 0) > 0;
  }

  async due(now: number, limit: number): Promise<string[]> {
    return (await this.db.rows<{ id: string }>(SQL.due, [now, limit])).map((row) => row.id);
  }

  async nextSendAt(): Promise<number | undefined> {
    const [row] = await this.db.rows<{ next: number | null }>(SQL.nextSendAt);
    return row?.next ?? undefined;
  }

  claimFanOut(owner: string, now: number, leaseMs: number): Promise<Campaign | undefined> {
    return this.one(SQL.claimFanOut, [now, owner, now + leaseMs]);
  }

  async saveFanOut(id: string, save: FanOutSave): Promise<boolean> {
    const result = await this.db.query(SQL.saveFanOut, fanOutSaveValues(id, save));
    return (result.rowCount ?? 0) > 0;
  }

  async finishFanOut(
    id: string,
    owner: string,
    progress: FanOutProgress,
    at: number,
  ): Promise<boolean> {
    const done = { ...progress, phase: 'done' as const };
    const result = await this.db.query(SQL.finishFanOut, [JSON.stringify(done), at, id, owner]);
    return (result.rowCount ?? 0) > 0;
  }

  async releaseFanOut(id: string, owner: string): Promise<void> {
    await this.db.query(SQL.releaseFanOut, [id, owner]);
  }

  async active(limit: number): Promise<Campaign[]> {
    return fromRows(await this.db.rows<CampaignRow>(SQL.active, [limit]));
  }

  async completeIfSettled(id: string, at: number): Promise<boolean> {
    return ((await this.db.query(SQL.completeIfSettled, [at, id])).rowCount ?? 0) > 0;
  }

  async sweepCancelled(id: string, now: number): Promise<number> {
    return (await this.db.query(SQL.cancel, [now, id])).rowCount ?? 0;
  }

  async sweepPaused(id: string, at: number): Promise<number> {
    return (await this.db.query(SQL.hold, [at, id])).rowCount ?? 0;
  }

  async messageCounts(id: string): Promise<CampaignMessageCount[]> {
    const rows = await this.db.rows<{
      variant: number;
      status: string;
      bounce_category: string | null;
      n: number;
    }>(SQL.messageCounts, [id]);
    return rows.map((row) => ({
      variant: Number(row.variant),
      status: row.status as MessageStatus,
      ...(row.bounce_category ? { bounceCategory: row.bounce_category as BounceCategory } : {}),
      count: Number(row.n),
    }));
  }

  async engagementCounts(id: string): Promise<CampaignEngagementCount[]> {
    const rows = await this.db.rows<{ variant: number; kind: string; n: number }>(
      SQL.engagementCounts,
      [id],
    );
    return rows.map((row) => ({
      variant: Number(row.variant),
      kind: row.kind as EngagementKind,
      messages: Number(row.n),
    }));
  }

  async complaints(id: string): Promise<number> {
    const [row] = await this.db.rows<{ n: number }>(SQL.complaints, [id]);
    return Number(row?.n ?? 0);
  }
}
