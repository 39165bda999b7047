/**
 * The SMTP client Sluice shipped first (src/delivery/smtp-client.ts until
 * its own client replaced it), kept unchanged in bench/ so that
 * bench/smtp-clients.ts measures the switch against the real thing.
 *
 * One persistent SMTP connection to one relay, on nodemailer's
 * SMTPConnection, with outcomes as values: `send` never throws for anything
 * a relay or a network can do; it returns delivered (2xx), bounced (5xx) or
 * deferred (4xx, timeouts, refused or dropped connections).
 *
 * Life of a connection:
 *
 *   open ──connect (+STARTTLS) + EHLO (+AUTH)──► ready ──send──► busy ──► ready …
 *     │                                            │  ▲                 │
 *     └─fails: OpenResult.ok=false                 │  └──RSET after a refused message
 *                                                  ├─idle/close(): QUIT ──► closed
 *                                                  └─socket error, timeout, 421 ───► closed
 *
 * After a 250 for the message the relay's transaction state is already clear
 * (RFC 5321 §4.1.1.4), so the next MAIL FROM follows directly, saving a round
 * trip per message; after a refused MAIL/RCPT/DATA the session is reset with
 * RSET before reuse, as nodemailer's own pool does.
 *
 * How nodemailer reports outcomes (v10, read from its source):
 * - RCPT refused: all recipients refused → error `EENVELOPE` with
 *   `responseCode`/`response` of a temporary refusal when there is one, else
 *   the last; `rejected`/`rejectedErrors` per recipient. Sluice sends one
 *   recipient per transaction, so a partial success cannot happen.
 * - Message refused after DATA: `EMESSAGE` with `responseCode`/`response`.
 * - Connection problems: `ECONNECTION`, `ESOCKET`, `ETLS`, `EPROTOCOL`, and
 *   `ETIMEDOUT` (with `timeoutType`), possibly with a 4xx/5xx `response` when
 *   the server said something before closing. The connection is then gone.
 * - Errors are also *emitted* as 'error' on the connection, so a listener
 *   is always attached (an unhandled 'error' event would crash the process).
 */
import { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { RelayConfig } from '../src/config/config.js';
import type { SendResult } from '../src/core/outcome.js';

export interface SmtpClientOptions {
  relay: RelayConfig;
  /** Name sent with EHLO. */
  heloName: string;
  connectionTimeoutMs: number;
  greetingTimeoutMs: number;
  socketTimeoutMs: number;
}

export type OpenResult =
  { ok: true; client: NodemailerSmtpClient } | { ok: false; reason: string; code?: number };

export interface SendOutcome {
  result: SendResult;
  /**
   * True when the connection failed before the relay received any byte of
   * the message (no DATA content was written): the message can go out over
   * another connection with no risk of a duplicate.
   */
  untouched: boolean;
}

export interface Envelope {
  from: string;
  to: string[];
}

interface SmtpErrorLike {
  message: string;
  code?: string;
  response?: string;
  responseCode?: number;
}

/** Longest reply text kept (stored with each attempt). */
const MAX_RESPONSE_CHARS = 1_000;
/** How long QUIT may take before the socket is simply destroyed. */
const QUIT_TIMEOUT_MS = 2_000;

export class NodemailerSmtpClient {
  private closed = false;
  private lastError: string | undefined;
  private readonly closeListeners = new Set<() => void>();
  /**
   * Completes the send in progress. nodemailer's close() forgets a pending
   * send without calling it back, so when the connection goes away under a
   * send (destroy() at a forced shutdown) this completes it instead.
   */
  private pending: ((outcome: SendOutcome) => void) | undefined;
  /** Messages this connection has carried (reuse count). */
  sent = 0;

  private constructor(
    readonly relay: string,
    private readonly connection: SMTPConnection,
  ) {
    connection.on('error', (error: SmtpErrorLike) => {
      this.lastError = error.message;
    });
    connection.once('end', () => this.markClosed());
  }

  /**
   * Connects, says EHLO, upgrades or authenticates as configured. Never
   * throws. Aborting `signal` gives up an opening that is still under way.
   */
  static open(options: SmtpClientOptions, signal?: AbortSignal): Promise<OpenResult> {
    const { relay } = options;
    const connection = new SMTPConnection({
      host: relay.host,
      port: relay.port,
      secure: relay.tls.mode === 'implicit',
      requireTLS: relay.tls.mode === 'starttls',
      // `none` means plain SMTP even when the relay offers STARTTLS.
      ignoreTLS: relay.tls.mode === 'none',
      ...(relay.tls.servername ? { servername: relay.tls.servername } : {}),
      tls: {
        rejectUnauthorized: relay.tls.rejectUnauthorized,
        ...(relay.tls.servername ? { servername: relay.tls.servername } : {}),
      },
      name: options.heloName,
      connectionTimeout: options.connectionTimeoutMs,
      greetingTimeout: options.greetingTimeoutMs,
      socketTimeout: options.socketTimeoutMs,
      socketCloseTimeout: QUIT_TIMEOUT_MS,
      logger: false,
    });
    return new Promise<OpenResult>((resolve) => {
      let done = false;
      const onAbort = (): void => fail(undefined, 'connection attempt aborted (shutting down)');
      const fail = (error: SmtpErrorLike | undefined, fallback: string): void => {
        if (done) return;
        done = true;
        signal?.removeEventListener('abort', onAbort);
        connection.close();
        resolve({
          ok: false,
          reason: truncate(error ? describe(error) : fallback),
          ...(error?.responseCode ? { code: error.responseCode } : {}),
        });
      };
      const succeed = (): void => {
        if (done) return;
        done = true;
        signal?.removeEventListener('abort', onAbort);
        resolve({ ok: true, client: new NodemailerSmtpClient(relay.name, connection) });
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      connection.once('error', (error: SmtpErrorLike) => fail(error, 'connection failed'));
      connection.once('end', () => fail(undefined, 'connection closed during setup'));
      connection.connect((error?: SmtpErrorLike) => {
        if (error) return fail(error, 'connection failed');
        if (!relay.auth) return succeed();
        connection.login({ user: relay.auth.user, pass: relay.auth.pass }, (loginError) => {
          if (loginError) return fail(loginError, 'authentication failed');
          succeed();
        });
      });
    });
  }

  /** Open and not known to be broken. */
  get usable(): boolean {
    return !this.closed;
  }

  /** Called once, when the connection is gone (QUIT, error, or the relay closed it). */
  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.add(listener);
  }

  /** One SMTP transaction. Resolves when the client is ready for the next one or closed. */
  send(envelope: Envelope, raw: Buffer): Promise<SendOutcome> {
    if (this.closed) {
      return Promise.resolve({
        result: { kind: 'deferred', relay: this.relay, response: 'connection already closed' },
        untouched: true,
      });
    }
    this.sent++;
    // A stream rather than the Buffer so that, after a failure, we can tell
    // whether nodemailer started to write the message (see SendOutcome.untouched).
    const body = Readable.from([raw]);
    return new Promise<SendOutcome>((settle) => {
      let settled = false;
      const resolve = (outcome: SendOutcome): void => {
        if (settled) return;
        settled = true;
        this.pending = undefined;
        settle(outcome);
      };
      this.pending = (outcome) => resolve({ ...outcome, untouched: !body.readableDidRead });
      this.connection.send(
        { from: envelope.from, to: envelope.to, size: raw.length },
        body,
        (error, info) => {
          if (!error) {
            const reply = parseReply(info.response);
            resolve({
              result: {
                kind: 'delivered',
                relay: this.relay,
                code: reply.code ?? 250,
                response: reply.text,
              },
              untouched: false,
            });
            return;
          }
          const outcome = this.classify(error, !body.readableDidRead);
          if (this.closed || !refusedByRelay(error)) {
            resolve(outcome);
            void this.destroy();
            return;
          }
          this.connection.reset((resetError) => {
            if (resetError) void this.destroy();
            resolve(outcome);
          });
        },
      );
    });
  }

  /**
   * Drops the connection at once, without QUIT; a send in progress completes
   * as deferred. For a shutdown that cannot wait any longer.
   */
  destroy(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.onClose(resolve);
      this.connection.close();
    });
  }

  /** QUIT, then wait (bounded) for the socket to be gone. Idempotent. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.connection.close(), QUIT_TIMEOUT_MS);
      this.onClose(() => {
        clearTimeout(timer);
        resolve();
      });
      try {
        this.connection.quit();
      } catch {
        // quit() on a socket that just went away: close() below settles it.
        this.connection.close();
      }
    });
  }

  private classify(error: SmtpErrorLike, untouched: boolean): SendOutcome {
    const reply = error.response ? parseReply(error.response) : undefined;
    if (refusedByRelay(error) && reply?.code !== undefined) {
      const { code, enhancedCode, text } = reply;
      // 503 is "bad sequence of commands": a session glitch, not a verdict on the message.
      if (code >= 500 && code !== 503) {
        return {
          result: { kind: 'bounced', relay: this.relay, code, enhancedCode, response: text },
          untouched: false,
        };
      }
      return {
        result: { kind: 'deferred', relay: this.relay, code, enhancedCode, response: text },
        untouched: false,
      };
    }
    if (error.code === 'EMESSAGE' && /size larger than allowed/i.test(error.message)) {
      // The relay announced a SIZE limit that this message exceeds: it will never fit.
      return {
        result: {
          kind: 'bounced',
          relay: this.relay,
          code: 552,
          enhancedCode: '5.3.4',
          response: truncate(`local: ${error.message}`),
        },
        untouched: true,
      };
    }
    return {
      result: {
        kind: 'deferred',
        relay: this.relay,
        ...(reply?.code !== undefined ? { code: reply.code } : {}),
        ...(reply?.enhancedCode ? { enhancedCode: reply.enhancedCode } : {}),
        response: truncate(describe(error)),
      },
      untouched,
    };
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    const pending = this.pending;
    if (pending) {
      // Later, so that nodemailer's own callback (which it makes right after
      // closing, with the relay's reply when there was one) wins.
      setImmediate(() =>
        pending({
          result: {
            kind: 'deferred',
            relay: this.relay,
            response: truncate(
              `connection closed during the transaction${this.lastError ? `: ${this.lastError}` : ''}`,
            ),
          },
          untouched: false,
        }),
      );
    }
    for (const listener of this.closeListeners) listener();
    this.closeListeners.clear();
  }

  /** The last error the connection reported, for logs. */
  get error(): string | undefined {
    return this.lastError;
  }
}

/** The relay answered this very message (MAIL, RCPT or DATA) and the session goes on. */
function refusedByRelay(error: SmtpErrorLike): boolean {
  return (
    (error.code === 'EENVELOPE' || error.code === 'EMESSAGE') &&
    error.responseCode !== undefined &&
    error.responseCode !== 421
  );
}

export interface Reply {
  code?: number;
  enhancedCode?: string;
  /** The reply on one line (continuation lines joined with a space), truncated. */
  text: string;
}

/** Reply code and RFC 3463 enhanced status code (class.subject.detail) of a reply. */
export function parseReply(response: string): Reply {
  const text = truncate(response.replace(/\r?\n/g, ' ').trim());
  const match = /^([2-5]\d\d)(?:[ -]([245]\.\d{1,3}\.\d{1,3})(?=\s|$))?/.exec(text);
  if (!match) return { text };
  return {
    code: Number(match[1]),
    ...(match[2] ? { enhancedCode: match[2] } : {}),
    text,
  };
}

function describe(error: SmtpErrorLike): string {
  // nodemailer appends the server response to the message; keep it as is.
  return error.message || error.code || 'unknown error';
}

function truncate(value: string): string {
  return value.length > MAX_RESPONSE_CHARS ? value.slice(0, MAX_RESPONSE_CHARS - 1) + '…' : value;
}
