/**
 * DKIM and VERP end to end: messages accepted by the API, prepared and
 * signed by the worker, delivered to a scripted relay; what the relay
 * received is checked by mailauth (an independent verifier) with an in-test
 * DNS resolver, and the envelope sender the relay saw is the VERP address.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseVerpAddress } from '../../src/core/verp.js';
import { verifyDkim, writeTestKey, type TxtRecords } from '../helpers/dkim.js';
import {
  makeTempDir,
  relayAt,
  startTestSluice,
  waitFor,
  type TestSluice,
} from '../helpers/sluice.js';
import {
  startScriptedRelay,
  type RecordedMessage,
  type ScriptedRelay,
} from '../helpers/smtp-farm.js';

const keysDir = makeTempDir('sluice-dkim-keys-');
after(() => rmSync(keysDir, { recursive: true, force: true }));
const rsa = writeTestKey(keysDir, 'rsa', 'rsa');
const ed = writeTestKey(keysDir, 'ed', 'ed25519');
const records: TxtRecords = {
  'rsa1._domainkey.example.com': rsa.txt,
  'ed1._domainkey.ed.example.org': ed.txt,
};

async function delivered(relay: ScriptedRelay, id: string): Promise<RecordedMessage> {
  return waitFor(`message ${id} at the relay`, () =>
    relay.messages.find((m) => m.messageId?.startsWith(`${id}.`)),
  );
}

describe('DKIM signing and VERP through the whole worker', () => {
  let relay: ScriptedRelay;
  let t: TestSluice;
  before(async () => {
    relay = await startScriptedRelay();
    t = await startTestSluice({
      relays: [relayAt(relay.port)],
      dkim: [
        { domain: 'example.com', selector: 'rsa1', privateKeyFile: rsa.file },
        { domain: 'ed.example.org', selector: 'ed1', privateKeyFile: ed.file },
      ],
      bounces: { returnPathDomain: 'bounces.example.com' },
    });
  });
  after(async () => {
    await t.close();
    await relay.close();
  });

  async function send(body: Record<string, unknown>): Promise<string> {
    const reply = await t.api<{ id: string }>('POST', '/v1/messages', {
      to: 'user@example.net',
      subject: 'Café — news',
      text: 'Hello,\n\nplain text with trailing spaces   \nand an ending.\n',
      html: '<p>Hello, <b>world</b> — ünïcødé</p>',
      ...body,
    });
    assert.equal(reply.status, 202, JSON.stringify(reply.body));
    return reply.body.id;
  }

  it('RSA-2048: the delivered message verifies pass, covering List-Unsubscribe', async () => {
    const id = await send({
      from: { email: 'app@example.com', name: 'Äpp Team' },
      replyTo: 'help@example.com',
      headers: {
        'List-Unsubscribe': '<https://example.com/unsubscribe/1>, <mailto:unsub@example.com>',
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      },
    });
    const message = await delivered(relay, id);
    const verdicts = await verifyDkim(message.raw, records);
    assert.deepEqual(
      verdicts.map((v) => [v.result, v.domain, v.selector, v.algorithm]),
      [['pass', 'example.com', 'rsa1', 'rsa-sha256']],
    );
    const covered = verdicts[0]?.signedHeaders ?? [];
    for (const name of [
      'from',
      'to',
      'subject',
      'date',
      'message-id',
      'reply-to',
      'list-unsubscribe',
      'list-unsubscribe-post',
    ]) {
      assert.ok(covered.includes(name), `${name} is signed (h=${covered.join(':')})`);
    }
  });

  it('Ed25519: the delivered message verifies pass', async () => {
    const id = await send({ from: 'news@ed.example.org' });
    const verdicts = await verifyDkim((await delivered(relay, id)).raw, records);
    assert.deepEqual(
      verdicts.map((v) => [v.result, v.domain, v.algorithm]),
      [['pass', 'ed.example.org', 'ed25519-sha256']],
    );
  });

  it('a body or a List-Unsubscribe changed after delivery no longer verifies', async () => {
    const id = await send({
      from: 'app@example.com',
      headers: { 'List-Unsubscribe': '<https://example.com/unsubscribe/2>' },
    });
    const raw = (await delivered(relay, id)).raw.toString('latin1');
    const body = raw.replace('an ending.', 'an ending!');
    assert.notEqual(body, raw);
    assert.notEqual((await verifyDkim(Buffer.from(body, 'latin1'), records))[0]?.result, 'pass');
    const link = raw.replace('unsubscribe/2', 'unsubscribe/3');
    assert.notEqual(link, raw);
    assert.notEqual((await verifyDkim(Buffer.from(link, 'latin1'), records))[0]?.result, 'pass');
  });

  it('a domain without a key (nor a parent with one) goes unsigned', async () => {
    const id = await send({ from: 'app@no-key.example.net' });
    const message = await delivered(relay, id);
    assert.doesNotMatch(message.raw.toString(), /^DKIM-Signature:/im);
    assert.deepEqual(
      (await verifyDkim(message.raw, records)).filter((v) => v.result !== 'none'),
      [],
    );
  });

  it('the relay sees the VERP envelope sender, which parses back to the message id', async () => {
    const id = await send({ from: 'app@example.com' });
    const message = await delivered(relay, id);
    assert.equal(message.envelope.from, `bounces+${id}@bounces.example.com`);
    assert.equal(parseVerpAddress(message.envelope.from), id);
    assert.equal(parseVerpAddress(message.envelope.from, 'bounces.example.com'), id);
  });
});

describe('without a bounce domain', () => {
  let relay: ScriptedRelay;
  let t: TestSluice;
  before(async () => {
    relay = await startScriptedRelay();
    t = await startTestSluice({ relays: [relayAt(relay.port)] });
  });
  after(async () => {
    await t.close();
    await relay.close();
  });

  it('the envelope sender is the From address', async () => {
    const reply = await t.api<{ id: string }>('POST', '/v1/messages', {
      from: 'app@example.com',
      to: 'user@example.net',
      subject: 'Plain',
      text: 'Body',
    });
    assert.equal(reply.status, 202);
    const message = await delivered(relay, reply.body.id);
    assert.equal(message.envelope.from, 'app@example.com');
  });
});

describe('sluice serve with a bad DKIM key', () => {
  it('stops before starting, naming the key and not printing it', () => {
    const dir = makeTempDir();
    try {
      const file = join(dir, 'sluice.config.json');
      writeFileSync(
        file,
        JSON.stringify({
          http: { port: 0 },
          database: { url: `sqlite:${join(dir, 'sluice.db')}` },
          dataDir: dir,
          dkim: [
            { domain: 'example.com', selector: 'rsa1', privateKeyFile: rsa.file },
            { domain: 'example.org', selector: 'x', privateKeyFile: join(dir, 'missing.pem') },
          ],
        }),
      );
      const run = spawnSync(process.execPath, ['dist/src/cli/bin.js', 'serve', '--config', file], {
        encoding: 'utf8',
        timeout: 20_000,
        env: { PATH: process.env.PATH ?? '' },
      });
      assert.notEqual(run.status, 0);
      assert.match(
        run.stderr,
        /config key "dkim\[1\]\.privateKeyFile": cannot read .*missing\.pem/,
      );
      assert.ok(!run.stdout.includes('BEGIN') && !run.stderr.includes('BEGIN'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
