import { SluiceError } from '../core/errors.js';

/** A unique name, email or id is taken: the client can fix it by choosing another. */
export function conflictError(field: string, value: unknown): SluiceError {
  return new SluiceError('ERR_CONFLICT', `${field}: ${JSON.stringify(value)} is already taken`, {
    field,
  });
}

export function notFoundError(field: string, message: string): SluiceError {
  return new SluiceError('ERR_NOT_FOUND', `${field}: ${message}`, { field });
}

/** The database cannot be reached or cannot take writes now (503, retry later). */
export function unavailableError(reason: string, cause?: unknown): SluiceError {
  const error = new SluiceError('ERR_STORE_UNAVAILABLE', `the database is unavailable: ${reason}`);
  if (cause !== undefined) error.cause = cause;
  return error;
}
