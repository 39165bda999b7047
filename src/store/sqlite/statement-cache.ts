import type Database from 'better-sqlite3';

/**
 * Prepared statements, compiled on first use and kept for the life of the
 * connection (preparing costs more than running a small statement). Lazy
 * because the tables exist only after migrate().
 */
export class StatementCache {
  private readonly statements = new Map<string, Database.Statement<unknown[], unknown>>();

  constructor(readonly db: Database.Database) {}

  get<R = unknown>(sql: string): Database.Statement<unknown[], R> {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare<unknown[], unknown>(sql);
      this.statements.set(sql, statement);
    }
    return statement as Database.Statement<unknown[], R>;
  }
}
