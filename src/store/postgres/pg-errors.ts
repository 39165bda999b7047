import pg from 'pg';
import { isSluiceError } from '../../core/errors.js';
import { conflictError, unavailableError } from '../store-errors.js';

/**
 * Maps pg errors to the error catalog:
 * - the database cannot be reached or is going away → ERR_STORE_UNAVAILABLE
 *   (503 with Retry-After: the request can be tried again as it is);
 * - a unique violation → ERR_CONFLICT naming the column, read from the
 *   error's detail ("Key (email)=(a@example.test) already exists.").
 * Anything else is returned as it is (a bug, or a case the caller maps).
 */
export function mapPgError(error: unknown): Error {
  if (!(error instanceof Error)) return new Error(String(error));
  if (isSluiceError(error)) return error;
  if (error instanceof pg.DatabaseError) {
    if (error.code === '23505') {
      const match = /^Key \(([^)]+)\)=\((.*)\) already exists/.exec(error.detail ?? '');
      const columns = match?.[1]?.split(', ') ?? ['id'];
      return conflictError(columns[columns.length - 1] ?? 'id', match?.[2]);
    }
    if (isUnavailableState(error.code ?? '')) return unavailableError(error.message, error);
    return error;
  }
  if (isConnectionFailure(error)) return unavailableError(error.message, error);
  return error;
}

/**
 * SQLSTATEs that say "not now" rather than "not this": connection
 * exceptions (08…), the server shutting down or starting (57P01–57P03),
 * too many connections or no disk (53…), and a transaction the server rolled
 * back to break a deadlock or a serialization conflict with another node
 * (40P01, 40001): nothing of it was written, so the same request can simply
 * be tried again.
 */
function isUnavailableState(code: string): boolean {
  return (
    code.startsWith('08') ||
    /^57P0[123]$/.test(code) ||
    code.startsWith('53') ||
    code === '40P01' ||
    code === '40001'
  );
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** Socket errors, and pg's own errors for a lost or timed-out connection (they carry no code). */
function isConnectionFailure(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  if (error instanceof AggregateError)
    return error.errors.some((e) => e instanceof Error && isConnectionFailure(e));
  return /Connection terminated|timeout exceeded when trying to connect|not queryable|Cannot use a pool after calling end/i.test(
    error.message,
  );
}
