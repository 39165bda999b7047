import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CsvReader, MAX_RECORD_CHARS, type CsvRecord } from './csv-reader.js';
import { LineReader, type TextLine } from './line-reader.js';

/** Reads `text` fed in chunks of `size` characters (1 = every split point). */
function read(text: string, size = text.length || 1): CsvRecord[] {
  const reader = new CsvReader();
  const out: CsvRecord[] = [];
  for (let i = 0; i < text.length; i += size) reader.push(text.slice(i, i + size), out);
  reader.end(out);
  return out;
}

function readAllWays(text: string): CsvRecord[] {
  const whole = read(text);
  for (const size of [1, 2, 3, 7]) assert.deepEqual(read(text, size), whole, `chunks of ${size}`);
  return whole;
}

describe('CsvReader', () => {
  it('reads LF, CRLF and lone CR line ends, with or without a final one', () => {
    const expected = [
      { line: 1, fields: ['email', 'name'] },
      { line: 2, fields: ['a@x.test', 'Ada'] },
    ];
    assert.deepEqual(readAllWays('email,name\na@x.test,Ada\n'), expected);
    assert.deepEqual(readAllWays('email,name\r\na@x.test,Ada\r\n'), expected);
    assert.deepEqual(readAllWays('email,name\ra@x.test,Ada'), expected);
  });

  it('drops a UTF-8 BOM at the start only', () => {
    assert.deepEqual(readAllWays('\ufeffemail\r\n\ufeffx\r\n'), [
      { line: 1, fields: ['email'] },
      { line: 2, fields: ['\ufeffx'] },
    ]);
  });

  it('reads quoted fields with commas, doubled quotes and line ends, numbering physical lines', () => {
    const text = 'a,b\r\n"x, y","say ""hi"""\r\n"multi\r\nline\nvalue",2\r\nlast,"\r\n"\r\nend,1';
    assert.deepEqual(readAllWays(text), [
      { line: 1, fields: ['a', 'b'] },
      { line: 2, fields: ['x, y', 'say "hi"'] },
      { line: 3, fields: ['multi\r\nline\nvalue', '2'] },
      { line: 6, fields: ['last', '\r\n'] },
      { line: 8, fields: ['end', '1'] },
    ]);
  });

  it('keeps empty fields, skips blank lines and takes a quote inside an unquoted field literally', () => {
    assert.deepEqual(readAllWays('a,,\n\n\r\n,"",5" disk\n'), [
      { line: 1, fields: ['a', '', ''] },
      { line: 4, fields: ['', '', '5" disk'] },
    ]);
  });

  it('reports text after a closing quote and goes on with the next line', () => {
    assert.deepEqual(readAllWays('a,b\n"x"y,1\nok,2\n'), [
      { line: 1, fields: ['a', 'b'] },
      { line: 2, error: 'has text after the closing quote of a field' },
      { line: 3, fields: ['ok', '2'] },
    ]);
  });

  it('reports a quote never closed', () => {
    assert.deepEqual(read('a\n"open\nmore'), [
      { line: 1, fields: ['a'] },
      { line: 2, error: 'has a quoted field that is never closed' },
    ]);
  });

  it('bounds a record: past MAX_RECORD_CHARS it is an error and reading resumes at a line end', () => {
    const reader = new CsvReader();
    const out: CsvRecord[] = [];
    reader.push('a\n"', out);
    const chunk = 'x'.repeat(64 * 1024);
    for (let size = 0; size <= MAX_RECORD_CHARS; size += chunk.length) reader.push(chunk, out);
    reader.push('\nok\n', out);
    reader.end(out);
    assert.equal(out.length, 3);
    assert.deepEqual(out[1], {
      line: 2,
      error: `is longer than ${MAX_RECORD_CHARS} characters (an unclosed quote?)`,
    });
    assert.deepEqual(out[2], { line: 3, fields: ['ok'] });
  });
});

describe('LineReader', () => {
  it('numbers lines across chunks, strips CR and a BOM, skips blank lines', () => {
    const reader = new LineReader();
    const out: TextLine[] = [];
    for (const chunk of ['\ufeff{"a"', ':1}\r\n\r\n', '{"b":2}\n{"c"', ':3}'])
      reader.push(chunk, out);
    reader.end(out);
    assert.deepEqual(out, [
      { line: 1, text: '{"a":1}' },
      { line: 3, text: '{"b":2}' },
      { line: 4, text: '{"c":3}' },
    ]);
  });
});
