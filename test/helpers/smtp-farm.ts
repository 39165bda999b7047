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
}

export interface ScriptedRelay {
  readonly port: number;
  /** Accepted messages, oldest first. */
  readonly messages: RecordedMessage[];
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections open now. */
  readonly openConnections: number;
  /** Most connections open at the same time. */
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
      s = {};
      sessions.set(session.id, s);
    }
    return s;
  };

  const serverOptions: SMTPServerOptions = {
    logger: false,
    // No reverse DNS of the client: it delays the greeting and is noise here.
    disableReverseLookup: true,
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
      state(session).pending = undefined;
      callback();
    },
    onRcptTo(address, session, callback) {
      const rcpt = address.address.toLowerCase();
      const attemptNo = (attempts.get(rcpt) ?? 0) + 1;
      attempts.set(rcpt, attemptNo);
      const decided = behaviour(rcpt, attemptNo);
      if (typeof decided === 'object' && 'reply' in decided && (decided.at ?? 'rcpt') === 'rcpt') {
        callback(replyError(decided.reply));
        return;
      }
      const s = state(session);
      if (decided !== 'accept' && s.pending === undefined) s.pending = decided;
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const decided = state(session).pending ?? 'accept';
        if (decided === 'drop') {
          sockets.get(`${session.remoteAddress}:${session.remotePort}`)?.destroy();
          return;
        }
        if (typeof decided === 'object' && 'reply' in decided) {
          callback(replyError(decided.reply));
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
          callback(null, 'Ok: queued');
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
      sessions.delete(session.id);
    },
  };
  const server = new SMTPServer(serverOptions);
  server.on('error', () => {
    // Client resets and timeouts are part of what tests provoke.
  });
  server.server.on('connection', (socket: Socket) => {
    const key = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`;
    connections++;
    sockets.set(key, socket);
    peak = Math.max(peak, sockets.size);
    socket.once('close', () => sockets.delete(key));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
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
