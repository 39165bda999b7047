import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { testRelay } from '../../test/helpers/delivery-config.js';
import { startScriptedRelay, type ScriptedRelay } from '../../test/helpers/smtp-farm.js';
import type { RelayConfig } from '../config/config.js';
import { parseReply, SmtpClient, type SmtpClientOptions } from './smtp-client.js';

const RAW = Buffer.from(
  'From: a@sender.example\r\nTo: b@example.com\r\nSubject: hi\r\nMessage-ID: <m1@sender.example>\r\n\r\nHello\r\n',
);

function options(relay: RelayConfig, patch: Partial<SmtpClientOptions> = {}): SmtpClientOptions {
  return {
    relay,
    heloName: 'sluice.test',
    connectionTimeoutMs: 2_000,
    greetingTimeoutMs: 2_000,
    socketTimeoutMs: 5_000,
    ...patch,
  };
}

async function openClient(relay: ScriptedRelay, patch: Partial<RelayConfig> = {}) {
  const opened = await SmtpClient.open(options(testRelay(relay.port, patch)));
  assert.ok(opened.ok, opened.ok ? '' : opened.reason);
  return opened.client;
}

const envelope = (to: string) => ({ from: 'a@sender.example', to: [to] });

describe('parseReply', () => {
  it('reads the code and the enhanced code', () => {
    assert.deepEqual(parseReply('550 5.1.1 <x@y>: user unknown'), {
      code: 550,
      enhancedCode: '5.1.1',
      text: '550 5.1.1 <x@y>: user unknown',
    });
    assert.deepEqual(parseReply('451 try later'), { code: 451, text: '451 try later' });
    assert.deepEqual(parseReply('250-2.0.0 first\n250 2.0.0 Ok'), {
      code: 250,
      enhancedCode: '2.0.0',
      text: '250-2.0.0 first 250 2.0.0 Ok',
    });
    assert.deepEqual(parseReply('garbage'), { text: 'garbage' });
  });
});

describe('SmtpClient', () => {
  const relays: ScriptedRelay[] = [];
  const start = async (...args: Parameters<typeof startScriptedRelay>) => {
    const relay = await startScriptedRelay(...args);
    relays.push(relay);
    return relay;
  };
  after(async () => {
    await Promise.all(relays.map((r) => r.close()));
  });

  it('delivers several messages over one connection, then QUITs', async () => {
    const relay = await start();
    const client = await openClient(relay);
    for (const to of ['b@example.com', 'c@example.com', 'd@example.com']) {
      const { result } = await client.send(envelope(to), RAW);
      assert.equal(result.kind, 'delivered');
      assert.equal(result.kind === 'delivered' && result.code, 250);
    }
    await client.close();
    assert.equal(client.usable, false);
    assert.equal(relay.connections, 1);
    assert.equal(relay.messages.length, 3);
    assert.equal(relay.messages[0]?.messageId, 'm1@sender.example');
    assert.deepEqual(relay.messages[1]?.envelope, {
      from: 'a@sender.example',
      to: ['c@example.com'],
    });
  });

  it('maps replies: 4xx at RCPT deferred, 5xx bounced, 4xx after DATA deferred; the session goes on', async () => {
    const relay = await start({
      behaviour: (rcpt) =>
        rcpt.startsWith('later')
          ? { reply: '451 4.7.1 try later' }
          : rcpt.startsWith('unknown')
            ? { reply: '550 5.1.1 user unknown' }
            : rcpt.startsWith('full')
              ? { reply: '452 4.2.2 mailbox full', at: 'data' }
              : rcpt.startsWith('spam')
                ? { reply: '554 5.7.1 looks like spam', at: 'data' }
                : 'accept',
    });
    const client = await openClient(relay);
    const later = (await client.send(envelope('later@example.com'), RAW)).result;
    assert.deepEqual(later, {
      kind: 'deferred',
      relay: `relay-${relay.port}`,
      code: 451,
      enhancedCode: '4.7.1',
      response: '451 4.7.1 try later',
    });
    const unknown = (await client.send(envelope('unknown@example.com'), RAW)).result;
    assert.equal(unknown.kind, 'bounced');
    assert.equal(unknown.code, 550);
    assert.equal(unknown.enhancedCode, '5.1.1');
    const full = (await client.send(envelope('full@example.com'), RAW)).result;
    assert.equal(full.kind, 'deferred');
    assert.equal(full.code, 452);
    const spam = (await client.send(envelope('spam@example.com'), RAW)).result;
    assert.equal(spam.kind, 'bounced');
    assert.equal(spam.enhancedCode, '5.7.1');
    const ok = (await client.send(envelope('ok@example.com'), RAW)).result;
    assert.equal(ok.kind, 'delivered');
    assert.equal(relay.connections, 1, 'RSET kept the connection usable');
    assert.equal(relay.messages.length, 1);
    await client.close();
  });

  it('a drop after DATA is deferred and closes the connection', async () => {
    const relay = await start({ behaviour: () => 'drop' });
    const client = await openClient(relay);
    const outcome = await client.send(envelope('b@example.com'), RAW);
    assert.equal(outcome.result.kind, 'deferred');
    assert.equal(outcome.result.code, undefined);
    assert.equal(outcome.untouched, false);
    assert.equal(client.usable, false);
  });

  it('a relay slower than socketTimeout gives a deferred timeout', async () => {
    // smtp-server holds its greeting for 100 ms (early-talker check): stay above that.
    const relay = await start({ behaviour: () => ({ slowMs: 1_500 }) });
    const opened = await SmtpClient.open(options(testRelay(relay.port), { socketTimeoutMs: 300 }));
    assert.ok(opened.ok);
    const { result } = await opened.client.send(envelope('b@example.com'), RAW);
    assert.equal(result.kind, 'deferred');
    assert.match(result.response, /timeout/i);
    assert.equal(opened.client.usable, false);
  });

  it('a refused connection fails to open, with the reason', async () => {
    const server = await listenThenClose();
    const opened = await SmtpClient.open(options(testRelay(server)));
    assert.equal(opened.ok, false);
    assert.match(opened.ok ? '' : opened.reason, /ECONNREFUSED/);
  });

  it('a relay that never greets times out at greetingTimeout', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const started = Date.now();
      const opened = await SmtpClient.open(
        options(testRelay(portOf(silent)), { greetingTimeoutMs: 150 }),
      );
      assert.equal(opened.ok, false);
      assert.match(opened.ok ? '' : opened.reason, /greeting/i);
      assert.ok(Date.now() - started < 1_500);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('authenticates when configured; bad credentials fail to open', async () => {
    const relay = await start({ auth: { user: 'sluice', pass: 'secret' } });
    const client = await openClient(relay, { auth: { user: 'sluice', pass: 'secret' } });
    assert.equal((await client.send(envelope('b@example.com'), RAW)).result.kind, 'delivered');
    await client.close();
    assert.deepEqual(relay.logins, ['sluice']);
    const bad = await SmtpClient.open(
      options(testRelay(relay.port, { auth: { user: 'sluice', pass: 'wrong' } })),
    );
    assert.equal(bad.ok, false);
    assert.match(bad.ok ? '' : bad.reason, /535/);
  });

  it('STARTTLS required: upgrades; certificate checked unless told otherwise', async () => {
    const relay = await start({ tls: 'starttls' });
    const strict = await SmtpClient.open(
      options(testRelay(relay.port, { tls: { mode: 'starttls', rejectUnauthorized: true } })),
    );
    assert.equal(strict.ok, false, 'self-signed certificate refused');
    const client = await openClient(relay, {
      tls: { mode: 'starttls', rejectUnauthorized: false },
    });
    assert.equal((await client.send(envelope('b@example.com'), RAW)).result.kind, 'delivered');
    await client.close();
    const plain = await start();
    const refused = await SmtpClient.open(
      options(testRelay(plain.port, { tls: { mode: 'starttls', rejectUnauthorized: false } })),
    );
    assert.equal(refused.ok, false, 'no STARTTLS offered: refuse to send in clear');
  });

  it('implicit TLS', async () => {
    const relay = await start({ tls: 'implicit' });
    const client = await openClient(relay, {
      tls: { mode: 'implicit', rejectUnauthorized: false },
    });
    assert.equal((await client.send(envelope('b@example.com'), RAW)).result.kind, 'delivered');
    await client.close();
  });

  it('destroy() under a send completes it as deferred', async () => {
    const relay = await start({ behaviour: () => ({ slowMs: 2_000 }) });
    const client = await openClient(relay);
    const sending = client.send(envelope('b@example.com'), RAW);
    await waitFor(() => relay.attempts('b@example.com') === 1);
    await client.destroy();
    const { result } = await sending;
    assert.equal(result.kind, 'deferred');
  });
});

function portOf(server: Server): number {
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return address.port;
}

async function listenThenClose(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = portOf(server);
  await new Promise((r) => server.close(r));
  return port;
}

async function waitFor(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
