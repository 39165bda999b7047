import type Database from 'better-sqlite3';

/**
 * Prepared statements, compiled on first use and kept for the life of the
 * connection (preparing costs more than running a small statement). Lazy
 * because the tables exist only after migrate().
 */
export class StatementCache {
  private readonly statements = new Map<string, Database.Statement<unknown[], unknown>>();
  /**
   * One better-sqlite3 transaction function for every transaction of the
   * hot paths, the work passed as an argument: making one costs ~10 µs (as
   * much as a small transaction), and a commit made several a time.
   */
  private readonly transactionOf: Database.Transaction<(work: () => unknown) => unknown>;

  constructor(readonly db: Database.Database) {
    this.transactionOf = db.transaction((work: () => unknown) => work());
  }

  /** Runs `work` in a BEGIN IMMEDIATE transaction (a savepoint inside one). */
  immediate<R>(work: () => R): R {
    return this.transactionOf.immediate(work) as R;
  }

  /** Runs `work` under a savepoint of the open transaction: what it throws undoes only its own writes. */
  savepoint<R>(work: () => R): R {
    return this.transactionOf(work) as R;
  }

  get<R = unknown>(sql: string): Database.Statement<unknown[], R> {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare<unknown[], unknown>(sql);
      this.statements.set(sql, statement);
    }
    return statement as Database.Statement<unknown[], R>;
  }
}
