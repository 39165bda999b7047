/**
 * What DKIM signing costs per message, on one core, for docs/dkim.md and
 * `npm run bench`:
 *
 *   node dist/bench/dkim.js [--iterations N] [--runs R]
 *
 * A ~2 KB multipart message, signed over and over with each algorithm:
 * - baseline: bare `crypto.sign` of a SHA-256 digest with the same key,
 *   the floor no DKIM implementation can go under;
 * - sluice: `DkimSigner.sign` (relaxed canonicalisation, body and header
 *   hashes, the signature, folding, prepending the field);
 * - mailauth `dkimSign`: the library measured when choosing (it parses the
 *   PEM key and streams the message through its parser on every call).
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { parseArgs } from 'node:util';
import { dkimSign } from 'mailauth';
import type { DkimKey } from '../src/config/dkim-keys.js';
import { DKIM_DEFAULT_HEADERS, type DkimAlgorithm } from '../src/config/schema.js';
import { DkimSigner } from '../src/delivery/dkim-signer.js';
import { silentLogger } from '../src/delivery/logger.js';
import { line, stats } from './support.js';

export interface DkimCost {
  algorithm: DkimAlgorithm;
  /** Signatures per second, one per run. */
  baseline: number[];
  sluice: number[];
  mailauth: number[];
}

/** A message shaped like the ones MailComposer builds, 2 KB. */
export function sampleMessage(): Buffer {
  const paragraph = 'Hello from Sluice. This line is part of a typical newsletter body.  \r\n';
  const text = paragraph.repeat(12);
  const html = `<p>${paragraph.trim()}</p>\r\n`.repeat(8);
  return Buffer.from(
    [
      'From: "Example App" <app@example.com>',
      'To: user@example.net',
      'Subject: Your weekly summary',
      'Message-ID: <msg_0123456789abcdef0123456789abcdef.1a2b3c4d@example.com>',
      'Date: Wed, 01 May 2024 12:00:00 +0000',
      'List-Unsubscribe: <https://example.com/u/0123456789abcdef>',
      'List-Unsubscribe-Post: List-Unsubscribe=One-Click',
      'MIME-Version: 1.0',
      'Content-Type: multipart/alternative; boundary="--_NmP-b1"',
      '',
      '----_NmP-b1',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 7bit',
      '',
      text,
      '----_NmP-b1',
      'Content-Type: text/html; charset=utf-8',
      'Content-Transfer-Encoding: 7bit',
      '',
      html,
      '----_NmP-b1--',
      '',
    ].join('\r\n'),
  );
}

function keyPair(algorithm: DkimAlgorithm): KeyObject {
  return algorithm === 'rsa-sha256'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    : generateKeyPairSync('ed25519').privateKey;
}

/** Calls per second of a synchronous `fn`, after a warm-up. */
function rate(iterations: number, fn: () => void): number {
  for (let i = 0; i < Math.min(200, iterations); i++) fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return iterations / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function rateAsync(iterations: number, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(200, iterations); i++) await fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await fn();
  return iterations / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** Measures each algorithm `runs` times, `iterations` signatures a run. */
export async function dkimSigningCosts(runs: number, iterations: number): Promise<DkimCost[]> {
  const message = sampleMessage();
  const digest = createHash('sha256').update(message).digest();
  const now = new Date('2024-05-01T12:00:00Z');
  const costs: DkimCost[] = [];
  for (const algorithm of ['rsa-sha256', 'ed25519-sha256'] as const) {
    const privateKey = keyPair(algorithm);
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
    const key: DkimKey = {
      domain: 'example.com',
      selector: 's1',
      algorithm,
      headers: DKIM_DEFAULT_HEADERS.map((h) => h.toLowerCase()),
      privateKey,
    };
    const signer = new DkimSigner([key], silentLogger);
    const bare =
      algorithm === 'rsa-sha256'
        ? () => sign('sha256', digest, privateKey)
        : () => sign(null, digest, privateKey);
    const cost: DkimCost = { algorithm, baseline: [], sluice: [], mailauth: [] };
    for (let run = 0; run < runs; run++) {
      cost.baseline.push(rate(iterations, bare));
      cost.sluice.push(rate(iterations, () => signer.sign(message, 'example.com', now)));
      cost.mailauth.push(
        await rateAsync(iterations, () =>
          dkimSign(message, {
            signingDomain: 'example.com',
            selector: 's1',
            privateKey: pem,
            canonicalization: 'relaxed/relaxed',
            signTime: now,
            signatureData: [{ signingDomain: 'example.com', selector: 's1', privateKey: pem }],
          }),
        ),
      );
    }
    costs.push(cost);
  }
  return costs;
}

/** The section `npm run bench` prints. */
export async function printDkimBenchmark(runs: number, iterations = 2_000): Promise<void> {
  console.log(`## DKIM signing, one core, a ${sampleMessage().length}-byte message`);
  for (const cost of await dkimSigningCosts(runs, iterations)) {
    const base = stats(cost.baseline).median;
    const ms = (values: number[]) => (1000 / stats(values).median).toFixed(3);
    console.log(
      line(`baseline: bare crypto.sign of a digest, ${cost.algorithm}`, cost.baseline, 'sig/s'),
    );
    console.log(line(`sluice: DkimSigner.sign, ${cost.algorithm}`, cost.sluice, 'sig/s', base));
    console.log(line(`mailauth dkimSign, ${cost.algorithm}`, cost.mailauth, 'sig/s', base));
    console.log(
      `  ms per message (median): baseline ${ms(cost.baseline)}, sluice ${ms(cost.sluice)}, mailauth ${ms(cost.mailauth)}`,
    );
  }
  console.log('');
}

if (process.argv[1]?.endsWith('/dkim.js')) {
  const { values } = parseArgs({
    options: {
      iterations: { type: 'string', default: '2000' },
      runs: { type: 'string', default: '3' },
    },
  });
  await printDkimBenchmark(Number(values.runs), Number(values.iterations));
}
