/** Housekeeping on SQLite (retention): one IMMEDIATE transaction per batch. */
import type { MaintenanceStore } from '../../core/ports/store.js';
import { FINAL_STATUSES_SQL } from '../maintenance-sql.js';
import { promised } from './sqlite-errors.js';
import type { StatementCache } from './statement-cache.js';

const SQL = {
  pick: `SELECT id FROM messages WHERE status IN (${FINAL_STATUSES_SQL}) AND updated_at < ? LIMIT ?`,
  // Attempts go with their message (ON DELETE CASCADE).
  deleteMessage: `DELETE FROM messages WHERE id = ?`,
  deleteKeys: `DELETE FROM idempotency_keys WHERE message_id = ?`,
} as const;

export class SqliteMaintenanceStore implements MaintenanceStore {
  constructor(private readonly cache: StatementCache) {}

  purgeFinished(before: number, limit: number): Promise<number> {
    return promised(() => {
      const purge = this.cache.transaction(() => {
        const ids = this.cache.get<{ id: string }>(SQL.pick).all(before, limit);
        const deleteMessage = this.cache.get(SQL.deleteMessage);
        const deleteKeys = this.cache.get(SQL.deleteKeys);
        for (const { id } of ids) {
          deleteKeys.run(id);
          deleteMessage.run(id);
        }
        return ids.length;
      });
      return purge.immediate();
    });
  }
}
