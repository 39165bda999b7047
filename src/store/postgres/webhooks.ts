/**
 * Webhook endpoints and the webhook outbox on PostgreSQL (docs/webhooks.md).
 * Every write is one statement. The outbox rows themselves are written by
 * the sources' own statements (settle in messages.ts, engagement.ts,
 * complaints.ts) with FAN_OUT_SQL's shape: one row per enabled endpoint
 * whose `events` holds the type.
 *
 * claim: `FOR UPDATE SKIP LOCKED`, so dispatchers on several nodes share
 * the due rows of an endpoint without taking the same one or waiting.
 */
import type { Page, PageQuery } from '../../core/ports/store.js';
import {
  WEBHOOK_DELIVERY_STATUSES,
  type ClaimedWebhookDelivery,
  type NewWebhookEndpoint,
  type WebhookAttemptResult,
  type WebhookClaimRequest,
  type WebhookDelivery,
  type WebhookDeliveryCounts,
  type WebhookEndpoint,
  type WebhookEndpointPatch,
  type WebhookStore,
} from '../../core/ports/webhook-store.js';
import type { WebhookEvent } from '../../core/webhook-events.js';
import { fetchSize, toPage, toPageBy } from '../paging.js';
import { countsByStatus, decodeJsonb } from '../rows.js';
import {
  claimedFromRow,
  deliveriesBefore,
  deliveryFromRow,
  endpointFromRow,
  type ClaimedWebhookRow,
  type WebhookDeliveryRow,
  type WebhookEndpointRow,
} from '../webhook-rows.js';
import type { PgDatabase } from './pg-database.js';

const LIVE = `status IN ('pending', 'sending')`;
const RETURN_ENDPOINT = `RETURNING *`;

export const WEBHOOK_SQL = {
  enqueueOne: `INSERT INTO webhook_deliveries
      (endpoint_id, event_id, type, data, created_at, status, attempts, next_attempt_at)
    VALUES ($1, $2, $3, $4::jsonb, $5, 'pending', 0, $5)`,
  insertEndpoint: `INSERT INTO webhook_endpoints
      (id, url, events, description, enabled, secret, created_at, updated_at)
    VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $7) ${RETURN_ENDPOINT}`,
  getEndpoint: `SELECT * FROM webhook_endpoints WHERE id = $1`,
  pageEndpoints: `SELECT * FROM webhook_endpoints WHERE id > $1 ORDER BY id LIMIT $2`,
  updateEndpoint: `UPDATE webhook_endpoints
    SET url = coalesce($1, url), events = coalesce($2::jsonb, events),
        description = coalesce($3, description), enabled = coalesce($4, enabled), updated_at = $5
    WHERE id = $6 ${RETURN_ENDPOINT}`,
  deleteEndpoint: `WITH gone AS (DELETE FROM webhook_endpoints WHERE id = $1 RETURNING id),
    deliveries AS (DELETE FROM webhook_deliveries WHERE endpoint_id = $1)
    SELECT count(*)::int AS n FROM gone`,
  rotate: `UPDATE webhook_endpoints
    SET previous_secret = secret, previous_secret_expires_at = $1, secret = $2,
        secret_rotated_at = $3, updated_at = $3
    WHERE id = $4 ${RETURN_ENDPOINT}`,
  pageDeliveries: `SELECT * FROM webhook_deliveries WHERE endpoint_id = $1 AND event_id < $2
    ORDER BY event_id DESC LIMIT $3`,
  // Per endpoint, one probe of the (endpoint_id, next_attempt_at) index.
  dueEndpoints: `SELECT e.id AS endpoint_id FROM webhook_endpoints e
    WHERE e.enabled AND EXISTS (SELECT 1 FROM webhook_deliveries d
      WHERE d.endpoint_id = e.id AND d.${LIVE} AND d.next_attempt_at <= $1)
    LIMIT $2`,
  claim: `WITH picked AS (
      SELECT d.endpoint_id, d.event_id FROM webhook_deliveries d
      WHERE d.endpoint_id = $1 AND d.${LIVE} AND d.next_attempt_at <= $2
        AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = $1 AND e.enabled)
      ORDER BY d.next_attempt_at LIMIT $3
      FOR UPDATE SKIP LOCKED),
    leased AS (
      UPDATE webhook_deliveries d SET status = 'sending', next_attempt_at = $4, lease_owner = $5
      FROM picked p WHERE d.endpoint_id = p.endpoint_id AND d.event_id = p.event_id
      RETURNING d.*)
    SELECT l.*, e.url, e.secret, e.previous_secret, e.previous_secret_expires_at
    FROM leased l JOIN webhook_endpoints e ON e.id = l.endpoint_id
    ORDER BY l.event_id`,
  complete: `UPDATE webhook_deliveries d
    SET status = i.status, attempts = d.attempts + 1, next_attempt_at = i.next_attempt_at,
        lease_owner = NULL, last_status = i.last_status, last_error = i.last_error,
        last_attempt_at = i.at, finished_at = i.finished_at
    FROM jsonb_to_recordset($1::jsonb) AS i (
      endpoint_id text, event_id text, owner text, status text, next_attempt_at bigint,
      last_status integer, last_error text, at bigint, finished_at bigint)
    WHERE d.endpoint_id = i.endpoint_id AND d.event_id = i.event_id
      AND d.lease_owner = i.owner AND d.status = 'sending'`,
  nextDue: `SELECT min(d.next_attempt_at) AS next FROM webhook_deliveries d
    JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.${LIVE} AND e.enabled`,
  countByStatus: `SELECT status, count(*)::int AS n FROM webhook_deliveries GROUP BY status`,
  purge: `WITH finished AS (
      DELETE FROM webhook_deliveries WHERE status IN ('delivered', 'failed') AND finished_at < $1
      RETURNING 1),
    orphans AS (
      DELETE FROM webhook_deliveries d WHERE d.${LIVE}
        AND NOT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = d.endpoint_id)
      RETURNING 1)
    SELECT (SELECT count(*) FROM finished) + (SELECT count(*) FROM orphans) AS n`,
} as const;

/**
 * The outbox write as a CTE body: `$event_id, $type, $data, $at` are the
 * caller's parameter numbers. Used inside the source's own statement.
 */
export function fanOutSql(eventId: string, type: string, data: string, at: string): string {
  return `INSERT INTO webhook_deliveries
      (endpoint_id, event_id, type, data, created_at, status, attempts, next_attempt_at)
    SELECT e.id, ${eventId}, ${type}, ${data}, ${at}, 'pending', 0, ${at}
    FROM webhook_endpoints e WHERE e.enabled AND e.events ? ${type}`;
}

export class PgWebhookStore implements WebhookStore {
  constructor(private readonly db: PgDatabase) {}

  async createEndpoint(input: NewWebhookEndpoint): Promise<WebhookEndpoint> {
    const [row] = await this.db.rows<WebhookEndpointRow>(WEBHOOK_SQL.insertEndpoint, [
      input.id,
      input.url,
      JSON.stringify(input.events),
      input.description,
      input.enabled,
      input.secret,
      input.at,
    ]);
    return endpointFromRow(row as WebhookEndpointRow, decodeJsonb);
  }

  async getEndpoint(id: string): Promise<WebhookEndpoint | undefined> {
    const [row] = await this.db.rows<WebhookEndpointRow>(WEBHOOK_SQL.getEndpoint, [id]);
    return row ? endpointFromRow(row, decodeJsonb) : undefined;
  }

  async listEndpoints(query: PageQuery): Promise<Page<WebhookEndpoint>> {
    const rows = await this.db.rows<WebhookEndpointRow>(WEBHOOK_SQL.pageEndpoints, [
      query.after ?? '',
      fetchSize(query),
    ]);
    return toPage(
      rows.map((row) => endpointFromRow(row, decodeJsonb)),
      query,
    );
  }

  async updateEndpoint(
    id: string,
    patch: WebhookEndpointPatch,
  ): Promise<WebhookEndpoint | undefined> {
    const [row] = await this.db.rows<WebhookEndpointRow>(WEBHOOK_SQL.updateEndpoint, [
      patch.url ?? null,
      patch.events ? JSON.stringify(patch.events) : null,
      patch.description ?? null,
      patch.enabled ?? null,
      patch.at,
      id,
    ]);
    return row ? endpointFromRow(row, decodeJsonb) : undefined;
  }

  async deleteEndpoint(id: string): Promise<boolean> {
    const [row] = await this.db.rows<{ n: number }>(WEBHOOK_SQL.deleteEndpoint, [id]);
    return (row?.n ?? 0) > 0;
  }

  async rotateSecret(
    id: string,
    input: { secret: string; previousExpiresAt: number; at: number },
  ): Promise<WebhookEndpoint | undefined> {
    const [row] = await this.db.rows<WebhookEndpointRow>(WEBHOOK_SQL.rotate, [
      input.previousExpiresAt,
      input.secret,
      input.at,
      id,
    ]);
    return row ? endpointFromRow(row, decodeJsonb) : undefined;
  }

  async enqueue(endpointId: string, event: WebhookEvent): Promise<void> {
    await this.db.query(WEBHOOK_SQL.enqueueOne, [
      endpointId,
      event.id,
      event.type,
      JSON.stringify(event.data),
      event.createdAt,
    ]);
  }

  async listDeliveries(endpointId: string, query: PageQuery): Promise<Page<WebhookDelivery>> {
    const rows = await this.db.rows<WebhookDeliveryRow>(WEBHOOK_SQL.pageDeliveries, [
      endpointId,
      deliveriesBefore(query.after),
      fetchSize(query),
    ]);
    return toPageBy(
      rows.map((row) => deliveryFromRow(row, decodeJsonb)),
      query,
      (d) => d.eventId,
    );
  }

  async dueEndpoints(now: number, limit: number): Promise<string[]> {
    const rows = await this.db.rows<{ endpoint_id: string }>(WEBHOOK_SQL.dueEndpoints, [
      now,
      limit,
    ]);
    return rows.map((row) => row.endpoint_id);
  }

  async claim({
    endpointId,
    limit,
    leaseMs,
    owner,
    now,
  }: WebhookClaimRequest): Promise<ClaimedWebhookDelivery[]> {
    if (limit <= 0) return [];
    const rows = await this.db.rows<ClaimedWebhookRow>(
      WEBHOOK_SQL.claim,
      [endpointId, now, limit, now + leaseMs, owner],
      'sluice_webhook_claim',
    );
    return rows.map((row) => claimedFromRow(row, decodeJsonb));
  }

  async complete(results: WebhookAttemptResult[]): Promise<number> {
    if (results.length === 0) return 0;
    const input = results.map((r) => ({
      endpoint_id: r.endpointId,
      event_id: r.eventId,
      owner: r.owner,
      status: r.outcome === 'retry' ? 'pending' : r.outcome,
      next_attempt_at: r.outcome === 'retry' ? (r.nextAttemptAt ?? r.at) : null,
      last_status: r.status ?? null,
      last_error: r.error ?? null,
      at: r.at,
      finished_at: r.outcome === 'retry' ? null : r.at,
    }));
    const result = await this.db.query(WEBHOOK_SQL.complete, [JSON.stringify(input)]);
    return result.rowCount ?? 0;
  }

  async nextDueAt(): Promise<number | undefined> {
    const [row] = await this.db.rows<{ next: number | null }>(WEBHOOK_SQL.nextDue);
    return row?.next ?? undefined;
  }

  async countByStatus(): Promise<WebhookDeliveryCounts> {
    const rows = await this.db.rows<{ status: string; n: number }>(WEBHOOK_SQL.countByStatus);
    return countsByStatus(WEBHOOK_DELIVERY_STATUSES, rows);
  }

  async purge(before: number): Promise<number> {
    const [row] = await this.db.rows<{ n: number }>(WEBHOOK_SQL.purge, [before]);
    return Number(row?.n ?? 0);
  }
}
