/**
 * A scripted SMTP relay for tests, on smtp-server, in process: a function
 * decides per recipient and attempt what the relay does, and everything it
 * sees is recorded so tests can reconcile what was sent with what arrived.
 *
 * Behaviours (decided at RCPT TO, applied at RCPT or after DATA):
 * - `'accept'`: 250 at RCPT and after DATA; the message is recorded.
 * - `{ reply: '451 4.7.1 try later', at?: 'rcpt' | 'data' }`: that reply at
 *   RCPT TO (the default) or after the message data.
 * - `{ slowMs }`: accept, but wait this long before the final 250.
 * - `'drop'`: read the whole message, then destroy the socket without a
 *   reply (the sender cannot know whether it was delivered).
 *
 * Several relays can share one `DomainConcurrency` to record, per recipient
 * domain, how many transactions were open at once over all of them (from
 * RCPT TO to the final reply, or until the session ends or resets).
 */
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';

export type Behaviour =
  'accept' | 'drop' | { reply: string; at?: 'rcpt' | 'data' } | { slowMs: number };

export interface RecordedMessage {
  envelope: { from: string; to: string[] };
  raw: Buffer;
  /** The Message-ID header without angle brackets, when there is one. */
  messageId?: string;
  receivedAt: number;
}

export interface ScriptedRelayOptions {
  /** `attemptNo` is 1 the first time this relay sees the recipient. Default: accept all. */
  behaviour?: (rcpt: string, attemptNo: number) => Behaviour;
  /** Require AUTH PLAIN/LOGIN with these credentials. */
  auth?: { user: string; pass: string };
  /** `implicit`: TLS from the first byte; `starttls`: offer STARTTLS. Self-signed (smtp-server's test certificate). */
  tls?: 'implicit' | 'starttls';
  /** Inactivity after which the relay drops a client. */
  socketTimeoutMs?: number;
  /** Listen on this port (to restart a stopped relay where it was); default: a free one. */
  port?: number;
  /** Shared per-domain concurrency record. */
  domains?: DomainConcurrency;
  /** Announce PIPELINING (RFC 2920); default true. */
  pipelining?: boolean;
}

/** Transactions open at once per recipient domain, over every relay that shares it. */
export class DomainConcurrency {
  private readonly open = new Map<string, number>();
  private readonly peaks = new Map<string, number>();

  /** `groupOf` gathers domains (gmail.com, googlemail.com → google); default: each its own. */
  constructor(private readonly groupOf: (domain: string) => string = (d) => d) {}

  enter(domain: string): void {
    const group = this.groupOf(domain);
    const n = (this.open.get(group) ?? 0) + 1;
    this.open.set(group, n);
    this.peaks.set(group, Math.max(n, this.peaks.get(group) ?? 0));
  }

  leave(domain: string): void {
    const group = this.groupOf(domain);
    this.open.set(group, (this.open.get(group) ?? 1) - 1);
  }

  /** Most transactions open at once for the group (or domain). */
  peak(group: string): number {
    return this.peaks.get(group) ?? 0;
  }
}

export interface ScriptedRelay {
  readonly port: number;
  /** Accepted messages, oldest first. */
  readonly messages: RecordedMessage[];
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections open now. */
  readonly openConnections: number;
  /** Most connections open at the same time (not counting those it is closing after a 421). */
  readonly peakConnections: number;
  /** RCPT TO commands seen per recipient address. */
  attempts(rcpt: string): number;
  /** Credentials of successful logins, in order. */
  readonly logins: string[];
  close(): Promise<void>;
}

interface SessionState {
  /** The first non-accept behaviour among this transaction's recipients. */
  pending?: Behaviour;
  /** Recipient domains of the open transaction (for `domains`). */
  open: string[];
}

export async function startScriptedRelay(
  options: ScriptedRelayOptions = {},
): Promise<ScriptedRelay> {
  const behaviour = options.behaviour ?? (() => 'accept');
  const messages: RecordedMessage[] = [];
  const attempts = new Map<string, number>();
  const logins: string[] = [];
  const sockets = new Map<string, Socket>();
  const sessions = new Map<string, SessionState>();
  const slowTimers = new Set<NodeJS.Timeout>();
  let connections = 0;
  let peak = 0;

  const state = (session: SMTPServerSession): SessionState => {
    let s = sessions.get(session.id);
    if (!s) {
      s = { open: [] };
      sessions.set(session.id, s);
    }
    return s;
  };

  const endTransaction = (session: SMTPServerSession): void => {
    const s = sessions.get(session.id);
    if (!s) return;
    for (const domain of s.open.splice(0)) options.domains?.leave(domain);
  };

  const serverOptions: SMTPServerOptions = {
    logger: false,
    // No reverse DNS of the client: it delays the greeting and is noise here.
    disableReverseLookup: true,
    hidePIPELINING: options.pipelining === false,
    secure: options.tls === 'implicit',
    disabledCommands: [
      ...(options.auth ? [] : ['AUTH']),
      ...(options.tls === 'starttls' ? [] : ['STARTTLS']),
    ],
    authOptional: !options.auth,
    allowInsecureAuth: true,
    socketTimeout: options.socketTimeoutMs ?? 60_000,
    closeTimeout: 100,
    onAuth(auth, _session, callback) {
      if (auth.username === options.auth?.user && auth.password === options.auth?.pass) {
        logins.push(auth.username ?? '');
        callback(null, { user: auth.username });
      } else {
        callback(Object.assign(new Error('5.7.8 Authentication failed'), { responseCode: 535 }));
      }
    },
    onMailFrom(_address, session, callback) {
      endTransaction(session);
      state(session).pending = undefined;
      callback();
    },
    onRcptTo(address, session, callback) {
      const rcpt = address.address.toLowerCase();
      const attemptNo = (attempts.get(rcpt) ?? 0) + 1;
      attempts.set(rcpt, attemptNo);
      const decided = behaviour(rcpt, attemptNo);
      if (typeof decided === 'object' && 'reply' in decided && (decided.at ?? 'rcpt') === 'rcpt') {
        noteClosingReply(session, decided.reply);
        callback(replyError(decided.reply));
        return;
      }
      const s = state(session);
      if (decided !== 'accept' && s.pending === undefined) s.pending = decided;
      const domain = rcpt.slice(rcpt.indexOf('@') + 1);
      s.open.push(domain);
      options.domains?.enter(domain);
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const decided = state(session).pending ?? 'accept';
        const reply = (error: Error | null, message?: string): void => {
          endTransaction(session);
          callback(error, message);
        };
        if (decided === 'drop') {
          endTransaction(session);
          sockets.get(`${session.remoteAddress}:${session.remotePort}`)?.destroy();
          return;
        }
        if (typeof decided === 'object' && 'reply' in decided) {
          noteClosingReply(session, decided.reply);
          reply(replyError(decided.reply));
          return;
        }
        const finish = (): void => {
          const raw = Buffer.concat(chunks);
          messages.push({
            envelope: {
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((r) => r.address),
            },
            raw,
            messageId: headerMessageId(raw),
            receivedAt: Date.now(),
          });
          reply(null, 'Ok: queued');
        };
        if (typeof decided === 'object') {
          const timer = setTimeout(() => {
            slowTimers.delete(timer);
            finish();
          }, decided.slowMs);
          slowTimers.add(timer);
        } else {
          finish();
        }
      });
    },
    onClose(session) {
      endTransaction(session);
      sessions.delete(session.id);
    },
  };
  /**
   * A 421 reply ends the connection from the relay's side: the relay has
   * given it up, so it no longer counts against the client's allowance,
   * although the socket lingers until the client's close reaches this event
   * loop (a client may already have opened its next connection by then).
   */
  const closing = new Set<string>();
  const noteClosingReply = (session: SMTPServerSession, line: string): void => {
    if (line.startsWith('421')) closing.add(`${session.remoteAddress}:${session.remotePort}`);
  };
  const server = new SMTPServer(serverOptions);
  server.on('error', () => {
    // Client resets and timeouts are part of what tests provoke.
  });
  server.server.on('connection', (socket: Socket) => {
    const key = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`;
    connections++;
    sockets.set(key, socket);
    peak = Math.max(peak, sockets.size - closing.size);
    socket.once('close', () => {
      sockets.delete(key);
      closing.delete(key);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.server.address() as AddressInfo).port;

  return {
    port,
    messages,
    get connections() {
      return connections;
    },
    get openConnections() {
      return sockets.size;
    },
    get peakConnections() {
      return peak;
    },
    attempts: (rcpt) => attempts.get(rcpt.toLowerCase()) ?? 0,
    logins,
    close: async () => {
      for (const timer of slowTimers) clearTimeout(timer);
      slowTimers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(
        [...sockets.values()].map(
          (socket) =>
            new Promise<void>((resolve) => {
              if (socket.destroyed && socket.closed) return resolve();
              socket.once('close', () => resolve());
              socket.destroy();
            }),
        ),
      );
      await closed;
    },
  };
}

/** '451 4.7.1 try later' → an error smtp-server answers with exactly that line. */
function replyError(reply: string): Error {
  const match = /^(\d{3})[ -]?(.*)$/s.exec(reply);
  const code = Number(match?.[1] ?? 451);
  return Object.assign(new Error(match?.[2] ?? reply), { responseCode: code });
}

function headerMessageId(raw: Buffer): string | undefined {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end < 0 ? raw.length : end).toString('latin1');
  const match = /^Message-ID:\s*<([^>\r\n]+)>/im.exec(head);
  return match?.[1];
}
