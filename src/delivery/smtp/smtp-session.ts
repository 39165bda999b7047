/**
 * Opening an SMTP session, up to the point where MAIL FROM may be sent:
 *
 *   connect ─► greeting 220 ─► EHLO ──250──► [STARTTLS ─220─► TLS ─► EHLO] ─► [AUTH] ─► ready
 *                                 └─5xx─► HELO ─250─► (no extensions) ─────────► [AUTH] ─► ready
 *
 * - EHLO refused with a 5xx (a server without ESMTP) falls back to HELO;
 *   the session then has no extensions: no pipelining, no SIZE, 7-bit only.
 * - `tls.mode` `starttls` requires STARTTLS: a relay that does not offer it
 *   (or only speaks HELO) is refused rather than spoken to in clear, and
 *   EHLO is repeated after the handshake (RFC 3207 §4.2: what the server
 *   offered before TLS no longer counts). `none` never upgrades; `implicit`
 *   is TLS from the first byte (see SmtpConnection.connect).
 * - AUTH uses PLAIN when offered, else LOGIN; credentials never appear in a
 *   reason.
 *
 * Every failure is a value with the reason and, when the relay said
 * something, its reply code; the socket is closed before returning it.
 */
import type { RelayConfig } from '../../config/config.js';
import { replyText, type SmtpReply } from './reply-parser.js';
import {
  isFailure,
  SmtpConnection,
  type PhaseTimeouts,
  type ReadResult,
} from './smtp-connection.js';

export interface Extensions {
  pipelining: boolean;
  /** The SIZE limit the relay announced, in bytes; 0 when it announced none. */
  size: number;
  eightBitMime: boolean;
  smtpUtf8: boolean;
  startTls: boolean;
  /** AUTH mechanisms, upper case. */
  auth: string[];
}

export interface SessionOptions {
  relay: Pick<RelayConfig, 'host' | 'port' | 'tls' | 'auth' | 'pipelining'>;
  heloName: string;
  timeouts: PhaseTimeouts;
}

export type SessionResult =
  | { ok: true; connection: SmtpConnection; extensions: Extensions }
  | { ok: false; reason: string; code?: number };

const NO_EXTENSIONS: Extensions = {
  pipelining: false,
  size: 0,
  eightBitMime: false,
  smtpUtf8: false,
  startTls: false,
  auth: [],
};

/** Reads the keywords of a 250 reply to EHLO (every line after the first). */
export function parseExtensions(reply: SmtpReply): Extensions {
  const extensions: Extensions = { ...NO_EXTENSIONS, auth: [] };
  for (const line of reply.lines.slice(1)) {
    const [keyword = '', ...params] = line.trim().toUpperCase().split(/\s+/);
    switch (keyword) {
      case 'PIPELINING':
        extensions.pipelining = true;
        break;
      case 'SIZE': {
        const size = Number(params[0] ?? 0);
        extensions.size = Number.isSafeInteger(size) && size > 0 ? size : 0;
        break;
      }
      case '8BITMIME':
        extensions.eightBitMime = true;
        break;
      case 'SMTPUTF8':
        extensions.smtpUtf8 = true;
        break;
      case 'STARTTLS':
        extensions.startTls = true;
        break;
      case 'AUTH':
        extensions.auth.push(...params);
        break;
    }
  }
  return extensions;
}

export async function openSession(
  options: SessionOptions,
  signal?: AbortSignal,
): Promise<SessionResult> {
  const { relay } = options;
  const servername = relay.tls.servername;
  const opened = await SmtpConnection.connect(
    {
      host: relay.host,
      port: relay.port,
      implicitTls: relay.tls.mode === 'implicit',
      rejectUnauthorized: relay.tls.rejectUnauthorized,
      ...(servername ? { servername } : {}),
    },
    options.timeouts,
    signal,
  );
  if (!opened.ok) return opened;
  const { connection } = opened;
  const onAbort = (): void => connection.destroy('connection attempt aborted (shutting down)');
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const result = await setUp(connection, options);
    if (!result.ok) connection.destroy();
    return result;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

async function setUp(connection: SmtpConnection, options: SessionOptions): Promise<SessionResult> {
  const { relay } = options;
  const greeting = await connection.read('greeting');
  if (isFailure(greeting) || greeting.code !== 220) return refused('greeting', greeting);

  let extensions: Extensions;
  const ehlo = await connection.command(`EHLO ${options.heloName}`);
  if (isFailure(ehlo)) return refused('EHLO', ehlo);
  if (ehlo.code === 250) {
    extensions = parseExtensions(ehlo);
  } else {
    // A server without ESMTP answers 500/502 to EHLO; anything else is its verdict on us.
    if (ehlo.code < 500) return refused('EHLO', ehlo);
    const helo = await connection.command(`HELO ${options.heloName}`);
    if (isFailure(helo) || helo.code !== 250) return refused('HELO', helo);
    extensions = NO_EXTENSIONS;
  }

  if (relay.tls.mode === 'starttls' && !connection.secure) {
    if (!extensions.startTls) {
      return {
        ok: false,
        reason: 'relay does not offer STARTTLS, which tls.mode "starttls" requires',
      };
    }
    const start = await connection.command('STARTTLS');
    if (isFailure(start) || start.code !== 220) return refused('STARTTLS', start);
    const upgraded = await connection.upgrade({
      rejectUnauthorized: relay.tls.rejectUnauthorized,
      ...(relay.tls.servername ? { servername: relay.tls.servername } : {}),
    });
    if (upgraded) return { ok: false, reason: upgraded.reason };
    const again = await connection.command(`EHLO ${options.heloName}`);
    if (isFailure(again) || again.code !== 250) return refused('EHLO after STARTTLS', again);
    extensions = parseExtensions(again);
  }

  if (relay.auth) {
    const failed = await authenticate(connection, extensions, relay.auth);
    if (failed) return failed;
  }
  // The operator's word over the relay's (`relays[].pipelining: "off"`).
  if (relay.pipelining === 'off') extensions = { ...extensions, pipelining: false };
  return { ok: true, connection, extensions };
}

async function authenticate(
  connection: SmtpConnection,
  extensions: Extensions,
  credentials: { user: string; pass: string },
): Promise<SessionResult | undefined> {
  const b64 = (value: string): string => Buffer.from(value, 'utf8').toString('base64');
  if (extensions.auth.includes('PLAIN')) {
    const reply = await connection.command(
      `AUTH PLAIN ${b64(`\0${credentials.user}\0${credentials.pass}`)}`,
    );
    return isFailure(reply) || reply.code !== 235 ? refused('AUTH PLAIN', reply) : undefined;
  }
  if (extensions.auth.includes('LOGIN')) {
    const start = await connection.command('AUTH LOGIN');
    if (isFailure(start) || start.code !== 334) return refused('AUTH LOGIN', start);
    const user = await connection.command(b64(credentials.user));
    if (isFailure(user) || user.code !== 334) return refused('AUTH LOGIN', user);
    const pass = await connection.command(b64(credentials.pass));
    return isFailure(pass) || pass.code !== 235 ? refused('AUTH LOGIN', pass) : undefined;
  }
  return {
    ok: false,
    reason:
      extensions.auth.length === 0
        ? 'relay does not offer AUTH, and credentials are configured'
        : `relay offers no AUTH mechanism Sluice speaks (PLAIN, LOGIN): ${extensions.auth.join(' ')}`,
  };
}

function refused(step: string, result: ReadResult): { ok: false; reason: string; code?: number } {
  if (isFailure(result)) return { ok: false, reason: `${step}: ${result.reason}` };
  return { ok: false, reason: `${step}: ${replyText(result)}`, code: result.code };
}
