import { SluiceError } from './errors.js';
import type { Address } from './message.js';

/**
 * Address rules (RFC 5321 §4.5.3.1 limits, RFC 5322 syntax, pragmatic):
 * exactly one `@`; a local part of 1–64 octets of atext and dots (no leading,
 * trailing or double dot) or a quoted string; a domain of dot-separated
 * labels of letters, digits and hyphens (or an IDN in UTF-8), at least two
 * labels; 254 octets in all. The domain is lower-cased, the local part kept.
 */
const ATEXT_LOCAL =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uFFFF-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uFFFF-]+)*$/u;
const QUOTED_LOCAL = /^"(?:[\x20\x21\x23-\x5B\x5D-\x7E]|\\[\x20-\x7E])*"$/;
const DOMAIN_LABEL = /^(?!-)[A-Za-z0-9\u0080-\uFFFF-]{1,63}(?<!-)$/u;

export const MAX_ADDRESS_LENGTH = 254;
export const MAX_LOCAL_PART_LENGTH = 64;

/** Why `email` is not a valid address, or undefined when it is. */
export function addressProblem(email: string): string | undefined {
  if (/[\r\n]/.test(email)) return 'must not contain CR or LF';
  if (Buffer.byteLength(email) > MAX_ADDRESS_LENGTH)
    return `is longer than ${MAX_ADDRESS_LENGTH} octets`;
  const at = email.lastIndexOf('@');
  if (at < 0) return 'has no @ and domain';
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (local.length === 0) return 'has an empty local part';
  if (Buffer.byteLength(local) > MAX_LOCAL_PART_LENGTH)
    return `has a local part longer than ${MAX_LOCAL_PART_LENGTH} octets`;
  if (!QUOTED_LOCAL.test(local)) {
    if (local.includes('@')) return 'has more than one @';
    if (!ATEXT_LOCAL.test(local)) return 'has a local part with characters that need quoting';
  }
  if (domain.length === 0) return 'has no domain';
  const labels = domain.split('.');
  if (labels.length < 2) return 'has a domain without a dot';
  if (!labels.every((label) => DOMAIN_LABEL.test(label))) return 'has an invalid domain';
  return undefined;
}

/** Lower-cases the domain of a valid address. */
export function normalizeEmail(email: string): string {
  const at = email.lastIndexOf('@');
  return email.slice(0, at) + '@' + email.slice(at + 1).toLowerCase();
}

/** Validates and normalizes an address; the error names `field`. */
export function parseEmail(email: string, field: string): string {
  const trimmed = email.trim();
  const problem = addressProblem(trimmed);
  if (problem) {
    throw new SluiceError('ERR_ADDRESS_INVALID', `${field}: "${truncate(email)}" ${problem}`, {
      field,
    });
  }
  return normalizeEmail(trimmed);
}

/** `{ email, name? }` checked: a valid address and a display name without CR/LF. */
export function parseAddress(input: { email: string; name?: string }, field: string): Address {
  const email = parseEmail(input.email, `${field}.email`);
  if (input.name === undefined || input.name === '') return { email };
  assertHeaderValue(input.name, `${field}.name`);
  return { email, name: input.name };
}

/** Header values must never carry CR or LF (header injection). */
export function assertHeaderValue(value: string, field: string): void {
  if (/[\r\n]/.test(value)) {
    throw new SluiceError('ERR_HEADER_INJECTION', `${field}: must not contain CR or LF`, { field });
  }
}

export function domainOf(email: string): string {
  return email.slice(email.lastIndexOf('@') + 1);
}

function truncate(value: string): string {
  return value.length > 80 ? value.slice(0, 77) + '...' : value;
}
