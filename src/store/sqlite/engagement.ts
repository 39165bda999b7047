/**
 * Engagement events (opens, clicks, unsubscribes) on SQLite. A tracking hit
 * is answered once its row is durable, as before, but the rows of the hits
 * that arrive together share one group commit (../group-commit.ts) whose
 * fdatasync runs off the event loop (./deferred-commit.ts). One transaction
 * and one fsync on the event loop per open (~5 ms on a virtual disk) bounded
 * the opens a node could record after a campaign, and every one of them was
 * time that triggered mail on the same node waited out.
 */
import type { EngagementEvent, EngagementKind, EngagementStore } from '../../core/ports/store.js';
import { engagementEvent } from '../../core/webhook-events.js';
import { engagementFromRow, engagementValues, type EngagementRow } from '../engagement-rows.js';
import { GroupCommit, type ItemOutcome } from '../group-commit.js';
import { unavailableError } from '../store-errors.js';
import { itemOutcomes, runDurable } from './deferred-commit.js';
import { promised } from './sqlite-errors.js';
import type { StatementCache } from './statement-cache.js';
import type { WalSync } from './wal-sync.js';
import { enqueueEvent } from './webhooks.js';

const SQL = {
  insert: `INSERT INTO engagement (id, kind, message_id, email, contact_id, url, at)
    VALUES (?, ?, ?, ?, ?, ?, ?)`,
  forMessage: `SELECT * FROM engagement WHERE message_id = ? ORDER BY at, id`,
  countForContact: `SELECT count(*) AS n FROM engagement
    WHERE contact_id = ? AND kind = ? AND at >= ?`,
} as const;

export class SqliteEngagementStore implements EngagementStore {
  private readonly records: GroupCommit<EngagementEvent, undefined>;

  constructor(
    private readonly cache: StatementCache,
    /** Makes each batch durable off the event loop; without it (`:memory:`), a FULL commit. */
    private readonly wal?: WalSync,
  ) {
    this.records = new GroupCommit({ commit: (events) => this.commitRecords(events) });
  }

  /** With its webhook event (opened, clicked, unsubscribed) in the same transaction. */
  record(event: EngagementEvent): Promise<void> {
    if (this.records.isClosed) return Promise.reject(unavailableError('the store is closed'));
    return this.records.submit(event);
  }

  /** Waits for records already submitted, then refuses new ones. */
  close(): Promise<void> {
    return this.records.close();
  }

  /**
   * One transaction for the batch, a savepoint per event: a constraint
   * violation (a duplicate id) fails that event alone; any other error
   * fails the batch.
   */
  private commitRecords(events: readonly EngagementEvent[]): Promise<ItemOutcome<undefined>[]> {
    const { cache } = this;
    const recordAll = (): ItemOutcome<undefined>[] =>
      itemOutcomes(
        cache,
        events,
        (event) => {
          cache.get(SQL.insert).run(...engagementValues(event));
          enqueueEvent(cache, engagementEvent(event));
          return undefined;
        },
        (event) => ({ id: event.id }),
      );
    return runDurable(cache, this.wal, recordAll);
  }

  forMessage(messageId: string): Promise<EngagementEvent[]> {
    return promised(() =>
      this.cache.get<EngagementRow>(SQL.forMessage).all(messageId).map(engagementFromRow),
    );
  }

  countForContact(contactId: string, kind: EngagementKind, since: number): Promise<number> {
    return promised(() => {
      const row = this.cache.get<{ n: number }>(SQL.countForContact).get(contactId, kind, since);
      return row?.n ?? 0;
    });
  }
}
