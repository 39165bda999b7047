/**
 * Signatures on the HTTP requests Sluice sends out (outgoing webhooks, alert
 * notifications), so a receiver can tell that a request came from this
 * Sluice and was not replayed long after.
 *
 * Header (one, on every request):
 *
 *   Sluice-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 *
 * The timestamp is inside the MAC, so a captured request cannot be replayed
 * with a fresh time; a receiver refuses timestamps further than its
 * tolerance from its own clock (default 5 minutes). `v1` names the scheme, so
 * a later one can be sent beside it while receivers move over; a receiver
 * accepts the request when any `v1` value matches (several appear while a
 * secret is rotated).
 *
 * Receivers verify over the raw body bytes as received, before parsing JSON:
 * re-serialising a parsed body changes the bytes.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'sluice-signature';
/** How far a timestamp may be from the verifier's clock, by default. */
export const DEFAULT_TOLERANCE_MS = 5 * 60_000;

function mac(secret: string, timestamp: number, body: string | Buffer): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
}

/** The header value for `body` sent at `nowMs`. */
export function signWebhook(secret: string, body: string | Buffer, nowMs: number): string {
  const timestamp = Math.floor(nowMs / 1000);
  return `t=${timestamp},v1=${mac(secret, timestamp, body).toString('hex')}`;
}

export type SignatureCheck =
  { ok: true; timestamp: number } | { ok: false; reason: 'malformed' | 'mismatch' | 'stale' };

/**
 * Checks a header value against the raw body. Reference for receivers (the
 * docs show the same steps in a few lines of any language).
 */
export function verifyWebhook(
  secret: string,
  header: string | undefined,
  body: string | Buffer,
  nowMs: number,
  toleranceMs: number = DEFAULT_TOLERANCE_MS,
): SignatureCheck {
  if (!header) return { ok: false, reason: 'malformed' };
  let timestamp: number | undefined;
  const candidates: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return { ok: false, reason: 'malformed' };
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (!/^\d{1,12}$/.test(value)) return { ok: false, reason: 'malformed' };
      timestamp = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-f]{64}$/.test(value)) return { ok: false, reason: 'malformed' };
      candidates.push(Buffer.from(value, 'hex'));
    }
  }
  if (timestamp === undefined || candidates.length === 0) return { ok: false, reason: 'malformed' };
  const expected = mac(secret, timestamp, body);
  if (!candidates.some((candidate) => timingSafeEqual(candidate, expected))) {
    return { ok: false, reason: 'mismatch' };
  }
  if (Math.abs(nowMs - timestamp * 1000) > toleranceMs) return { ok: false, reason: 'stale' };
  return { ok: true, timestamp };
}
