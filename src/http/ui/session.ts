/**
 * Dashboard sessions: a signed, expiring cookie, valid on every node that
 * shares `dashboard.sessionSecret`; nothing is stored server-side.
 *
 *   sluice_session = v1.<api key id>.<expires, epoch ms>.<nonce>.<mac>
 *   mac  = base64url(HMAC-SHA256(secret, "session.v1.<key id>.<expires>.<nonce>"))
 *   csrf = base64url(HMAC-SHA256(secret, "csrf.<nonce>"))
 *
 * The CSRF token is a synchronizer token bound to the session: derived from
 * its nonce, so the server needs no state to check it, and useless with
 * another session. Pages carry it in forms and in a <meta> tag for the
 * script; it is never in the cookie, so a cross-site form cannot send it.
 * The cookie is HttpOnly, SameSite=Strict, Path=/ui, Secure over https.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'sluice_session';

export interface Session {
  keyId: string;
  expiresAt: number;
  csrf: string;
}

export class SessionCodec {
  constructor(private readonly secret: string) {}

  issue(keyId: string, now: number, ttlMs: number): { token: string; session: Session } {
    const expiresAt = now + ttlMs;
    const nonce = randomBytes(18).toString('base64url');
    const body = `v1.${keyId}.${expiresAt}.${nonce}`;
    return {
      token: `${body}.${this.mac(`session.${body}`)}`,
      session: { keyId, expiresAt, csrf: this.mac(`csrf.${nonce}`) },
    };
  }

  /** The session of a cookie value, or undefined when it is forged, malformed or expired. */
  verify(token: string | undefined, now: number): Session | undefined {
    if (!token || token.length > 512) return undefined;
    const parts = token.split('.');
    if (parts.length !== 5 || parts[0] !== 'v1') return undefined;
    const [, keyId = '', expires = '', nonce = '', mac = ''] = parts;
    if (!/^\d{1,16}$/.test(expires)) return undefined;
    if (!sameText(mac, this.mac(`session.v1.${keyId}.${expires}.${nonce}`))) return undefined;
    const expiresAt = Number(expires);
    if (expiresAt <= now) return undefined;
    return { keyId, expiresAt, csrf: this.mac(`csrf.${nonce}`) };
  }

  private mac(data: string): string {
    return createHmac('sha256', this.secret).update(data).digest('base64url');
  }
}

/** Constant-time comparison of two tokens. */
export function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The value of one cookie in a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function sessionCookie(
  token: string,
  options: { maxAgeSeconds: number; secure: boolean },
): string {
  return [
    `${SESSION_COOKIE}=${token}`,
    'Path=/ui',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${options.maxAgeSeconds}`,
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}
