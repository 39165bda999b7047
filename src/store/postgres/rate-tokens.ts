/**
 * Shared token buckets on PostgreSQL (migration 0009_cluster): one
 * statement leases from every bucket a reservation needs, each through
 * sluice_lease_tokens (refill by the server's clock, then grant). Buckets
 * are locked in id order, so two nodes leasing the same buckets queue
 * instead of deadlocking.
 */
import type { RateTokenGrant, RateTokenLease, RateTokenStore } from '../../core/ports/store.js';
import type { PgDatabase } from './pg-database.js';

const LEASE = `SELECT r.id, l.before, l.granted
  FROM unnest($1::text[], $2::float8[], $3::float8[], $4::int[], $5::float8[])
    WITH ORDINALITY AS r (id, capacity, rate, want, ahead, n)
  CROSS JOIN LATERAL sluice_lease_tokens(r.id, r.capacity, r.rate, r.want, r.ahead) AS l
  ORDER BY r.n`;

const PRUNE = `DELETE FROM throttle_buckets
  WHERE updated_at < floor(extract(epoch FROM clock_timestamp()) * 1000) - $1`;

export class PgRateTokenStore implements RateTokenStore {
  constructor(private readonly db: PgDatabase) {}

  async lease(requests: RateTokenLease[]): Promise<RateTokenGrant[]> {
    if (requests.length === 0) return [];
    const sorted = [...requests].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const rows = await this.db.rows<{ id: string; before: number; granted: number }>(
      LEASE,
      [
        sorted.map((r) => r.id),
        sorted.map((r) => r.capacity),
        sorted.map((r) => r.ratePerMs),
        sorted.map((r) => Math.max(0, Math.floor(r.want))),
        sorted.map((r) => Math.max(0, r.aheadMs)),
      ],
      'sluice_lease_tokens',
    );
    return rows.map((row) => ({ id: row.id, before: Number(row.before), granted: row.granted }));
  }

  async prune(idleMs: number): Promise<number> {
    return (await this.db.query(PRUNE, [idleMs])).rowCount ?? 0;
  }
}
