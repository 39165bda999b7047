/**
 * Splits text that arrives in chunks into numbered lines (for NDJSON).
 * LF and CRLF end a line; a UTF-8 BOM at the very start is dropped; blank
 * lines are skipped but counted. A line longer than MAX_LINE_CHARS becomes
 * an error entry and is skipped, so one unterminated line cannot hold the
 * whole input in memory.
 */

export type TextLine = { line: number; text: string } | { line: number; error: string };

/** 1 MiB of text: far above any real contact, far below a whole file. */
export const MAX_LINE_CHARS = 1 << 20;

export class LineReader {
  private pending = '';
  private line = 1;
  private started = false;
  private tooLong = false;

  push(text: string, out: TextLine[]): void {
    let chunk = text;
    if (!this.started && chunk.length > 0) {
      this.started = true;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    let start = 0;
    for (;;) {
      const end = chunk.indexOf('\n', start);
      if (end < 0) break;
      this.emit(this.pending + chunk.slice(start, end), out);
      this.pending = '';
      start = end + 1;
    }
    if (this.tooLong) return;
    this.pending += chunk.slice(start);
    if (this.pending.length > MAX_LINE_CHARS) {
      out.push({ line: this.line, error: `is longer than ${MAX_LINE_CHARS} characters` });
      this.tooLong = true;
      this.pending = '';
    }
  }

  end(out: TextLine[]): void {
    if (this.pending.length > 0) this.emit(this.pending, out);
    this.pending = '';
  }

  private emit(raw: string, out: TextLine[]): void {
    if (this.tooLong) {
      this.tooLong = false;
    } else {
      const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (text.trim() !== '') out.push({ line: this.line, text });
    }
    this.line += 1;
  }
}
