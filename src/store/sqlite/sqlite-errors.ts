import Database from 'better-sqlite3';
import { isSluiceError } from '../../core/errors.js';
import { conflictError, unavailableError } from '../store-errors.js';

/**
 * Maps better-sqlite3 errors to the error catalog. A unique violation names
 * the column in its message ("UNIQUE constraint failed: contacts.email");
 * `values` holds what was written, by field, so the error can quote it.
 */
export function mapSqliteError(error: unknown, values: Record<string, unknown> = {}): Error {
  if (!(error instanceof Error)) return new Error(String(error));
  if (isSluiceError(error)) return error;
  // better-sqlite3 throws a TypeError, not a SqliteError, once the file is closed (shutdown).
  if (/database connection is not open/.test(error.message)) {
    return unavailableError('the store is closed', error);
  }
  if (!(error instanceof Database.SqliteError)) return error;
  if (error.code === 'SQLITE_CONSTRAINT_UNIQUE' || error.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    const column = /constraint failed: \w+\.(\w+)/.exec(error.message)?.[1] ?? 'id';
    return conflictError(column, values[column]);
  }
  if (isUnavailable(error.code)) return unavailableError(error.message, error);
  return error;
}

/** Errors that are about the database file, not the statement: busy, locked, I/O, full disk. */
function isUnavailable(code: string): boolean {
  return /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY|NOTADB|CORRUPT)/.test(code);
}

export function isConstraintError(error: unknown): boolean {
  return error instanceof Database.SqliteError && error.code.startsWith('SQLITE_CONSTRAINT');
}

/** Runs `fn`, mapping what it throws. */
export function mapped<R>(fn: () => R, values?: Record<string, unknown>): R {
  try {
    return fn();
  } catch (error) {
    throw mapSqliteError(error, values);
  }
}

/**
 * Runs a synchronous driver call as a promise: what it throws (mapped)
 * becomes a rejection, as callers of an async port expect.
 */
export function promised<R>(fn: () => R, values?: Record<string, unknown>): Promise<R> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(mapSqliteError(error, values));
  }
}
