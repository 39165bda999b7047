/**
 * Webhook endpoints and the webhook outbox on SQLite (docs/webhooks.md).
 *
 * `enqueueEvent` is the outbox write: called inside the transaction of the
 * source (settle, engagement, complaint), it adds one delivery row per
 * enabled endpoint subscribed to the event's type, in one INSERT … SELECT.
 * `hasSubscribers` lets a settle batch skip building event data when no
 * endpoint is enabled (the common case of an installation without webhooks).
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
import { countsByStatus, decodeJsonText } from '../rows.js';
import {
  claimedFromRow,
  deliveriesBefore,
  deliveryFromRow,
  endpointFromRow,
  type ClaimedWebhookRow,
  type WebhookDeliveryRow,
  type WebhookEndpointRow,
} from '../webhook-rows.js';
import { runDeferred } from './deferred-commit.js';
import { promised } from './sqlite-errors.js';
import type { StatementCache } from './statement-cache.js';

const LIVE = `status IN ('pending', 'sending')`;

export const WEBHOOK_SQL = {
  anyEnabled: `SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled = 1) AS any`,
  fanOut: `INSERT INTO webhook_deliveries
      (endpoint_id, event_id, type, data, created_at, status, attempts, next_attempt_at)
    SELECT e.id, ?, ?, ?, ?, 'pending', 0, ?
    FROM webhook_endpoints e
    WHERE e.enabled = 1 AND EXISTS (SELECT 1 FROM json_each(e.events) WHERE value = ?)`,
  enqueueOne: `INSERT INTO webhook_deliveries
      (endpoint_id, event_id, type, data, created_at, status, attempts, next_attempt_at)
    VALUES (?, ?, ?, ?, ?, 'pending', 0, ?)`,
  insertEndpoint: `INSERT INTO webhook_endpoints
      (id, url, events, description, enabled, secret, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
  getEndpoint: `SELECT * FROM webhook_endpoints WHERE id = ?`,
  pageEndpoints: `SELECT * FROM webhook_endpoints WHERE id > ? ORDER BY id LIMIT ?`,
  updateEndpoint: `UPDATE webhook_endpoints
    SET url = coalesce(?, url), events = coalesce(?, events),
        description = coalesce(?, description), enabled = coalesce(?, enabled), updated_at = ?
    WHERE id = ? RETURNING *`,
  deleteEndpoint: `DELETE FROM webhook_endpoints WHERE id = ?`,
  deleteDeliveriesOf: `DELETE FROM webhook_deliveries WHERE endpoint_id = ?`,
  rotate: `UPDATE webhook_endpoints
    SET previous_secret = secret, previous_secret_expires_at = ?, secret = ?,
        secret_rotated_at = ?, updated_at = ?
    WHERE id = ? RETURNING *`,
  pageDeliveries: `SELECT * FROM webhook_deliveries WHERE endpoint_id = ? AND event_id < ?
    ORDER BY event_id DESC LIMIT ?`,
  // Per endpoint, one probe of the (endpoint_id, next_attempt_at) index: a
  // long backlog of not-yet-due retries is never scanned.
  dueEndpoints: `SELECT e.id AS endpoint_id FROM webhook_endpoints e
    WHERE e.enabled = 1 AND EXISTS (SELECT 1 FROM webhook_deliveries d
      WHERE d.endpoint_id = e.id AND d.${LIVE} AND d.next_attempt_at <= ?)
    LIMIT ?`,
  pick: `SELECT d.*, e.url, e.secret, e.previous_secret, e.previous_secret_expires_at
    FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
    WHERE d.endpoint_id = ? AND d.${LIVE} AND d.next_attempt_at <= ? AND e.enabled = 1
    ORDER BY d.next_attempt_at LIMIT ?`,
  lease: `UPDATE webhook_deliveries SET status = 'sending', next_attempt_at = ?, lease_owner = ?
    WHERE endpoint_id = ? AND event_id = ?`,
  complete: `UPDATE webhook_deliveries
    SET status = ?, attempts = attempts + 1, next_attempt_at = ?, lease_owner = NULL,
        last_status = ?, last_error = ?, last_attempt_at = ?, finished_at = ?
    WHERE endpoint_id = ? AND event_id = ? AND lease_owner = ? AND status = 'sending'`,
  nextDue: `SELECT min(d.next_attempt_at) AS next FROM webhook_deliveries d
    JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.${LIVE} AND e.enabled = 1`,
  countByStatus: `SELECT status, count(*) AS n FROM webhook_deliveries GROUP BY status`,
  purgeFinished: `DELETE FROM webhook_deliveries
    WHERE status IN ('delivered', 'failed') AND finished_at < ?`,
  purgeOrphans: `DELETE FROM webhook_deliveries
    WHERE ${LIVE} AND endpoint_id NOT IN (SELECT id FROM webhook_endpoints)`,
} as const;

/** Whether any endpoint is enabled: when none is, sources skip the outbox entirely. */
export function hasSubscribers(cache: StatementCache): boolean {
  return cache.get<{ any: number }>(WEBHOOK_SQL.anyEnabled).get()?.any === 1;
}

/** The outbox write; call inside the source's transaction. Returns the rows added. */
export function enqueueEvent(cache: StatementCache, event: WebhookEvent): number {
  return cache
    .get(WEBHOOK_SQL.fanOut)
    .run(
      event.id,
      event.type,
      JSON.stringify(event.data),
      event.createdAt,
      event.createdAt,
      event.type,
    ).changes;
}

export class SqliteWebhookStore implements WebhookStore {
  constructor(private readonly cache: StatementCache) {}

  createEndpoint(input: NewWebhookEndpoint): Promise<WebhookEndpoint> {
    return promised(() => {
      const row = this.cache
        .get<WebhookEndpointRow>(WEBHOOK_SQL.insertEndpoint)
        .get(
          input.id,
          input.url,
          JSON.stringify(input.events),
          input.description,
          input.enabled ? 1 : 0,
          input.secret,
          input.at,
          input.at,
        );
      return endpointFromRow(row as WebhookEndpointRow, decodeJsonText);
    });
  }

  getEndpoint(id: string): Promise<WebhookEndpoint | undefined> {
    return promised(() => {
      const row = this.cache.get<WebhookEndpointRow>(WEBHOOK_SQL.getEndpoint).get(id);
      return row ? endpointFromRow(row, decodeJsonText) : undefined;
    });
  }

  listEndpoints(query: PageQuery): Promise<Page<WebhookEndpoint>> {
    return promised(() => {
      const rows = this.cache
        .get<WebhookEndpointRow>(WEBHOOK_SQL.pageEndpoints)
        .all(query.after ?? '', fetchSize(query));
      return toPage(
        rows.map((row) => endpointFromRow(row, decodeJsonText)),
        query,
      );
    });
  }

  updateEndpoint(id: string, patch: WebhookEndpointPatch): Promise<WebhookEndpoint | undefined> {
    return promised(() => {
      const row = this.cache
        .get<WebhookEndpointRow>(WEBHOOK_SQL.updateEndpoint)
        .get(
          patch.url ?? null,
          patch.events ? JSON.stringify(patch.events) : null,
          patch.description ?? null,
          patch.enabled === undefined ? null : patch.enabled ? 1 : 0,
          patch.at,
          id,
        );
      return row ? endpointFromRow(row, decodeJsonText) : undefined;
    });
  }

  deleteEndpoint(id: string): Promise<boolean> {
    const run = this.cache.transaction(() => {
      this.cache.get(WEBHOOK_SQL.deleteDeliveriesOf).run(id);
      return this.cache.get(WEBHOOK_SQL.deleteEndpoint).run(id).changes > 0;
    });
    return promised(() => run.immediate());
  }

  rotateSecret(
    id: string,
    input: { secret: string; previousExpiresAt: number; at: number },
  ): Promise<WebhookEndpoint | undefined> {
    return promised(() => {
      const row = this.cache
        .get<WebhookEndpointRow>(WEBHOOK_SQL.rotate)
        .get(input.previousExpiresAt, input.secret, input.at, input.at, id);
      return row ? endpointFromRow(row, decodeJsonText) : undefined;
    });
  }

  enqueue(endpointId: string, event: WebhookEvent): Promise<void> {
    return promised(() => {
      this.cache
        .get(WEBHOOK_SQL.enqueueOne)
        .run(
          endpointId,
          event.id,
          event.type,
          JSON.stringify(event.data),
          event.createdAt,
          event.createdAt,
        );
    });
  }

  listDeliveries(endpointId: string, query: PageQuery): Promise<Page<WebhookDelivery>> {
    return promised(() => {
      const rows = this.cache
        .get<WebhookDeliveryRow>(WEBHOOK_SQL.pageDeliveries)
        .all(endpointId, deliveriesBefore(query.after), fetchSize(query));
      return toPageBy(
        rows.map((row) => deliveryFromRow(row, decodeJsonText)),
        query,
        (d) => d.eventId,
      );
    });
  }

  dueEndpoints(now: number, limit: number): Promise<string[]> {
    return promised(() =>
      this.cache
        .get<{ endpoint_id: string }>(WEBHOOK_SQL.dueEndpoints)
        .all(now, limit)
        .map((row) => row.endpoint_id),
    );
  }

  claim({
    endpointId,
    limit,
    leaseMs,
    owner,
    now,
  }: WebhookClaimRequest): Promise<ClaimedWebhookDelivery[]> {
    if (limit <= 0) return Promise.resolve([]);
    const run = this.cache.transaction(() => {
      const rows = this.cache.get<ClaimedWebhookRow>(WEBHOOK_SQL.pick).all(endpointId, now, limit);
      const lease = this.cache.get(WEBHOOK_SQL.lease);
      return rows.map((row) => {
        lease.run(now + leaseMs, owner, row.endpoint_id, row.event_id);
        return claimedFromRow(
          { ...row, status: 'sending', next_attempt_at: now + leaseMs, lease_owner: owner },
          decodeJsonText,
        );
      });
    });
    // Deferred (deferred-commit.ts): a claim lost to a power cut leaves the row due again.
    return promised(() => runDeferred(this.cache, () => run.immediate()));
  }

  complete(results: WebhookAttemptResult[]): Promise<number> {
    if (results.length === 0) return Promise.resolve(0);
    const run = this.cache.transaction(() => {
      const update = this.cache.get(WEBHOOK_SQL.complete);
      let applied = 0;
      for (const r of results) {
        const status = r.outcome === 'retry' ? 'pending' : r.outcome;
        applied += update.run(
          status,
          r.outcome === 'retry' ? (r.nextAttemptAt ?? r.at) : null,
          r.status ?? null,
          r.error ?? null,
          r.at,
          r.outcome === 'retry' ? null : r.at,
          r.endpointId,
          r.eventId,
          r.owner,
        ).changes;
      }
      return applied;
    });
    // Deferred: a result lost to a power cut only means the request is made again
    // (at least once); one fsync per webhook request would stall the event loop.
    return promised(() => runDeferred(this.cache, () => run.immediate()));
  }

  nextDueAt(): Promise<number | undefined> {
    return promised(
      () => this.cache.get<{ next: number | null }>(WEBHOOK_SQL.nextDue).get()?.next ?? undefined,
    );
  }

  /** Off the event loop when it can be (StatementCache.readAll): O(deliveries), read at each metrics scrape. */
  async countByStatus(): Promise<WebhookDeliveryCounts> {
    const rows = await this.cache.readAll<{ status: string; n: number }>(WEBHOOK_SQL.countByStatus);
    return countsByStatus(WEBHOOK_DELIVERY_STATUSES, rows);
  }

  purge(before: number): Promise<number> {
    const run = this.cache.transaction(
      () =>
        this.cache.get(WEBHOOK_SQL.purgeFinished).run(before).changes +
        this.cache.get(WEBHOOK_SQL.purgeOrphans).run().changes,
    );
    return promised(() => run.immediate());
  }
}
