import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DotStuffer, dotStuff } from './dot-stuffing.js';

const stuffed = (text: string) => Buffer.concat(dotStuff(Buffer.from(text))).toString();

describe('dot-stuffing', () => {
  it('doubles a dot that starts a line and ends with CRLF.CRLF', () => {
    assert.equal(
      stuffed('a\r\n.b\r\n..c\r\n.\r\nd.e\r\n'),
      'a\r\n..b\r\n...c\r\n..\r\nd.e\r\n.\r\n',
    );
    assert.equal(stuffed('.first\r\n'), '..first\r\n.\r\n');
  });

  it('adds the CRLF a message lacks before the final dot', () => {
    assert.equal(stuffed('no newline'), 'no newline\r\n.\r\n');
    assert.equal(stuffed('bare lf\n'), 'bare lf\n\r\n.\r\n');
    assert.equal(stuffed(''), '\r\n.\r\n');
  });

  it('treats a bare LF as a line end, so a lone dot can never end the message early', () => {
    assert.equal(stuffed('a\n.\nb\r\n'), 'a\n..\nb\r\n.\r\n');
  });

  it('returns the same buffer when nothing needs stuffing', () => {
    const message = Buffer.from('Subject: x\r\n\r\nbody\r\n');
    assert.equal(new DotStuffer().write(message), message);
  });

  it('gives the same bytes however the message is chunked', () => {
    const text = '.a\r\n.\r\nb\r\n..\r\n\r\n.c\n.d\r\nend';
    const whole = stuffed(text);
    const bytes = Buffer.from(text);
    for (let i = 1; i < bytes.length; i++) {
      for (let j = i; j < bytes.length; j++) {
        const stuffer = new DotStuffer();
        const parts = [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)].map((c) =>
          stuffer.write(c),
        );
        assert.equal(Buffer.concat([...parts, stuffer.end()]).toString(), whole, `${i}/${j}`);
      }
    }
  });
});
