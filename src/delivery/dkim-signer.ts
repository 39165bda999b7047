/**
 * DKIM signing (RFC 6376) with `rsa-sha256` and `ed25519-sha256`
 * (RFC 8463), relaxed/relaxed, on node:crypto. The worker calls `sign`
 * after building the MIME message, inside its time-sliced preparation:
 * signing is synchronous CPU work (~0.25 ms for RSA-2048, ~0.03 ms for
 * Ed25519) and must not hold the event loop in one long run.
 *
 * Which key signs: the keys configured for the From domain itself, else
 * those of its nearest parent domain (a key for example.com signs
 * mail.example.com when no key names mail.example.com). Several keys for one
 * domain (RSA and Ed25519, say) each add a signature: receivers that do not
 * know Ed25519 ignore that one (RFC 8463 §4). No key: the message goes
 * unsigned, logged once per domain at debug.
 */
import { createHash, sign as cryptoSign } from 'node:crypto';
import type { DkimKeyConfig } from '../config/config.js';
import { readDkimKey, type DkimKey } from '../config/dkim-keys.js';
import { relaxedBody, relaxedHeader, splitMessage, type HeaderField } from './dkim-canonical.js';
import type { DeliveryLogger } from './logger.js';

/** Soft line length (RFC 5322 §2.1.1) the signature header is folded to. */
const LINE_LENGTH = 78;
/** Domains remembered for the once-per-domain "unsigned" log line; past it, no more lines. */
const MAX_UNSIGNED_LOGGED = 10_000;

export class DkimSigner {
  private readonly byDomain = new Map<string, DkimKey[]>();
  private readonly unsignedLogged = new Set<string>();

  constructor(
    keys: readonly DkimKey[],
    private readonly logger: DeliveryLogger,
  ) {
    for (const key of keys) {
      const list = this.byDomain.get(key.domain) ?? [];
      list.push(key);
      this.byDomain.set(key.domain, list);
    }
  }

  /**
   * Reads the keys the configuration names. The loader has checked them at
   * start; a key that fails now (its file changed since) is a start failure.
   */
  static fromConfig(entries: readonly DkimKeyConfig[], logger: DeliveryLogger): DkimSigner {
    const keys = entries.map((entry, i) => {
      const result = readDkimKey(entry);
      if (!result.ok) throw new Error(`config key "dkim[${i}].${result.field}": ${result.problem}`);
      return result.key;
    });
    return new DkimSigner(keys, logger);
  }

  /** True when no key is configured: signing is a no-op. */
  get empty(): boolean {
    return this.byDomain.size === 0;
  }

  /** The keys that sign mail from `domain`: its own, else its nearest parent's. */
  keysFor(domain: string): readonly DkimKey[] {
    let name = domain.toLowerCase();
    for (;;) {
      const keys = this.byDomain.get(name);
      if (keys) return keys;
      const dot = name.indexOf('.');
      if (dot < 0) return [];
      name = name.slice(dot + 1);
    }
  }

  /** The message with a DKIM-Signature field per key of `fromDomain` on top; as is without a key. */
  sign(message: Buffer, fromDomain: string, now: Date): Buffer {
    if (this.empty) return message;
    const keys = this.keysFor(fromDomain);
    if (keys.length === 0) {
      this.noteUnsigned(fromDomain);
      return message;
    }
    const split = splitMessage(message);
    const bodyHash = createHash('sha256')
      .update(relaxedBody(split.body), 'latin1')
      .digest('base64');
    const time = Math.floor(now.getTime() / 1000);
    const signatures = keys.map((key) => signatureField(key, split.fields, bodyHash, time));
    return Buffer.concat([Buffer.from(signatures.join(''), 'latin1'), message]);
  }

  private noteUnsigned(domain: string): void {
    if (this.unsignedLogged.has(domain) || this.unsignedLogged.size >= MAX_UNSIGNED_LOGGED) return;
    this.unsignedLogged.add(domain);
    this.logger.debug({ domain }, 'no DKIM key for this sender domain: sending unsigned');
  }
}

/** One `DKIM-Signature: …\r\n` field. */
export function signatureField(
  key: DkimKey,
  fields: readonly HeaderField[],
  bodyHash: string,
  time: number,
): string {
  const signed = selectFields(fields, key.headers);
  const pieces: Piece[] = [
    { text: 'v=1;', space: true },
    { text: `a=${key.algorithm};`, space: true },
    { text: 'c=relaxed/relaxed;', space: true },
    { text: `d=${key.domain};`, space: true },
    { text: `s=${key.selector};`, space: true },
    { text: `t=${time};`, space: true },
    ...signed.map((field, i) => ({
      text: `${i === 0 ? 'h=' : ''}${field.name}${i === signed.length - 1 ? ';' : ':'}`,
      space: i === 0,
    })),
    { text: `bh=${bodyHash};`, space: true },
    { text: 'b=', space: true },
  ];
  // The signature covers this field with b= empty, exactly as it will be
  // written: the b= value is appended after the last piece, so folding the
  // rest cannot change.
  const unsigned = fold('DKIM-Signature:', pieces);
  let data = '';
  for (const field of signed) data += relaxedHeader(field.raw) + '\r\n';
  data += relaxedHeader(unsigned);
  const bytes = Buffer.from(data, 'latin1');
  const signature =
    key.algorithm === 'rsa-sha256'
      ? cryptoSign('sha256', bytes, key.privateKey)
      : // RFC 8463 §3: Ed25519 (pure) signs the SHA-256 hash of the data.
        cryptoSign(null, createHash('sha256').update(bytes).digest(), key.privateKey);
  const b = signature.toString('base64');
  const chunks: Piece[] = [];
  for (let i = 0; i < b.length; i += LINE_LENGTH - 2)
    chunks.push({ text: b.slice(i, i + LINE_LENGTH - 2) });
  return fold(unsigned, chunks, lastLineLength(unsigned)) + '\r\n';
}

/**
 * The fields to sign, in the h= order: for each name, every instance present,
 * last first (RFC 6376 §5.4.2: the verifier takes instances bottom-up).
 * A name not present is not listed.
 */
function selectFields(fields: readonly HeaderField[], names: readonly string[]): HeaderField[] {
  const selected: HeaderField[] = [];
  for (const name of names) {
    for (let i = fields.length - 1; i >= 0; i--) {
      const field = fields[i] as HeaderField;
      if (field.name === name) selected.push(field);
    }
  }
  return selected;
}

interface Piece {
  text: string;
  /** A space before it when it stays on the same line. */
  space?: boolean;
}

/** Appends pieces to `start`, folding (CRLF + space) before a piece that would pass LINE_LENGTH. */
function fold(start: string, pieces: readonly Piece[], column = start.length): string {
  let out = start;
  let col = column;
  for (const piece of pieces) {
    const add = (piece.space ? 1 : 0) + piece.text.length;
    if (col + add > LINE_LENGTH && col > 1) {
      out += '\r\n ' + piece.text;
      col = 1 + piece.text.length;
    } else {
      out += (piece.space ? ' ' : '') + piece.text;
      col += add;
    }
  }
  return out;
}

function lastLineLength(text: string): number {
  return text.length - (text.lastIndexOf('\n') + 1);
}
