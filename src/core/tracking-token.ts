/**
 * Signed tracking tokens: what the open pixel, the click redirects and the
 * unsubscribe links carry. A token is `<payload>.<mac>`, both base64url:
 *
 *   payload = kind ␀ message id [␀ target URL]     (UTF-8)
 *   mac     = HMAC-SHA256(secret, "sluice-t1" ␀ payload), first 16 bytes
 *
 * Kinds: `o` open, `c` click, `u` unsubscribe. The recipient is not in the
 * token: it is the stored message's recipient, so addresses never appear in
 * URLs (and in the logs of proxies between the recipient and Sluice).
 *
 * The click target is embedded and covered by the MAC, so a redirect can
 * only go where Sluice itself wrote a link: changing a single bit of the URL
 * (or anything else) makes the token invalid, never an open redirect.
 *
 * 128 bits of MAC: forging one takes ~2^128 guesses against a server that
 * answers each with a 404; truncation to 128 bits is allowed by NIST SP
 * 800-107 and keeps the links short. "sluice-t1" separates this use (and a
 * future format) from any other use of the same secret.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const TOKEN_KINDS = ['o', 'c', 'u'] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

export type TrackingClaim =
  | { kind: 'o'; messageId: string }
  | { kind: 'u'; messageId: string }
  | { kind: 'c'; messageId: string; url: string };

const DOMAIN = 'sluice-t1\0';
const MAC_BYTES = 16;
/** Longer tokens are refused before any work: real ones carry one URL. */
const MAX_TOKEN_LENGTH = 8192;

export function signToken(secret: string, claim: TrackingClaim): string {
  const fields =
    claim.kind === 'c' ? [claim.kind, claim.messageId, claim.url] : [claim.kind, claim.messageId];
  const payload = Buffer.from(fields.join('\0'), 'utf8');
  return `${payload.toString('base64url')}.${mac(secret, payload).toString('base64url')}`;
}

/** The claim of a valid token; undefined for anything tampered, truncated or malformed. */
export function verifyToken(secret: string, token: string): TrackingClaim | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  const dot = token.indexOf('.');
  if (dot <= 0 || dot !== token.lastIndexOf('.')) return undefined;
  const payloadText = token.slice(0, dot);
  const macText = token.slice(dot + 1);
  if (!BASE64URL.test(payloadText) || !BASE64URL.test(macText)) return undefined;
  const payload = Buffer.from(payloadText, 'base64url');
  const given = Buffer.from(macText, 'base64url');
  // Re-encoding must give the same text: rejects non-canonical encodings
  // (trailing bits) so one claim has exactly one token.
  if (payload.toString('base64url') !== payloadText || given.toString('base64url') !== macText)
    return undefined;
  const expected = mac(secret, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  const fields = payload.toString('utf8').split('\0');
  const [kind, messageId, url] = fields;
  if (!messageId) return undefined;
  if ((kind === 'o' || kind === 'u') && fields.length === 2) return { kind, messageId };
  if (kind === 'c' && fields.length === 3 && url) return { kind, messageId, url };
  return undefined;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

function mac(secret: string, payload: Buffer): Buffer {
  return createHmac('sha256', secret)
    .update(DOMAIN)
    .update(payload)
    .digest()
    .subarray(0, MAC_BYTES);
}
