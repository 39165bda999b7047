import { randomBytes } from 'node:crypto';
import { sha256Hex } from './sha256.js';

/**
 * API keys are 32 random bytes (256 bits) behind a recognisable prefix.
 * Only their SHA-256 is stored: with that much entropy a fast hash is
 * enough (no password-hashing work factor needed), and lookups stay cheap.
 */
export const API_KEY_PREFIX = 'sk_';

export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

export function hashApiKey(key: string): string {
  return sha256Hex(key);
}

/** What listings show of a key: enough to tell keys apart, too little to use. */
export function apiKeyDisplayPrefix(key: string): string {
  return key.slice(0, API_KEY_PREFIX.length + 6);
}
