/**
 * DKIM signatures checked by mailauth (an independent verifier) with an
 * in-test resolver; the canonicalisation against RFC 6376's own example.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  verifyDkim,
  writeTestKey,
  type TestKey,
  type TxtRecords,
} from '../../test/helpers/dkim.js';
import { readDkimKey, type DkimKey } from '../config/dkim-keys.js';
import { DKIM_DEFAULT_HEADERS } from '../config/schema.js';
import { relaxedBody, relaxedHeader, splitMessage } from './dkim-canonical.js';
import { DkimSigner } from './dkim-signer.js';
import type { DeliveryLogger } from './logger.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-dkim-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const rsa = writeTestKey(dir, 'rsa', 'rsa');
const ed = writeTestKey(dir, 'ed', 'ed25519');
const now = new Date('2024-05-01T12:00:00Z');

function key(test: TestKey, domain: string, selector: string): DkimKey {
  const result = readDkimKey({
    domain,
    selector,
    privateKeyFile: test.file,
    headers: [...DKIM_DEFAULT_HEADERS],
  });
  assert.ok(result.ok);
  return result.key;
}

const records: TxtRecords = {
  'rsa1._domainkey.example.com': rsa.txt,
  'ed1._domainkey.example.com': ed.txt,
  'rsa2._domainkey.example.org': rsa.txt,
};

function message(
  extraHeaders = '',
  body = 'Hello,\r\n\r\nthis is the body.  \r\n\r\n\r\n',
): Buffer {
  return Buffer.from(
    'From: "App" <app@example.com>\r\n' +
      'To: user@example.net\r\n' +
      'Subject: =?UTF-8?Q?Caf=C3=A9?= news, with a subject long enough that it gets\r\n folded\r\n' +
      'Date: Wed, 01 May 2024 12:00:00 +0000\r\n' +
      'Message-ID: <msg_1.abcd@example.com>\r\n' +
      extraHeaders +
      'MIME-Version: 1.0\r\n' +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      'Content-Transfer-Encoding: 8bit\r\n' +
      '\r\n' +
      body,
  );
}

function recordingLogger(): DeliveryLogger & { debugs: object[] } {
  const debugs: object[] = [];
  return {
    debugs,
    debug: (fields) => debugs.push(fields),
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
  };
}

describe('DKIM relaxed canonicalisation', () => {
  it('matches the example of RFC 6376 §3.4.5', () => {
    const split = splitMessage(
      Buffer.from('A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n'),
    );
    assert.deepEqual(
      split.fields.map((f) => relaxedHeader(f.raw)),
      ['a:X', 'b:Y Z'],
    );
    assert.equal(relaxedBody(split.body), ' C\r\nD E\r\n');
  });

  it('makes an empty body (or one of empty lines) empty', () => {
    assert.equal(relaxedBody(''), '');
    assert.equal(relaxedBody('\r\n \r\n\t\r\n'), '');
    assert.equal(relaxedBody('x \t'), 'x\r\n');
  });
});

describe('DkimSigner', () => {
  it('signs with RSA-2048: mailauth verifies pass', async () => {
    const signer = new DkimSigner([key(rsa, 'example.com', 'rsa1')], recordingLogger());
    const signed = signer.sign(message(), 'example.com', now);
    const results = await verifyDkim(signed, records);
    assert.deepEqual(
      results.map((r) => [r.result, r.domain, r.selector, r.algorithm]),
      [['pass', 'example.com', 'rsa1', 'rsa-sha256']],
    );
    assert.match(signed.toString(), /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed;/);
    assert.ok(
      signed
        .toString()
        .split('\r\n\r\n')[0]
        ?.split('\r\n')
        .every((line) => line.length <= 78),
      'the signature field is folded to 78 columns',
    );
  });

  it('signs with Ed25519: mailauth verifies pass', async () => {
    const signer = new DkimSigner([key(ed, 'example.com', 'ed1')], recordingLogger());
    const results = await verifyDkim(signer.sign(message(), 'example.com', now), records);
    assert.deepEqual(
      results.map((r) => [r.result, r.algorithm]),
      [['pass', 'ed25519-sha256']],
    );
  });

  it('adds one signature per key of the domain, each verifying', async () => {
    const signer = new DkimSigner(
      [key(rsa, 'example.com', 'rsa1'), key(ed, 'example.com', 'ed1')],
      recordingLogger(),
    );
    const results = await verifyDkim(signer.sign(message(), 'example.com', now), records);
    assert.deepEqual(results.map((r) => [r.result, r.selector]).sort(), [
      ['pass', 'ed1'],
      ['pass', 'rsa1'],
    ]);
  });

  it('fails verification when the body is changed after signing', async () => {
    const signer = new DkimSigner([key(rsa, 'example.com', 'rsa1')], recordingLogger());
    const signed = signer.sign(message(), 'example.com', now).toString();
    const tampered = signed.replace('this is the body.', 'this is the b0dy.');
    const results = await verifyDkim(tampered, records);
    // mailauth reports a body hash mismatch as `neutral`, with this comment.
    assert.notEqual(results[0]?.result, 'pass');
    assert.match(results[0]?.comment ?? '', /body hash/);
  });

  it('ignores what relaxed canonicalisation ignores (re-folding, trailing spaces)', async () => {
    const signer = new DkimSigner([key(rsa, 'example.com', 'rsa1')], recordingLogger());
    const signed = signer.sign(message(), 'example.com', now).toString();
    const reflowed = signed
      .replace('that it gets\r\n folded', 'that it gets   folded')
      .replace('this is the body.  ', 'this is   the body.');
    assert.equal((await verifyDkim(reflowed, records))[0]?.result, 'pass');
  });

  it('covers List-Unsubscribe and List-Unsubscribe-Post when present', async () => {
    const signer = new DkimSigner([key(rsa, 'example.com', 'rsa1')], recordingLogger());
    const signed = signer
      .sign(
        message(
          'List-Unsubscribe: <https://example.com/u/1>, <mailto:u+1@example.com>\r\n' +
            'List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n',
        ),
        'example.com',
        now,
      )
      .toString();
    const verdict = (await verifyDkim(signed, records))[0];
    assert.equal(verdict?.result, 'pass');
    const h = verdict?.signedHeaders ?? [];
    for (const name of [
      'from',
      'to',
      'subject',
      'date',
      'message-id',
      'list-unsubscribe',
      'list-unsubscribe-post',
    ]) {
      assert.ok(h.includes(name), `h= includes ${name}: ${h.join(':')}`);
    }
    const tampered = signed.replace('https://example.com/u/1', 'https://evil.example/u/1');
    assert.equal((await verifyDkim(tampered, records))[0]?.result, 'fail');
  });

  it('does not list absent headers', async () => {
    const signer = new DkimSigner([key(rsa, 'example.com', 'rsa1')], recordingLogger());
    const signed = signer.sign(message(), 'example.com', now);
    const h = (await verifyDkim(signed, records))[0]?.signedHeaders ?? [];
    assert.ok(!h.includes('list-unsubscribe') && !h.includes('reply-to'), h.join(':'));
  });

  it('signs a subdomain with its parent domain key; an exact key wins', async () => {
    const signer = new DkimSigner(
      [key(rsa, 'example.com', 'rsa1'), key(ed, 'mail.example.com', 'ed1')],
      recordingLogger(),
    );
    assert.deepEqual(
      signer.keysFor('news.example.com').map((k) => k.domain),
      ['example.com'],
    );
    assert.deepEqual(
      signer.keysFor('MAIL.example.com').map((k) => k.domain),
      ['mail.example.com'],
    );
    const results = await verifyDkim(signer.sign(message(), 'news.example.com', now), records);
    assert.deepEqual(
      results.map((r) => [r.result, r.domain]),
      [['pass', 'example.com']],
    );
  });

  it('leaves mail of a domain without a key unsigned, logging it once at debug', () => {
    const logger = recordingLogger();
    const signer = new DkimSigner([key(rsa, 'example.com', 'rsa1')], logger);
    const raw = message();
    assert.equal(signer.sign(raw, 'example.net', now), raw);
    assert.equal(signer.sign(raw, 'example.net', now), raw);
    assert.equal(signer.sign(raw, 'notexample.com', now), raw);
    assert.deepEqual(logger.debugs, [{ domain: 'example.net' }, { domain: 'notexample.com' }]);
  });

  it('with no key at all, returns the message untouched and logs nothing', () => {
    const logger = recordingLogger();
    const raw = message();
    assert.equal(new DkimSigner([], logger).sign(raw, 'example.com', now), raw);
    assert.deepEqual(logger.debugs, []);
  });
});
