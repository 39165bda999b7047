/**
 * One SMTP socket: writes commands, hands back replies in order, and turns
 * everything a peer or a network can do into values. It knows the wire
 * (replies, TLS, timeouts) but no SMTP dialogue: session setup and the
 * transaction live in `smtp-session.ts` and `smtp-transaction.ts`.
 *
 * Replies are matched to readers in order, which is what makes RFC 2920
 * pipelining work: a caller writes MAIL, RCPT and DATA at once, then reads
 * three replies. Each `read` names its phase; while a reader waits, the
 * socket's inactivity timeout is that phase's limit, and it is off while the
 * connection sits idle in a pool (the pool has its own idle timeout).
 *
 * Life of a socket:
 *
 *   connecting ──connect (+TLS handshake when implicit)──► open ──upgrade (STARTTLS)──► open (secure)
 *       │                                                   │
 *       └─ refused, connect timeout, aborted: failure       ├─ close(): QUIT, wait (bounded) ──► closed
 *                                                           └─ timeout, error, peer closed, bad reply ──► closed
 *
 * Once closed, every waiting and later `read` resolves to a failure with
 * the reason (the first one seen: a timeout, the socket error, or the peer
 * closing), so callers never wait on a dead socket. A 421 handed to a reader
 * closes the connection at once (the server is going away): the readers
 * behind it, a pipelined next message's MAIL, RCPT and DATA among them, get
 * a failure, so no later command or message follows it on this socket.
 *
 * `writeBatched` holds what it writes until the end of the current tick
 * (socket cork, uncorked on process.nextTick), so whatever else is written
 * in the same tick goes out in the same syscall: a message's body and the
 * next message's MAIL, RCPT and DATA when the connection is handed over
 * with the body (smtp-client.ts).
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { ReplyParser, type SmtpReply } from './reply-parser.js';

export type Phase = 'connect' | 'greeting' | 'command' | 'data';

export interface PhaseTimeouts {
  /** TCP connect, plus the TLS handshake for implicit TLS. */
  connectMs: number;
  /** From connected to the 220 greeting. */
  greetingMs: number;
  /** Each reply to a command (EHLO, MAIL, RCPT, DATA, RSET, AUTH, STARTTLS and its handshake). */
  commandMs: number;
  /** The reply after the final "." (the relay may scan the message first). */
  dataMs: number;
}

export interface ConnectTarget {
  host: string;
  port: number;
  implicitTls: boolean;
  rejectUnauthorized: boolean;
  servername?: string;
}

export interface ConnectionFailure {
  kind: 'failure';
  reason: string;
}

export type ReadResult = SmtpReply | ConnectionFailure;

export type ConnectResult =
  { ok: true; connection: SmtpConnection } | { ok: false; reason: string };

/** How long QUIT may take before the socket is simply destroyed. */
const QUIT_TIMEOUT_MS = 2_000;

interface Reader {
  phase: Phase;
  settle: (result: ReadResult) => void;
}

export class SmtpConnection {
  private socket: Socket;
  private parser = new ReplyParser();
  private readonly readers: Reader[] = [];
  /** Replies that arrived with no reader (they are kept for the next read). */
  private readonly unread: SmtpReply[] = [];
  private closedBecause: string | undefined;
  private lastError: string | undefined;
  private currentTimeoutMs = 0;
  private readonly closeListeners: (() => void)[] = [];
  private secureNow: boolean;
  /** Corked by `writeBatched` until the end of this tick. */
  private batching = false;

  private constructor(
    socket: Socket,
    secure: boolean,
    private readonly timeouts: PhaseTimeouts,
  ) {
    this.socket = socket;
    this.secureNow = secure;
    this.attach(socket);
  }

  /** Opens the socket (and the TLS session when implicit). Never throws. */
  static connect(
    target: ConnectTarget,
    timeouts: PhaseTimeouts,
    signal?: AbortSignal,
  ): Promise<ConnectResult> {
    return new Promise<ConnectResult>((resolve) => {
      const servername = target.servername ?? (isIP(target.host) ? undefined : target.host);
      const socket: Socket = target.implicitTls
        ? tlsConnect({
            host: target.host,
            port: target.port,
            rejectUnauthorized: target.rejectUnauthorized,
            ...(servername ? { servername } : {}),
          })
        : netConnect({ host: target.host, port: target.port });
      let done = false;
      const finish = (result: ConnectResult): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.off('error', onError);
        socket.off(target.implicitTls ? 'secureConnect' : 'connect', onConnect);
        if (!result.ok) {
          // A late error from the abandoned socket must not become an unhandled 'error' event.
          socket.on('error', () => undefined);
          socket.destroy();
        }
        resolve(result);
      };
      const onError = (error: Error): void => finish({ ok: false, reason: describe(error) });
      const onAbort = (): void =>
        finish({ ok: false, reason: 'connection attempt aborted (shutting down)' });
      const onConnect = (): void => {
        socket.setNoDelay(true);
        finish({ ok: true, connection: new SmtpConnection(socket, target.implicitTls, timeouts) });
      };
      const timer = setTimeout(
        () => finish({ ok: false, reason: `connection timeout after ${timeouts.connectMs} ms` }),
        timeouts.connectMs,
      );
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('error', onError);
      socket.once(target.implicitTls ? 'secureConnect' : 'connect', onConnect);
    });
  }

  get closed(): boolean {
    return this.closedBecause !== undefined;
  }

  /** Whether the session runs over TLS (implicit, or after STARTTLS). */
  get secure(): boolean {
    return this.secureNow;
  }

  /** Why the connection closed (or the last socket error while open), for logs. */
  get error(): string | undefined {
    return this.closedBecause ?? this.lastError;
  }

  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  /** Writes commands (each ending in CRLF) or message bytes, in one syscall where possible. */
  write(...chunks: (string | Buffer)[]): void {
    if (this.closed) return;
    if (chunks.length === 1) {
      this.socket.write(chunks[0] ?? '');
      return;
    }
    this.socket.cork();
    for (const chunk of chunks) this.socket.write(chunk);
    this.socket.uncork();
  }

  /**
   * Writes like `write`, but the bytes leave at the end of this tick, with
   * anything else written before then (one syscall; see the header comment).
   */
  writeBatched(...chunks: (string | Buffer)[]): void {
    if (this.closed) return;
    if (!this.batching) {
      this.batching = true;
      this.socket.cork();
      process.nextTick(this.flushBatch);
    }
    for (const chunk of chunks) this.socket.write(chunk);
  }

  /** The next reply, or why there will be none. */
  read(phase: Phase): Promise<ReadResult> {
    const ready = this.unread.shift();
    if (ready) return Promise.resolve(ready);
    if (this.closedBecause !== undefined) {
      return Promise.resolve({ kind: 'failure', reason: this.closedBecause });
    }
    return new Promise<ReadResult>((settle) => {
      this.readers.push({ phase, settle });
      if (this.readers.length === 1) this.armTimeout();
    });
  }

  /** A command and its reply, not pipelined. */
  command(line: string, phase: Phase = 'command'): Promise<ReadResult> {
    this.write(`${line}\r\n`);
    return this.read(phase);
  }

  /**
   * Starts TLS on this socket after the server's 220 to STARTTLS. Anything
   * the server sent after that 220 is discarded (RFC 3207 §5: it cannot be
   * trusted, it was not protected).
   */
  upgrade(options: {
    rejectUnauthorized: boolean;
    servername?: string;
  }): Promise<ConnectionFailure | undefined> {
    const plain = this.socket;
    this.detach(plain);
    // From here the TLS socket reports failures; the plain one must not crash the process with its own.
    plain.on('error', () => undefined);
    this.unread.length = 0;
    this.parser = new ReplyParser();
    return new Promise((resolve) => {
      const secure: TLSSocket = tlsConnect({
        socket: plain,
        rejectUnauthorized: options.rejectUnauthorized,
        ...(options.servername ? { servername: options.servername } : {}),
      });
      const timer = setTimeout(
        () => fail(`TLS handshake timeout after ${this.timeouts.commandMs} ms`),
        this.timeouts.commandMs,
      );
      const fail = (reason: string): void => {
        clearTimeout(timer);
        secure.off('secureConnect', succeed);
        secure.on('error', () => undefined);
        secure.destroy();
        plain.destroy();
        this.socket = secure;
        this.markClosed(`STARTTLS failed: ${reason}`);
        resolve({ kind: 'failure', reason: `STARTTLS failed: ${reason}` });
      };
      const onError = (error: Error): void => fail(describe(error));
      const succeed = (): void => {
        clearTimeout(timer);
        secure.off('error', onError);
        this.socket = secure;
        this.secureNow = true;
        this.currentTimeoutMs = 0;
        this.attach(secure);
        resolve(undefined);
      };
      secure.once('error', onError);
      secure.once('secureConnect', succeed);
    });
  }

  /** QUIT, then wait (bounded) for the server to close; destroys the socket in any case. */
  async close(): Promise<void> {
    if (this.closed) return;
    const closed = new Promise<void>((resolve) => this.onClose(resolve));
    const timer = setTimeout(() => this.destroy('QUIT timed out'), QUIT_TIMEOUT_MS);
    // The server closes after its 221; we end our side once it has answered.
    await this.command('QUIT');
    this.socket.end();
    await closed;
    clearTimeout(timer);
  }

  /** `destroy`, then wait for the socket to be released. */
  async destroyAndWait(reason?: string): Promise<void> {
    const socket = this.socket;
    // `closed` is set a moment before 'close' is emitted: then there is nothing left to wait for.
    const released =
      socket.destroyed && socket.closed
        ? Promise.resolve()
        : new Promise<void>((resolve) => socket.once('close', () => resolve()));
    this.destroy(reason);
    await released;
  }

  /** Drops the connection at once; waiting reads resolve to a failure with `reason`. */
  destroy(reason = 'connection closed by Sluice'): void {
    if (this.closed) return;
    this.markClosed(reason);
    this.socket.destroy();
  }

  private readonly flushBatch = (): void => {
    this.batching = false;
    this.socket.uncork();
  };

  private readonly onData = (chunk: Buffer): void => {
    const { replies, error } = this.parser.push(chunk);
    for (const reply of replies) {
      const reader = this.readers.shift();
      if (reader) {
        reader.settle(reply);
        if (reply.code === 421) {
          // The server is closing: nothing after this reply may be acted on.
          this.destroy(`relay closed the connection: 421 ${reply.lines.join(' ')}`);
          return;
        }
        continue;
      }
      this.unread.push(reply);
      if (reply.code === 421) {
        // The server is going away on its own (idle limit, shutdown); the
        // reply stays readable, so a 421 greeting still reaches its reader.
        this.destroy(`relay closed the connection: 421 ${reply.lines.join(' ')}`);
        return;
      }
    }
    if (error) this.destroy(`protocol error: ${error}`);
    else this.armTimeout();
  };

  private readonly onTimeout = (): void => {
    const phase = this.readers[0]?.phase ?? 'command';
    this.destroy(`${phase} timeout: no reply in ${this.currentTimeoutMs} ms`);
  };

  private readonly onError = (error: Error): void => {
    this.lastError = describe(error);
  };

  private readonly onSocketClose = (): void => {
    this.markClosed(
      this.lastError ? `connection lost: ${this.lastError}` : 'connection closed by the relay',
    );
  };

  private attach(socket: Socket): void {
    socket.on('data', this.onData);
    socket.on('timeout', this.onTimeout);
    socket.on('error', this.onError);
    socket.on('close', this.onSocketClose);
  }

  private detach(socket: Socket): void {
    socket.off('data', this.onData);
    socket.off('timeout', this.onTimeout);
    socket.off('error', this.onError);
    socket.off('close', this.onSocketClose);
    socket.setTimeout(0);
  }

  /** The inactivity limit of the phase the first reader waits in; none when nobody waits. */
  private armTimeout(): void {
    const phase = this.readers[0]?.phase;
    const ms = phase === undefined ? 0 : this.limit(phase);
    if (ms === this.currentTimeoutMs) return;
    this.currentTimeoutMs = ms;
    this.socket.setTimeout(ms);
  }

  private limit(phase: Phase): number {
    switch (phase) {
      case 'connect':
        return this.timeouts.connectMs;
      case 'greeting':
        return this.timeouts.greetingMs;
      case 'command':
        return this.timeouts.commandMs;
      case 'data':
        return this.timeouts.dataMs;
    }
  }

  private markClosed(reason: string): void {
    if (this.closedBecause !== undefined) return;
    this.closedBecause = reason;
    this.socket.setTimeout(0);
    const failure: ConnectionFailure = { kind: 'failure', reason };
    for (const reader of this.readers.splice(0)) reader.settle(failure);
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}

export function isFailure(result: ReadResult): result is ConnectionFailure {
  return 'kind' in result;
}

function describe(error: Error & { code?: string }): string {
  return error.code && !error.message.includes(error.code)
    ? `${error.code}: ${error.message}`
    : error.message || error.code || 'socket error';
}
