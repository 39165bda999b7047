/**
 * MIME building alone, on one core: nodemailer's MailComposer (through
 * `buildMime`'s MailComposer path) against the lean builder
 * (src/render/mime-builder.ts), for the delivery benchmark's message (text,
 * ~2 KB ASCII) and a multipart/alternative one with non-ASCII names,
 * subject and bodies.
 */
import { composeWithMailComposer } from '../src/render/compose.js';
import { buildLeanMime, type MimeInput } from '../src/render/mime-builder.js';
import { line } from './support.js';

const ASCII_TEXT = 'Hello R1,\n' + 'x'.repeat(76).concat('\n').repeat(24);

export const MIME_SHAPES: Record<string, MimeInput> = {
  'text, ~2 KB ASCII': {
    from: { email: 'bench@example.test', name: 'Bench' },
    to: { email: 'rcpt1@example.test' },
    subject: 'Benchmark 1',
    messageId: '1.bench@example.test',
    date: new Date(0),
    headers: [],
    text: ASCII_TEXT,
  },
  'text + HTML, UTF-8 names, subject, bodies': {
    from: { email: 'news@example.test', name: 'Zoë’s Café' },
    to: { email: 'jorg@example.test', name: 'Jörg Müller' },
    replyTo: { email: 'reply@example.test' },
    subject: 'Grüße aus Köln — Ihre Bestellung Nr. 12345 ist unterwegs',
    messageId: '2.bench@example.test',
    date: new Date(0),
    headers: [['List-Unsubscribe', '<https://example.test/u/abcdef>']],
    text: 'Hallo Jörg,\n\nIhre Bestellung ist unterwegs. Größe: M, Farbe: Grün.\n'.repeat(12),
    html: '<p>Hallo Jörg,</p><p>Ihre Bestellung ist unterwegs. Größe: M, Farbe: Grün.</p>\n'.repeat(
      12,
    ),
  },
};

async function rate(count: number, build: () => unknown): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await build();
  return count / (Number(process.hrtime.bigint() - started) / 1e9);
}

export async function printMimeBenchmark(runs: number, count: number): Promise<void> {
  console.log(`## MIME building, one core, ${count} messages per run`);
  for (const [shape, input] of Object.entries(MIME_SHAPES)) {
    const composer: number[] = [];
    const lean: number[] = [];
    for (let r = 0; r < runs; r++) {
      composer.push(await rate(count, () => composeWithMailComposer(input)));
      lean.push(await rate(count, () => buildLeanMime(input)));
    }
    const base = [...composer].sort((a, b) => a - b)[Math.floor(composer.length / 2)] ?? 1;
    console.log(line(`MailComposer — ${shape}`, composer, 'msg/s'));
    console.log(line(`lean builder — ${shape}`, lean, 'msg/s', base));
  }
  console.log('');
}
