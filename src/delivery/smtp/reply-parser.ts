/**
 * SMTP replies (RFC 5321 §4.2) read incrementally from the socket: bytes in,
 * complete replies out. A reply is one or more lines `ddd-text` ending with a
 * line `ddd text` (or a bare `ddd`); the code is that of the last line (they
 * must agree, and when a broken server lets them differ the last one is what
 * clients act on). Lines end in CRLF; a bare LF is tolerated.
 *
 * A line that does not start with three digits is a protocol error: the
 * parser reports it as a value and the connection is dropped by its owner,
 * because nothing that follows can be trusted to line up with our commands.
 */
import { StringDecoder } from 'node:string_decoder';

export interface SmtpReply {
  code: number;
  /** RFC 3463 class.subject.detail of the first line, when the server gives one. */
  enhancedCode?: string;
  /** Each line without its code and separator. */
  lines: string[];
}

export type ParsedChunk =
  { replies: SmtpReply[]; error?: undefined } | { replies: SmtpReply[]; error: string };

/**
 * Longest reply line kept. RFC 5321 §4.5.3.1.5 allows 512 octets; some
 * servers send more in banners, so the limit is generous, but a peer that
 * streams a line without end must not grow memory without bound.
 */
const MAX_LINE_CHARS = 8_192;
/** Most lines in one reply (EHLO replies have a dozen or two). */
const MAX_REPLY_LINES = 256;

const ENHANCED = /^([245]\.\d{1,3}\.\d{1,3})(?=\s|$)/;

export class ReplyParser {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private lines: string[] = [];

  push(chunk: Buffer): ParsedChunk {
    const replies: SmtpReply[] = [];
    let text = this.partial + this.decoder.write(chunk);
    let start = 0;
    for (;;) {
      const end = text.indexOf('\n', start);
      if (end < 0) break;
      const line =
        text.charCodeAt(end - 1) === 13 ? text.slice(start, end - 1) : text.slice(start, end);
      start = end + 1;
      const error = this.line(line, replies);
      if (error) return { replies, error };
    }
    text = text.slice(start);
    if (text.length > MAX_LINE_CHARS) return { replies, error: 'reply line too long' };
    this.partial = text;
    return { replies };
  }

  private line(line: string, replies: SmtpReply[]): string | undefined {
    const code = replyCode(line);
    if (code === undefined) return `malformed reply line: ${JSON.stringify(line.slice(0, 80))}`;
    const separator = line.charAt(3);
    if (separator !== '-' && separator !== ' ' && separator !== '') {
      return `malformed reply line: ${JSON.stringify(line.slice(0, 80))}`;
    }
    this.lines.push(line.slice(4));
    if (separator === '-') {
      return this.lines.length > MAX_REPLY_LINES ? 'reply has too many lines' : undefined;
    }
    const lines = this.lines;
    this.lines = [];
    const enhanced = ENHANCED.exec(lines[0] ?? '');
    replies.push(enhanced?.[1] ? { code, enhancedCode: enhanced[1], lines } : { code, lines });
    return undefined;
  }
}

function replyCode(line: string): number | undefined {
  if (line.length < 3) return undefined;
  const a = line.charCodeAt(0) - 48;
  const b = line.charCodeAt(1) - 48;
  const c = line.charCodeAt(2) - 48;
  if (a < 2 || a > 5 || b < 0 || b > 9 || c < 0 || c > 9) return undefined;
  return a * 100 + b * 10 + c;
}

/**
 * The reply on one line as stored with an attempt, as the server wrote it
 * with the line breaks turned into spaces: `550-5.1.1 first 550 5.1.1 last`.
 */
export function replyText(reply: SmtpReply): string {
  const last = reply.lines.length - 1;
  return reply.lines
    .map((text, i) => `${reply.code}${i < last ? '-' : text ? ' ' : ''}${text}`)
    .join(' ');
}
