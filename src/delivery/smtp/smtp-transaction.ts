/**
 * One mail transaction on an open session, as a value:
 *
 *   local checks ─► MAIL FROM ─► RCPT TO … ─► DATA ─354─► message, "." ─► final reply
 *        │              (one write when the relay offers PIPELINING,      │
 *        │               else one command at a time)                      └─ handOver(): the next
 *        │                                                                   MAIL may follow now
 *        └─ refused locally (nothing sent)    refused at MAIL/RCPT/DATA ─► RSET ─► ready
 *                                             refused after "." ─► ready (no RSET)
 *                                             connection problem ─► broken
 *
 * - Pipelining (RFC 2920): MAIL, every RCPT and DATA go out in one write and
 *   their replies are read in order, one round trip instead of 2 + n. DATA
 *   ends the group, since the message may only follow a 354. A server that
 *   answers 354 although nothing was accepted before (RFC 2920 forbids it,
 *   some do it) gets an empty message ended at once, and the transaction is
 *   reset.
 * - Local refusals need no round trip and are final for this relay: larger
 *   than the SIZE it announced (RFC 1870), 8-bit content to a relay without
 *   8BITMIME (RFC 6152; MailComposer output is 7-bit, so this is a message
 *   built or signed elsewhere), non-ASCII addresses to a relay without
 *   SMTPUTF8 (RFC 6531), and addresses that would break the command line.
 * - Across messages (RFC 2920 §3.1: message content may start a pipelined
 *   group): with PIPELINING, once the message and its "." are written the
 *   transaction calls `handOver`; when another transaction takes the
 *   connection there, its MAIL, RCPT and DATA go out in the same write as
 *   this body (`writeBatched`), and its replies are read after this one's
 *   final reply, in order. The next message's content still waits for its
 *   own 354, which comes after this final reply: a 421 or a drop at this
 *   final reply leaves the next message untouched.
 * - After a refusal at MAIL, RCPT or DATA the session is reset with RSET
 *   before it is reused; a failed RSET, or a 421 (the server is closing),
 *   ends the connection. After the final reply to the message, 2xx or not,
 *   the transaction is over and the state clear (RFC 5321 §3.3, §4.1.1.4):
 *   no RSET, the next MAIL follows directly (and may already have been
 *   written).
 */
import { isAscii } from 'node:buffer';
import { DotStuffer } from './dot-stuffing.js';
import type { SmtpReply } from './reply-parser.js';
import { isFailure, type ReadResult, type SmtpConnection } from './smtp-connection.js';
import type { Extensions } from './smtp-session.js';

export interface Envelope {
  from: string;
  to: string[];
}

export type TransactionStep = 'MAIL' | 'RCPT' | 'DATA' | 'message';

export type TransactionOutcome =
  /** 2xx after the message. */
  | { kind: 'accepted'; reply: SmtpReply }
  /** The relay's verdict at a step; the session was reset (or closed on 421 / failed RSET). */
  | { kind: 'refused'; step: TransactionStep; reply: SmtpReply }
  /** Refused before anything was sent: this relay can never take the message as it is. */
  | { kind: 'local'; code: number; enhancedCode: string; reason: string }
  /** The connection failed; `untouched` when no byte of the message was written. */
  | { kind: 'broken'; reason: string; untouched: boolean };

/** Addresses go between angle brackets on a command line: none of these may occur. */
const UNSAFE_ADDRESS = /[\r\n<>\0]/;
const ASCII = /^[\x20-\x7e]*$/;
/** Stands for a reply not read yet, so `verdict` can judge the steps done so far. */
const OK: SmtpReply = { code: 354, lines: [] };

export async function sendTransaction(
  connection: SmtpConnection,
  extensions: Extensions,
  envelope: Envelope,
  raw: Buffer,
  handOver?: () => void,
): Promise<TransactionOutcome> {
  const eightBit = !isAscii(raw);
  const local = checkLocally(extensions, envelope, raw, eightBit);
  if (local) return local;
  const follow = extensions.pipelining ? handOver : undefined;
  const outcome = await transact(connection, extensions, envelope, raw, eightBit, follow);
  if (outcome.kind === 'refused') await reset(connection, outcome.reply, outcome.step);
  return outcome;
}

function checkLocally(
  extensions: Extensions,
  envelope: Envelope,
  raw: Buffer,
  eightBit: boolean,
): TransactionOutcome | undefined {
  if (extensions.size > 0 && raw.length > extensions.size) {
    return {
      kind: 'local',
      code: 552,
      enhancedCode: '5.3.4',
      reason: `local: message of ${raw.length} bytes is larger than the relay's SIZE limit of ${extensions.size}`,
    };
  }
  if (!extensions.eightBitMime && eightBit) {
    return {
      kind: 'local',
      code: 554,
      enhancedCode: '5.6.3',
      reason: 'local: message has 8-bit content and the relay does not offer 8BITMIME',
    };
  }
  const addresses = [envelope.from, ...envelope.to];
  if (envelope.to.length === 0 || addresses.some((a) => UNSAFE_ADDRESS.test(a))) {
    return {
      kind: 'local',
      code: 501,
      enhancedCode: '5.1.3',
      reason: 'local: envelope address not usable on an SMTP command line',
    };
  }
  if (!extensions.smtpUtf8 && !asciiAddresses(addresses)) {
    return {
      kind: 'local',
      code: 553,
      enhancedCode: '5.6.7',
      reason: 'local: non-ASCII address and the relay does not offer SMTPUTF8',
    };
  }
  return undefined;
}

async function transact(
  connection: SmtpConnection,
  extensions: Extensions,
  envelope: Envelope,
  raw: Buffer,
  eightBit: boolean,
  handOver: (() => void) | undefined,
): Promise<TransactionOutcome> {
  const params =
    (extensions.size > 0 ? ` SIZE=${raw.length}` : '') +
    (eightBit ? ' BODY=8BITMIME' : '') +
    (extensions.smtpUtf8 && !asciiAddresses([envelope.from, ...envelope.to]) ? ' SMTPUTF8' : '');
  const mailLine = `MAIL FROM:<${envelope.from}>${params}\r\n`;
  const rcptLines = envelope.to.map((to) => `RCPT TO:<${to}>\r\n`);

  let mail: ReadResult;
  const rcpts: ReadResult[] = [];
  let data: ReadResult;
  if (extensions.pipelining) {
    connection.write(mailLine + rcptLines.join('') + 'DATA\r\n');
    mail = await connection.read('command');
    for (let i = 0; i < rcptLines.length; i++) rcpts.push(await connection.read('command'));
    data = await connection.read('command');
  } else {
    // One at a time: stop at the first answer that decides the transaction.
    mail = await connection.command(mailLine.slice(0, -2));
    if (isFailure(mail)) return broken(mail.reason, true);
    if (!positive(mail)) return { kind: 'refused', step: 'MAIL', reply: mail };
    for (const line of rcptLines) rcpts.push(await connection.command(line.slice(0, -2)));
    const refused = verdict(mail, rcpts, OK);
    if (refused) return refused;
    data = await connection.command('DATA');
  }

  const refusal = verdict(mail, rcpts, data);
  if (refusal) {
    if (!isFailure(data) && data.code === 354) {
      // Nothing valid to send: end the data at once; its reply does not matter.
      connection.write('.\r\n');
      await connection.read('data');
    }
    return refusal;
  }

  const stuffer = new DotStuffer();
  if (handOver) {
    // Held to the end of the tick: the next transaction's MAIL, RCPT and DATA join this write.
    connection.writeBatched(stuffer.write(raw), stuffer.end());
  } else {
    connection.write(stuffer.write(raw), stuffer.end());
  }
  // Read before the hand-over, so this final reply is matched before the next transaction's.
  const reply = connection.read('data');
  handOver?.();
  const final = await reply;
  if (isFailure(final)) return broken(final.reason, false);
  if (positive(final)) return { kind: 'accepted', reply: final };
  return { kind: 'refused', step: 'message', reply: final };
}

/**
 * What the replies to MAIL, RCPT and DATA come to, in command order: the
 * first refusal is the verdict even when the connection failed after it
 * (a 421 to MAIL is followed by the server closing). `undefined`: go on with
 * the message.
 */
function verdict(
  mail: ReadResult,
  rcpts: ReadResult[],
  data: ReadResult,
): TransactionOutcome | undefined {
  if (isFailure(mail)) return broken(mail.reason, true);
  if (!positive(mail)) return { kind: 'refused', step: 'MAIL', reply: mail };
  const replies: SmtpReply[] = [];
  for (const rcpt of rcpts) {
    if (isFailure(rcpt)) return broken(rcpt.reason, true);
    replies.push(rcpt);
  }
  if (!replies.some(positive)) {
    return { kind: 'refused', step: 'RCPT', reply: recipientVerdict(replies) };
  }
  if (isFailure(data)) return broken(data.reason, true);
  if (data.code !== 354) return { kind: 'refused', step: 'DATA', reply: data };
  return undefined;
}

/**
 * RSET after a refusal at MAIL, RCPT or DATA so the next MAIL starts clean;
 * on a 421 or a failed RSET the connection goes. None after a refused
 * message: its transaction is over, and the next MAIL may already be written.
 */
async function reset(
  connection: SmtpConnection,
  refusal: SmtpReply,
  step: TransactionStep,
): Promise<void> {
  if (refusal.code === 421) {
    connection.destroy(`relay is closing the connection: 421 ${refusal.lines.join(' ')}`);
    return;
  }
  if (step === 'message' || connection.closed) return;
  const reply = await connection.command('RSET');
  if (isFailure(reply)) return;
  if (reply.code !== 250) connection.destroy(`RSET refused: ${reply.code}`);
}

/**
 * When every recipient is refused: a temporary refusal if there is one (the
 * message may go through later), else the last permanent one.
 */
function recipientVerdict(all: SmtpReply[]): SmtpReply {
  const last = all[all.length - 1];
  const temporary = all.find((r) => r.code >= 400 && r.code < 500);
  // `to` is never empty (checked locally), so there is at least one reply.
  return temporary ?? last ?? { code: 554, lines: ['no recipient reply'] };
}

function positive(reply: SmtpReply): boolean {
  return reply.code >= 200 && reply.code < 300;
}

function broken(reason: string, untouched: boolean): TransactionOutcome {
  return { kind: 'broken', reason, untouched };
}

function asciiAddresses(addresses: string[]): boolean {
  return addresses.every((a) => ASCII.test(a));
}
