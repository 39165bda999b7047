/**
 * DKIM test support: keys generated per test run and written as PEM files,
 * the DNS TXT records that publish them, and verification by an independent
 * implementation (mailauth's `authenticate`, with an in-test resolver that
 * answers from those records instead of DNS), never by Sluice's own code.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { authenticate } from 'mailauth';

export type TestKeyKind = 'rsa' | 'rsa-1024' | 'ed25519' | 'ec';

export interface TestKey {
  /** PEM file of the private key (PKCS#8). */
  file: string;
  /** The value of the TXT record at `<selector>._domainkey.<domain>`. */
  txt: string;
}

/** Generates a key pair of `kind` and writes the private key to `<dir>/<name>.pem`. */
export function writeTestKey(dir: string, name: string, kind: TestKeyKind): TestKey {
  const { privateKey, publicKey } = generate(kind);
  const file = join(dir, `${name}.pem`);
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return { file, txt: txtRecord(kind, publicKey) };
}

function generate(kind: TestKeyKind): { privateKey: KeyObject; publicKey: KeyObject } {
  switch (kind) {
    case 'rsa':
      return generateKeyPairSync('rsa', { modulusLength: 2048 });
    case 'rsa-1024':
      return generateKeyPairSync('rsa', { modulusLength: 1024 });
    case 'ed25519':
      return generateKeyPairSync('ed25519');
    case 'ec':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
  }
}

function txtRecord(kind: TestKeyKind, publicKey: KeyObject): string {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  // RFC 8463 §4.2: an Ed25519 record holds the bare 32-byte key, not SPKI.
  if (kind === 'ed25519') return `v=DKIM1; k=ed25519; p=${spki.subarray(-32).toString('base64')}`;
  return `v=DKIM1; k=rsa; p=${spki.toString('base64')}`;
}

/** TXT records by name, e.g. `{ 's1._domainkey.example.com': key.txt }`. */
export type TxtRecords = Record<string, string>;

/** A resolver for mailauth: TXT answers from `records`, NXDOMAIN for everything else. */
export function resolverFor(records: TxtRecords) {
  return (name: string, type: string): Promise<string[][]> => {
    const txt = records[name.toLowerCase()];
    if (type === 'TXT' && txt !== undefined) return Promise.resolve([[txt]]);
    const error = Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return Promise.reject(error);
  };
}

export interface DkimSignatureVerdict {
  /** `pass`, `fail`, `neutral` (e.g. the body hash did not verify), `none`, … */
  result: string;
  domain: string;
  selector?: string;
  algorithm?: string;
  comment?: string;
  /** The header fields the signature covers, lower case, as mailauth read them. */
  signedHeaders: string[];
}

/** The parts of mailauth's per-signature result that its type declaration leaves out. */
interface MailauthSignatureExtras {
  signingHeaders?: { keys?: string };
}

/** Verifies every DKIM-Signature of `raw` with mailauth; one verdict per signature. */
export async function verifyDkim(
  raw: Buffer | string,
  records: TxtRecords,
): Promise<DkimSignatureVerdict[]> {
  const result = await authenticate(raw, {
    resolver: resolverFor(records),
    ip: '127.0.0.1',
    helo: 'sluice.test',
    mta: 'mx.test',
    disableArc: true,
    disableDmarc: true,
    disableBimi: true,
  });
  return result.dkim.results.map((r) => {
    const keys = (r as MailauthSignatureExtras).signingHeaders?.keys ?? '';
    const algorithm: unknown = r.status.header?.a;
    return {
      result: r.status.result,
      domain: r.signingDomain,
      ...(r.selector !== undefined ? { selector: r.selector } : {}),
      ...(typeof algorithm === 'string' ? { algorithm } : {}),
      ...(r.status.comment !== undefined ? { comment: String(r.status.comment) } : {}),
      signedHeaders: keys
        .split(':')
        .map((name) => name.trim().toLowerCase())
        .filter((name) => name.length > 0),
    };
  });
}
