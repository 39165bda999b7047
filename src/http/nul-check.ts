/**
 * JSON bodies must not carry the NUL character (U+0000) in any key or
 * string: PostgreSQL's json and jsonb types refuse it (and text columns
 * cannot hold it), so a contact attribute or an event property with one
 * would be a 500 there while SQLite stored it. Refusing it up front, with
 * the field named, keeps both dialects alike and the error the sender's.
 */
import { SluiceError } from '../core/errors.js';

/** The path of the first key or string holding U+0000, or undefined. */
export function findNul(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path || '(body)' : undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findNul(value[i], `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, inner] of Object.entries(value)) {
      const at = path ? `${path}.${key}` : key;
      if (key.includes('\u0000')) return at;
      const found = findNul(inner, at);
      if (found) return found;
    }
  }
  return undefined;
}

/** Checks a parsed JSON body; streamed bodies (imports) are not plain objects and are left alone. */
export function assertNoNul(body: unknown): void {
  const plain =
    Array.isArray(body) ||
    (typeof body === 'object' && body !== null && Object.getPrototypeOf(body) === Object.prototype);
  if (!plain) return;
  const field = findNul(body);
  if (field) {
    throw new SluiceError(
      'ERR_VALIDATION',
      `${field}: must not contain the NUL character (U+0000)`,
      {
        field,
      },
    );
  }
}
