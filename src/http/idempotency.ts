/**
 * Idempotency of POST /v1/messages.
 *
 * A client that is unsure whether a request got through (a timeout, a
 * dropped connection) sends it again with the same `Idempotency-Key`. Keys
 * are scoped per API key. The store records, in the same transaction as the
 * message, the key and a hash of the request body; a second request with
 * the key and the same body gets the first message's id back, one with
 * another body is refused (409). "The same body" means the same JSON value:
 * key order and white space do not matter.
 */
import { sha256Hex } from '../core/sha256.js';
import { SluiceError } from '../core/errors.js';
import type { IdempotencyClaim } from '../core/ports/store.js';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
/** 1–255 visible ASCII characters (no space, no control characters). */
export const IDEMPOTENCY_KEY_PATTERN = '^[\\x21-\\x7E]{1,255}$';

export function idempotencyClaim(
  header: string | string[] | undefined,
  scope: string,
  body: unknown,
): IdempotencyClaim | undefined {
  if (header === undefined) return undefined;
  if (typeof header !== 'string' || !new RegExp(IDEMPOTENCY_KEY_PATTERN).test(header)) {
    throw new SluiceError(
      'ERR_VALIDATION',
      'The Idempotency-Key header must be 1–255 visible ASCII characters.',
      { field: 'Idempotency-Key' },
    );
  }
  return { scope, key: header, requestHash: requestHash(body) };
}

export function requestHash(body: unknown): string {
  return sha256Hex(canonicalJson(body));
}

/** JSON with object keys sorted at every depth, so equal values serialize equally. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`);
  return `{${entries.join(',')}}`;
}
