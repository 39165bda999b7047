import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplyParser, replyText } from './reply-parser.js';

const push = (parser: ReplyParser, text: string) => parser.push(Buffer.from(text));

describe('ReplyParser', () => {
  it('reads single-line replies, with and without an enhanced code', () => {
    const parser = new ReplyParser();
    const { replies, error } = push(parser, '250 2.1.0 Ok\r\n451 try later\r\n354\r\n');
    assert.equal(error, undefined);
    assert.deepEqual(replies, [
      { code: 250, enhancedCode: '2.1.0', lines: ['2.1.0 Ok'] },
      { code: 451, lines: ['try later'] },
      { code: 354, lines: [''] },
    ]);
  });

  it('joins a multi-line reply, whatever the chunking', () => {
    const text = '250-mx.example Hello\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n';
    for (let split = 1; split < text.length; split++) {
      const parser = new ReplyParser();
      const first = push(parser, text.slice(0, split));
      const second = push(parser, text.slice(split));
      assert.deepEqual(
        [...first.replies, ...second.replies],
        [{ code: 250, lines: ['mx.example Hello', 'PIPELINING', 'SIZE 1000', '8BITMIME'] }],
        `split at ${split}`,
      );
    }
  });

  it('tolerates bare LF and keeps UTF-8 split across chunks intact', () => {
    const parser = new ReplyParser();
    const bytes = Buffer.from('550 5.1.1 Benutzer unbekannt: Müller\n');
    const at = bytes.indexOf(0xc3) + 1; // inside the two bytes of "ü"
    assert.deepEqual(parser.push(bytes.subarray(0, at)).replies, []);
    assert.deepEqual(parser.push(bytes.subarray(at)).replies, [
      { code: 550, enhancedCode: '5.1.1', lines: ['5.1.1 Benutzer unbekannt: Müller'] },
    ]);
  });

  it('reports a line that is not a reply as a protocol error', () => {
    assert.match(push(new ReplyParser(), 'hello there\r\n').error ?? '', /malformed/);
    assert.match(push(new ReplyParser(), '250x\r\n').error ?? '', /malformed/);
    assert.match(push(new ReplyParser(), '2'.repeat(10_000)).error ?? '', /too long/);
  });

  it('replyText gives the reply on one line, as the server wrote it', () => {
    assert.equal(
      replyText({ code: 550, enhancedCode: '5.7.1', lines: ['5.7.1 first', '5.7.1 second'] }),
      '550-5.7.1 first 550 5.7.1 second',
    );
    assert.equal(replyText({ code: 354, lines: [''] }), '354');
  });
});
