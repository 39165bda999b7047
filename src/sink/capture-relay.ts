/**
 * The built-in capture relay: an SMTP server (smtp-server) that accepts
 * every message and keeps the latest `keep` of them in memory, parsed, for
 * development and tests (served at GET /v1/sink/messages). No AUTH, no
 * STARTTLS: it listens on 127.0.0.1 by default and is not a mail server.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import { simpleParser, type AddressObject } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import type { DeliveryLogger } from '../delivery/logger.js';

/** Largest message accepted (SIZE is announced; a larger one gets 552). */
const MAX_MESSAGE_BYTES = 25 * 1024 * 1024;

export interface CapturedMessage {
  id: string;
  /** When the message was received; serializes to an ISO 8601 string. */
  receivedAt: Date;
  envelope: { from: string; to: string[] };
  /** Octets received after DATA. */
  size: number;
  /** Message-ID header, with its angle brackets, when there is one. */
  messageId?: string;
  subject?: string;
  /** From header as text, e.g. `"Shop" <shop@example.com>`. */
  from?: string;
  /** To header as text. */
  to?: string;
  text?: string;
  html?: string;
  /** The message as received. */
  raw: string;
}

export interface CaptureRelayOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** How many of the latest messages to keep. */
  keep: number;
  logger?: DeliveryLogger;
}

export interface CaptureRelay {
  /** The port it listens on (the real one when 0 was asked). */
  readonly port: number;
  /** Newest first. */
  messages(): CapturedMessage[];
  get(id: string): CapturedMessage | undefined;
  clear(): void;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

export async function startCaptureRelay(options: CaptureRelayOptions): Promise<CaptureRelay> {
  const keep = Math.max(1, options.keep);
  /** Oldest first (push is cheap); read in reverse. */
  let captured: CapturedMessage[] = [];
  const sockets = new Set<Socket>();
  const logger = options.logger;

  const server = new SMTPServer({
    logger: false,
    // No reverse DNS of the client: it delays the greeting and is noise here.
    disableReverseLookup: true,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    size: MAX_MESSAGE_BYTES,
    rejectOversized: true,
    closeTimeout: 1_000,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (error: Error) => callback(error));
      stream.on('end', () => {
        if (stream.sizeExceeded) return callback(null);
        const raw = Buffer.concat(chunks);
        const envelope = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
        };
        // Parsed before the reply, so that once the sender has its 250 the
        // message is visible (tests and the dashboard rely on that).
        void capture(raw, envelope).then(() => callback(null, 'Ok: captured'));
      });
    },
  });

  const capture = async (raw: Buffer, envelope: CapturedMessage['envelope']): Promise<void> => {
    const message: CapturedMessage = {
      id: randomUUID(),
      receivedAt: new Date(),
      envelope,
      size: raw.length,
      raw: raw.toString('utf8'),
    };
    try {
      const parsed = await simpleParser(raw, { skipImageLinks: true });
      if (parsed.messageId) message.messageId = parsed.messageId;
      if (parsed.subject !== undefined) message.subject = parsed.subject;
      if (parsed.from) message.from = parsed.from.text;
      const to = addressText(parsed.to);
      if (to) message.to = to;
      if (parsed.text !== undefined) message.text = parsed.text;
      if (typeof parsed.html === 'string') message.html = parsed.html;
    } catch (error) {
      // Kept unparsed: the raw text is still worth showing.
      logger?.warn({ err: error }, 'capture relay: cannot parse a message');
    }
    captured.push(message);
    if (captured.length > keep) captured.splice(0, captured.length - keep);
    logger?.debug(
      { id: message.id, messageId: message.messageId, to: envelope.to, size: message.size },
      'capture relay: message captured',
    );
  };

  server.on('error', (error: Error) => {
    logger?.warn({ err: error }, 'capture relay: connection error');
  });
  server.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.server.address() as AddressInfo).port;

  return {
    port,
    messages: () => captured.slice().reverse(),
    get: (id) => captured.find((m) => m.id === id),
    clear: () => {
      captured = [];
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(
        [...sockets].map(
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

function addressText(value: AddressObject | AddressObject[] | undefined): string | undefined {
  if (!value) return undefined;
  return Array.isArray(value) ? value.map((v) => v.text).join(', ') : value.text;
}
