/**
 * Housekeeping on PostgreSQL (retention): one statement per batch. Rows
 * another node is deleting at the same moment are skipped (SKIP LOCKED), so
 * two retention runs overlapping after a leader change do not wait on each
 * other.
 */
import type { MaintenanceStore } from '../../core/ports/store.js';
import { FINAL_STATUSES_SQL } from '../maintenance-sql.js';
import type { PgDatabase } from './pg-database.js';

// Attempts go with their message (ON DELETE CASCADE).
const PURGE = `WITH doomed AS (
    SELECT id FROM messages
    WHERE status IN (${FINAL_STATUSES_SQL}) AND updated_at < $1
    LIMIT $2 FOR UPDATE SKIP LOCKED
  ), gone AS (
    DELETE FROM messages m USING doomed d WHERE m.id = d.id RETURNING m.id
  ), keys AS (
    DELETE FROM idempotency_keys k USING gone g WHERE k.message_id = g.id
  )
  SELECT count(*)::int AS n FROM gone`;

export class PgMaintenanceStore implements MaintenanceStore {
  constructor(private readonly db: PgDatabase) {}

  async purgeFinished(before: number, limit: number): Promise<number> {
    const rows = await this.db.rows<{ n: number }>(PURGE, [before, limit]);
    return rows[0]?.n ?? 0;
  }
}
