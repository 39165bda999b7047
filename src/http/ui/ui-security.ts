/**
 * What every dashboard response and request goes through: security
 * headers, the session check, and, for anything that changes state, the
 * same-origin and CSRF checks (session.ts explains the token).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError } from '../../core/errors.js';
import {
  SESSION_COOKIE,
  readCookie,
  sameText,
  type Session,
  type SessionCodec,
} from './session.js';

/**
 * The policy of every page: scripts and styles from this origin only, no
 * inline script, no plugins, no framing by other sites, forms post here only.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/**
 * The policy of a captured message's HTML, shown in a sandboxed iframe:
 * nothing may load or run (inline styles and data: images excepted), and
 * the `sandbox` directive makes it a unique origin without scripts even
 * when opened outside the iframe.
 */
export const MAIL_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; frame-ancestors 'self'";

export function securityHeaders(reply: FastifyReply, csp = PAGE_CSP): void {
  void reply.header('Content-Security-Policy', csp);
  void reply.header('X-Content-Type-Options', 'nosniff');
  void reply.header('Referrer-Policy', 'same-origin');
  void reply.header('Cache-Control', 'no-store');
  void reply.header('X-Frame-Options', csp === PAGE_CSP ? 'DENY' : 'SAMEORIGIN');
  void reply.header('Cross-Origin-Opener-Policy', 'same-origin');
}

const sessions = new WeakMap<FastifyRequest, Session>();

export function sessionOf(request: FastifyRequest): Session | undefined {
  return sessions.get(request);
}

/** Reads and verifies the session cookie; remembers the session on the request. */
export function authenticate(
  request: FastifyRequest,
  codec: SessionCodec,
  now: number,
): Session | undefined {
  const session = codec.verify(readCookie(request.headers.cookie, SESSION_COOKIE), now);
  if (session) sessions.set(request, session);
  return session;
}

/**
 * The origin a state-changing request came from must be this server's:
 * `Origin` (sent by browsers on every POST), else `Referer`; a request with
 * neither is refused. `publicUrl` counts as this server behind a proxy.
 */
export function checkSameOrigin(request: FastifyRequest, publicUrl: string | undefined): void {
  const host = request.headers.host;
  const claimed = request.headers.origin ?? originOf(request.headers.referer);
  const allowed = new Set<string>();
  if (host) allowed.add(`${request.protocol}://${host}`);
  if (publicUrl) {
    const origin = originOf(publicUrl);
    if (origin) allowed.add(origin);
  }
  if (!claimed || claimed === 'null' || !allowed.has(claimed)) {
    throw new SluiceError(
      'ERR_UI_CSRF',
      'This request did not come from a Sluice dashboard page (Origin or Referer).',
    );
  }
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') {
    throw new SluiceError('ERR_UI_CSRF', `Sec-Fetch-Site is ${site}, not same-origin.`);
  }
}

/** The CSRF token of a form (`_csrf`) or of a script (`X-CSRF-Token`) must be the session's. */
export function checkCsrf(request: FastifyRequest, session: Session): void {
  const body = request.body as Record<string, unknown> | undefined;
  const header = request.headers['x-csrf-token'];
  const sent =
    typeof body?._csrf === 'string' ? body._csrf : typeof header === 'string' ? header : '';
  if (!sameText(sent, session.csrf)) {
    throw new SluiceError(
      'ERR_UI_CSRF',
      'The form is missing its CSRF token or it belongs to another session; reload the page.',
    );
  }
}

function originOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}
