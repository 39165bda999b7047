/**
 * Retention: a singleton duty that deletes messages in a final state (with
 * their attempts and idempotency keys) once they are older than
 * `retention.messages`. In batches of BATCH rows, each its own transaction,
 * so that a large backlog never holds locks for long; at most MAX_BATCHES
 * a run, so that a run ends and leadership changes are seen between runs.
 */
import type { Clock } from '../core/clock.js';
import type { MaintenanceStore } from '../core/ports/store.js';
import type { Duty, DutyLogger } from './leader-duties.js';

/** 2,000 rows: a delete of that size takes tens of milliseconds on either dialect. */
const BATCH = 2_000;
/** 500 batches: up to a million rows a run. */
const MAX_BATCHES = 500;

export function retentionDuty(options: {
  maintenance: MaintenanceStore;
  clock: Clock;
  logger: DutyLogger;
  maxAgeMs: number;
  intervalMs: number;
}): Duty {
  return {
    name: 'retention',
    intervalMs: options.intervalMs,
    async run(signal) {
      const before = options.clock.now() - options.maxAgeMs;
      let total = 0;
      for (let i = 0; i < MAX_BATCHES && !signal.aborted; i++) {
        const purged = await options.maintenance.purgeFinished(before, BATCH);
        total += purged;
        if (purged < BATCH) break;
      }
      if (total > 0)
        options.logger.info({ deleted: total, before }, 'retention: deleted finished messages');
    },
  };
}
