/**
 * An incremental CSV reader (RFC 4180, lenient where files in the wild are):
 * text goes in by chunks of any size, records come out with the physical
 * line they start on, so an error can name the line a user sees in an editor.
 *
 * Why not a library: csv-parse (the obvious choice) reports the line a record
 * ends on, and after one malformed quote its `skip_records_with_error` mode
 * loses sync and drops every later record of the file. An import must report
 * the bad row and go on with the next one.
 *
 * The state machine, one character at a time:
 *
 *   fieldStart ─"─► quoted ─"─► quoteSeen ─"─► quoted   (a doubled quote is one ")
 *       │            ▲ (CR/LF kept, LF counts a line)  │
 *       │                                              ├─ , ─► fieldStart
 *       └─other─► unquoted ─ , ─► fieldStart           ├─ CR/LF ─► record ends
 *                    └─ CR/LF ─► record ends           └─ other ─► bad
 *   bad: the rest of the physical line is skipped, then one error record.
 *
 * Line ends are LF, CRLF or a lone CR. A quote inside an unquoted field is
 * taken literally (`5" disk`). Blank lines are skipped. A UTF-8 BOM at the
 * very start is dropped. A record longer than MAX_RECORD_CHARS (most likely
 * an unclosed quote swallowing the file) becomes an error and the reader
 * resumes at the next line end, so memory stays bounded.
 */

export type CsvRecord = { line: number; fields: string[] } | { line: number; error: string };

/** 1 MiB of text: far above any real contact row, far below a whole file. */
export const MAX_RECORD_CHARS = 1 << 20;

const QUOTE = 34;
const COMMA = 44;
const CR = 13;
const LF = 10;

type State = 'fieldStart' | 'unquoted' | 'quoted' | 'quoteSeen' | 'bad';

export class CsvReader {
  private state: State = 'fieldStart';
  private fields: string[] = [];
  private field = '';
  private recordChars = 0;
  private line = 1;
  private recordLine = 1;
  /** The previous chunk ended on a CR outside quotes: a leading LF belongs to it. */
  private skipLf = false;
  private started = false;
  private badReason = '';

  /** Feeds a chunk of text; complete records are appended to `out`. */
  push(text: string, out: CsvRecord[]): void {
    let i = 0;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) i = 1;
    }
    if (this.skipLf && i < text.length) {
      this.skipLf = false;
      if (text.charCodeAt(i) === LF) i += 1;
    }
    const n = text.length;
    let segment = i;
    while (i < n) {
      const c = text.charCodeAt(i);
      switch (this.state) {
        case 'fieldStart':
          if (c === QUOTE) {
            this.state = 'quoted';
            segment = i + 1;
          } else if (c === COMMA) {
            this.fields.push('');
          } else if (c === CR || c === LF) {
            if (this.fields.length > 0) this.fields.push('');
            i = this.endRecord(text, i, out);
            continue;
          } else {
            this.state = 'unquoted';
            segment = i;
          }
          break;
        case 'unquoted':
          if (c === COMMA) {
            this.takeField(text.slice(segment, i));
            this.state = 'fieldStart';
          } else if (c === CR || c === LF) {
            this.takeField(text.slice(segment, i));
            i = this.endRecord(text, i, out);
            continue;
          }
          break;
        case 'quoted':
          if (c === QUOTE) {
            this.field += text.slice(segment, i);
            this.state = 'quoteSeen';
          } else if (c === LF) {
            this.line += 1;
          }
          break;
        case 'quoteSeen':
          if (c === QUOTE) {
            this.field += '"';
            this.state = 'quoted';
            segment = i + 1;
          } else if (c === COMMA) {
            this.takeField('');
            this.state = 'fieldStart';
          } else if (c === CR || c === LF) {
            this.takeField('');
            i = this.endRecord(text, i, out);
            continue;
          } else {
            this.fail('has text after the closing quote of a field');
          }
          break;
        case 'bad':
          if (c === CR || c === LF) {
            i = this.endRecord(text, i, out);
            continue;
          }
          break;
      }
      i += 1;
    }
    if (this.state === 'unquoted' || this.state === 'quoted') {
      this.field += text.slice(segment, n);
      this.recordChars += n - segment;
      if (this.recordChars > MAX_RECORD_CHARS) {
        this.fail(`is longer than ${MAX_RECORD_CHARS} characters (an unclosed quote?)`);
      }
    }
  }

  /** The end of the text: the last record, even without a final line end. */
  end(out: CsvRecord[]): void {
    if (this.state === 'quoted') {
      out.push({ line: this.recordLine, error: 'has a quoted field that is never closed' });
    } else if (this.state === 'bad') {
      out.push({ line: this.recordLine, error: this.badReason });
    } else {
      if (this.state === 'unquoted' || this.state === 'quoteSeen') this.takeField('');
      else if (this.fields.length > 0) this.fields.push('');
      if (this.fields.length > 0) out.push({ line: this.recordLine, fields: this.fields });
    }
    this.reset();
  }

  private takeField(tail: string): void {
    const value = this.field + tail;
    this.recordChars += value.length;
    this.fields.push(value);
    this.field = '';
  }

  private fail(reason: string): void {
    this.state = 'bad';
    this.badReason = reason;
    this.field = '';
    this.fields = [];
  }

  /** Ends the record at the line end at `i`; returns the index after the line end. */
  private endRecord(text: string, i: number, out: CsvRecord[]): number {
    if (this.state === 'bad') out.push({ line: this.recordLine, error: this.badReason });
    else if (this.fields.length > 0) out.push({ line: this.recordLine, fields: this.fields });
    let next = i + 1;
    if (text.charCodeAt(i) === CR) {
      if (next < text.length) {
        if (text.charCodeAt(next) === LF) next += 1;
      } else {
        this.skipLf = true;
      }
    }
    this.line += 1;
    this.reset();
    return next;
  }

  private reset(): void {
    this.state = 'fieldStart';
    this.fields = [];
    this.field = '';
    this.recordChars = 0;
    this.recordLine = this.line;
  }
}
