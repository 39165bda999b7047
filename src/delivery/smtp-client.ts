/**
 * One persistent SMTP connection to one relay, with outcomes as values:
 * `send` never throws for anything a relay or a network can do; it returns
 * delivered (2xx), bounced (5xx, or refused locally: too large for the
 * relay's SIZE, 8-bit content without 8BITMIME) or deferred (4xx, 503,
 * timeouts, refused or dropped connections).
 *
 * The protocol is Sluice's own client (`./smtp/`): RFC 2920 pipelining made
 * it ~6× faster than nodemailer's SMTPConnection with the same pre-built
 * messages (bench/smtp-clients.ts; figures in docs/delivery.md).
 *
 * Life of a connection:
 *
 *   open ──connect (+STARTTLS) + EHLO (+AUTH)──► ready ──send──► busy ──► ready …
 *     │                                            │  ▲                 │
 *     └─fails: OpenResult.ok=false                 │  └──RSET after a refused message
 *                                                  ├─idle/close(): QUIT ──► closed
 *                                                  └─socket error, timeout, 421 ───► closed
 *
 * One transaction at a time writes: the pool hands a connection to one
 * message and takes it back when `send` resolves, by which time the session
 * is ready for the next MAIL FROM (or closed). With PIPELINING (and
 * `relays[].pipelining` "full", the default) the connection can be passed
 * on earlier, as soon as the message is written:
 *
 *   send(k, next) ─► MAIL/RCPT/DATA ─354─► body, "." written ─► next(client) ─► final reply ─► k resolves
 *                                                                   │ true: k+1 takes the connection,
 *                                                                   │ its MAIL/RCPT/DATA in the same write
 *                                                                   └ false: k keeps it (`handedOver` false)
 *
 * `next` is asked once, synchronously; when it takes the connection, k's
 * outcome says `handedOver` and k's owner must not release it again. The
 * replies are read in order, so at most one final reply is outstanding
 * when the connection changes hands (`awaitingReply`); a connection with
 * one is not idle (relay-connections.ts waits for it before idling).
 */
import type { RelayConfig } from '../config/config.js';
import type { SendResult } from '../core/outcome.js';
import { replyText } from './smtp/reply-parser.js';
import type { SmtpConnection } from './smtp/smtp-connection.js';
import { openSession, type Extensions } from './smtp/smtp-session.js';
import {
  sendTransaction,
  type Envelope,
  type TransactionOutcome,
} from './smtp/smtp-transaction.js';

export type { Envelope } from './smtp/smtp-transaction.js';

export interface SmtpClientOptions {
  relay: RelayConfig;
  /** Name sent with EHLO. */
  heloName: string;
  connectionTimeoutMs: number;
  greetingTimeoutMs: number;
  /** Any silence while waiting for a reply; the default of the two limits below. */
  socketTimeoutMs: number;
  /** Wait for each command's reply (MAIL, RCPT, DATA, RSET, EHLO, AUTH). Default: socketTimeoutMs. */
  commandTimeoutMs?: number;
  /** Wait for the reply after the message's final ".". Default: socketTimeoutMs. */
  dataTimeoutMs?: number;
}

export type OpenResult =
  { ok: true; client: SmtpClient } | { ok: false; reason: string; code?: number };

export interface SendOutcome {
  result: SendResult;
  /**
   * True when the connection failed before the relay received any byte of
   * the message (no DATA content was written): the message can go out over
   * another connection with no risk of a duplicate.
   */
  untouched: boolean;
  /**
   * True when `send`'s `next` took the connection after the message was
   * written: it belongs to the next transaction now, not to this caller.
   */
  handedOver: boolean;
}

/**
 * Offered the connection when a message is written and only its final
 * reply is awaited (PIPELINING); true when it took it (for the next message).
 */
export type HandOver = (client: SmtpClient) => boolean;

/** Longest reply text kept (stored with each attempt). */
const MAX_RESPONSE_CHARS = 1_000;

export class SmtpClient {
  /** A transaction owns the connection (until it ends, or hands it over with its message written). */
  private busy = false;
  /** Sends not resolved yet: one more than `busy` says while a handed-over message awaits its final reply. */
  private unresolved = 0;
  private readonly whenReplied: (() => void)[] = [];
  /** Messages this connection has carried (reuse count). */
  sent = 0;

  private constructor(
    readonly relay: string,
    private readonly connection: SmtpConnection,
    /** What the relay announced in its EHLO reply (PIPELINING off when configured so). */
    readonly extensions: Extensions,
    /** Whether a written message may hand the connection over (`relays[].pipelining` "full"). */
    private readonly acrossMessages: boolean,
  ) {}

  /**
   * Connects, says EHLO, upgrades or authenticates as configured. Never
   * throws. Aborting `signal` gives up an opening that is still under way.
   */
  static async open(options: SmtpClientOptions, signal?: AbortSignal): Promise<OpenResult> {
    const session = await openSession(
      {
        relay: options.relay,
        heloName: options.heloName,
        timeouts: {
          connectMs: options.connectionTimeoutMs,
          greetingMs: options.greetingTimeoutMs,
          commandMs: options.commandTimeoutMs ?? options.socketTimeoutMs,
          dataMs: options.dataTimeoutMs ?? options.socketTimeoutMs,
        },
      },
      signal,
    );
    if (!session.ok) {
      return {
        ok: false,
        reason: truncate(session.reason),
        ...(session.code !== undefined ? { code: session.code } : {}),
      };
    }
    return {
      ok: true,
      client: new SmtpClient(
        options.relay.name,
        session.connection,
        session.extensions,
        (options.relay.pipelining ?? 'full') === 'full',
      ),
    };
  }

  /** Open and not known to be broken. */
  get usable(): boolean {
    return !this.connection.closed;
  }

  /** Called once, when the connection is gone (QUIT, error, or the relay closed it). */
  onClose(listener: () => void): void {
    this.connection.onClose(listener);
  }

  /** A message handed over with the connection still awaits its final reply on it. */
  get awaitingReply(): boolean {
    return this.unresolved > 0;
  }

  /** Resolves once no send on this connection is waiting for a reply. */
  replied(): Promise<void> {
    if (this.unresolved === 0) return Promise.resolve();
    return new Promise((resolve) => this.whenReplied.push(resolve));
  }

  /**
   * One SMTP transaction. Resolves with its outcome when the client is ready
   * for the next one or closed; or, when `next` took the connection once the
   * message was written (see the header comment), when the final reply came.
   */
  async send(envelope: Envelope, raw: Buffer, next?: HandOver): Promise<SendOutcome> {
    if (this.connection.closed || this.busy) {
      return {
        result: {
          kind: 'deferred',
          relay: this.relay,
          response: this.busy
            ? 'connection busy with another message'
            : 'connection already closed',
        },
        untouched: true,
        handedOver: false,
      };
    }
    this.busy = true;
    this.sent++;
    this.unresolved++;
    let handedOver = false;
    const handOver =
      next && this.acrossMessages
        ? (): void => {
            // Free before asking, so that `next` may even start its send at once.
            this.busy = false;
            handedOver = next(this);
            if (!handedOver) this.busy = true;
          }
        : undefined;
    try {
      const outcome = await sendTransaction(
        this.connection,
        this.extensions,
        envelope,
        raw,
        handOver,
      );
      return this.outcome(outcome, handedOver);
    } finally {
      if (!handedOver) this.busy = false;
      this.unresolved--;
      if (this.unresolved === 0) for (const resolve of this.whenReplied.splice(0)) resolve();
    }
  }

  private outcome(outcome: TransactionOutcome, handedOver: boolean): SendOutcome {
    const relay = this.relay;
    switch (outcome.kind) {
      case 'accepted':
        return {
          result: {
            kind: 'delivered',
            relay,
            code: outcome.reply.code,
            response: text(outcome.reply),
          },
          untouched: false,
          handedOver,
        };
      case 'refused': {
        const { code, enhancedCode } = outcome.reply;
        const response = text(outcome.reply);
        const detail = { relay, code, ...(enhancedCode ? { enhancedCode } : {}), response };
        // 503 is "bad sequence of commands": a session glitch, not a verdict on the message.
        const kind = code >= 500 && code !== 503 ? 'bounced' : 'deferred';
        return { result: { kind, ...detail }, untouched: false, handedOver };
      }
      case 'local':
        return {
          result: {
            kind: 'bounced',
            relay,
            code: outcome.code,
            enhancedCode: outcome.enhancedCode,
            response: truncate(outcome.reason),
          },
          untouched: true,
          handedOver,
        };
      case 'broken':
        return {
          result: { kind: 'deferred', relay, response: truncate(outcome.reason) },
          untouched: outcome.untouched,
          handedOver,
        };
    }
  }

  /**
   * Drops the connection at once, without QUIT; a send in progress completes
   * as deferred. For a shutdown that cannot wait any longer.
   */
  destroy(): Promise<void> {
    return this.connection.destroyAndWait('connection cut by Sluice (shutting down)');
  }

  /** QUIT, then wait (bounded) for the socket to be gone. Idempotent. */
  close(): Promise<void> {
    return this.connection.close();
  }

  /** Why the connection closed, or the last socket error, for logs. */
  get error(): string | undefined {
    return this.connection.error;
  }
}

export interface Reply {
  code?: number;
  enhancedCode?: string;
  /** The reply on one line (continuation lines joined with a space), truncated. */
  text: string;
}

/** Reply code and RFC 3463 enhanced status code (class.subject.detail) of a reply line. */
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

function text(reply: Parameters<typeof replyText>[0]): string {
  return truncate(replyText(reply));
}

function truncate(value: string): string {
  return value.length > MAX_RESPONSE_CHARS ? value.slice(0, MAX_RESPONSE_CHARS - 1) + '…' : value;
}
