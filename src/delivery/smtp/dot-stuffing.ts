/**
 * The DATA payload transparency of RFC 5321 §4.5.2: a line that starts with
 * "." gets a second "." in front, and the payload ends with CRLF.CRLF (a CRLF
 * is added first when the message does not end with one).
 *
 * Streamed: `DotStuffer` carries across chunks whether the next byte starts
 * a line, so a message can be fed in pieces split anywhere (between CR and
 * LF, right before a dot). Any LF counts as a line end, bare or not, because
 * receivers differ on bare LF and a lone "." after one must never end the
 * message early. Bytes are otherwise untouched: a DKIM signature made over
 * the message stays valid.
 *
 * The common message has no line starting with a dot; that case costs one
 * indexOf scan and no copy.
 */

const DOT = 0x2e;
const LF = 0x0a;
const CR = 0x0d;
const LF_DOT = Buffer.from('\n.');
const EXTRA_DOT = Buffer.from('.');
const END = Buffer.from('.\r\n');
const CRLF_END = Buffer.from('\r\n.\r\n');

export class DotStuffer {
  /** The next byte starts a line (true at the start of the message). */
  private atLineStart = true;
  /** The last two bytes seen, to know whether the message ended with CRLF. */
  private last = 0;
  private beforeLast = 0;
  private empty = true;

  /** The chunk with its leading dots doubled; the same Buffer when nothing changes. */
  write(chunk: Buffer): Buffer {
    if (chunk.length === 0) return chunk;
    const out: Buffer[] = [];
    let from = 0;
    if (this.atLineStart && chunk[0] === DOT) {
      out.push(EXTRA_DOT);
    }
    for (let at = chunk.indexOf(LF_DOT); at >= 0; at = chunk.indexOf(LF_DOT, at + 1)) {
      out.push(chunk.subarray(from, at + 1), EXTRA_DOT);
      from = at + 1;
    }
    this.remember(chunk);
    if (out.length === 0) return chunk;
    out.push(chunk.subarray(from));
    return Buffer.concat(out);
  }

  /** The terminator: `.CRLF`, after a CRLF when the message did not end with one. */
  end(): Buffer {
    return !this.empty && this.beforeLast === CR && this.last === LF ? END : CRLF_END;
  }

  private remember(chunk: Buffer): void {
    this.empty = false;
    const n = chunk.length;
    this.beforeLast = n >= 2 ? (chunk[n - 2] ?? 0) : this.last;
    this.last = chunk[n - 1] ?? 0;
    this.atLineStart = this.last === LF;
  }
}

/** A whole message, stuffed and terminated, as the list of buffers to write. */
export function dotStuff(message: Buffer): Buffer[] {
  const stuffer = new DotStuffer();
  return [stuffer.write(message), stuffer.end()];
}
