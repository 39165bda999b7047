/**
 * The lean builder against MailComposer: the same input must parse the same
 * with mailparser (an independent parser), field by field, for a table of
 * shapes, including non-ASCII names and subjects (RFC 2047), long lines,
 * trailing spaces and lines starting with a dot.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { composeWithMailComposer } from './compose.js';
import { buildLeanMime, type MimeInput } from './mime-builder.js';

function addresses(field: AddressObject | AddressObject[] | undefined) {
  const list = Array.isArray(field) ? field : field ? [field] : [];
  return list.flatMap((a) => a.value.map((v) => ({ address: v.address, name: v.name })));
}

function essentials(mail: ParsedMail) {
  return {
    subject: mail.subject,
    from: addresses(mail.from),
    to: addresses(mail.to),
    replyTo: addresses(mail.replyTo),
    messageId: mail.messageId,
    date: mail.date?.toISOString(),
    text: mail.text,
    html: mail.html,
    custom: [...mail.headers.entries()]
      .filter(([name]) => name.startsWith('x-') || name === 'list-unsubscribe')
      .map(([name, value]) => [
        name,
        typeof value === 'string' ? decodeWords(value) : JSON.stringify(value),
      ]),
  };
}

/**
 * RFC 2047 decoding of a raw header value (mailparser leaves unknown
 * headers encoded): adjacent encoded-words join, whitespace between them
 * goes, bytes are decoded as UTF-8 once all are joined.
 */
function decodeWords(value: string): string {
  const unfolded = value.replace(/\r?\n[ \t]/g, ' ');
  return unfolded
    .replace(/(\?=)\s+(?==\?)/g, '$1')
    .replace(/(?:=\?UTF-8\?[BQ]\?[^?]*\?=)+/gi, (run) => {
      const bytes = [...run.matchAll(/=\?UTF-8\?([BQ])\?([^?]*)\?=/gi)].map(([, enc, text = '']) =>
        enc?.toUpperCase() === 'B'
          ? Buffer.from(text, 'base64')
          : Buffer.from(
              text
                .replace(/_/g, ' ')
                .replace(/=([0-9A-F]{2})/gi, (_m, h: string) =>
                  String.fromCharCode(parseInt(h, 16)),
                ),
              'latin1',
            ),
      );
      return Buffer.concat(bytes).toString('utf8');
    });
}

const base: MimeInput = {
  from: { email: 'news@example.test', name: 'Sender' },
  to: { email: 'rcpt@example.test' },
  subject: 'Hello',
  messageId: 'id-1@example.test',
  date: new Date('2026-01-02T03:04:05Z'),
  headers: [],
};

const long = 'word '.repeat(40).trim();
const CASES: Record<string, Partial<MimeInput>> = {
  'plain text': { text: 'Hello there,\nsecond line\n' },
  'html only': { html: '<p>Hi</p>' },
  'text and html': { text: 'Hi', html: '<p>Hi</p>', replyTo: { email: 'r@example.test' } },
  'non-ASCII subject and names': {
    subject: 'Grüße aus Köln — 注文 №12345 ✓ 🎉',
    from: { email: 'news@example.test', name: 'Zoë’s Café' },
    to: { email: 'rcpt@example.test', name: 'Jörg Müller' },
    text: 'Hallo Jörg,\nGröße: M\n',
    html: '<p>Hallo Jörg, Größe: M</p>',
  },
  'names needing quotes': {
    from: { email: 'a@example.test', name: 'Doe, John "JD" \\ Jr.' },
    to: { email: 'b@example.test', name: 'Team (ops)' },
    text: 'x',
  },
  'long subject, long header without spaces, custom headers': {
    subject: `${long} ${long}`,
    headers: [
      ['X-Campaign', 'spring-2026'],
      ['List-Unsubscribe', `<https://example.test/u/${'a'.repeat(120)}>`],
      ['X-Note', `${long} ünïcödé ${long}`],
    ],
    text: 'x',
  },
  'long lines, trailing spaces, dots, tabs, empty lines': {
    text: `${'y'.repeat(1200)}\n.dot line\n..two\ntrailing space \ntab\tin\t\n\n\nend`,
    html: `<p>${'z'.repeat(1500)}</p>\r\n.\r\n`,
  },
  'mostly non-ASCII body (base64)': { text: 'Ελληνικά κείμενα και 日本語のテキスト\n'.repeat(20) },
  'non-ASCII with a long line (quoted-printable soft breaks)': {
    text: `${'é'.repeat(100)} ${'a'.repeat(200)}=equals\n`,
  },
  'empty body': { text: '' },
  'empty subject, name of spaces, tab in subject': {
    subject: '',
    from: { email: 'a@example.test', name: 'Ann' },
    to: { email: 'b@example.test', name: "Bob O'Neil" },
    text: 'x\n',
  },
  'tab in subject, equals and question marks in a non-ASCII name': {
    subject: 'a\tb =?x?= ü',
    from: { email: 'a@example.test', name: '=?Zoë?= says: hi' },
    text: 'x\n',
  },
};

describe('lean MIME builder', () => {
  for (const [name, patch] of Object.entries(CASES)) {
    it(`parses like MailComposer: ${name}`, async () => {
      const input = { ...base, ...patch };
      const lean = buildLeanMime(input);
      assert.ok(lean, 'the common shape is handled');
      const [ours, theirs] = await Promise.all([
        simpleParser(lean),
        simpleParser(await composeWithMailComposer(input)),
      ]);
      assert.deepEqual(essentials(ours), essentials(theirs));
      for (const lineText of lean.toString('latin1').split('\r\n')) {
        assert.ok(lineText.length <= 998, 'no line over 998 octets');
      }
      assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(lean.toString('latin1')), 'CRLF line ends only');
    });
  }

  it('keeps header lines within 78 characters when they can be folded', () => {
    const raw = buildLeanMime({
      ...base,
      subject: `Grüße ${long} ${long}`,
      from: { email: 'a@example.test', name: 'Ä'.repeat(60) },
      text: 'x',
    });
    const head = raw?.toString().split('\r\n\r\n')[0] ?? '';
    for (const lineText of head.split('\r\n')) assert.ok(lineText.length <= 78, lineText);
  });

  it('leaves non-ASCII addresses to MailComposer', () => {
    assert.equal(
      buildLeanMime({ ...base, to: { email: 'jörg@exämple.test' }, text: 'x' }),
      undefined,
    );
  });
});
