/**
 * Sluice's SMTP client against Postfix's smtp-sink, a second, independent
 * implementation of the server side: pipelined and not, a server without
 * ESMTP, soft and hard rejections, 421, a drop after the final dot; and
 * through a relay's pool, each body written with the next message's
 * envelope (pipelining across messages, relay-connections.ts; the refusals
 * at a final reply are in relay-pipelining.test.ts: smtp-sink's -f and -r
 * turn PIPELINING off).
 * Skipped when /usr/sbin/smtp-sink is not installed (Debian: postfix).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { testConfig, testRelay } from '../../../test/helpers/delivery-config.js';
import { EventBus, type SluiceEventMap } from '../../core/events.js';
import { silentLogger } from '../logger.js';
import { RelayPools } from '../relay-pool.js';
import { SmtpClient } from '../smtp-client.js';

const SMTP_SINK = '/usr/sbin/smtp-sink';
const missing = existsSync(SMTP_SINK)
  ? false
  : `${SMTP_SINK} not installed (apt-get install postfix): smtp-sink tests skipped`;

const children: ChildProcess[] = [];
after(() => {
  for (const child of children) child.kill('SIGKILL');
});

/** Starts smtp-sink with `flags`; resolves with its port once it accepts connections. */
async function startSink(flags: string[] = []): Promise<number> {
  const port = await freePort();
  // As root, smtp-sink insists on dropping privileges to a named user.
  const privileges = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  const child = spawn(SMTP_SINK, [...privileges, ...flags, `127.0.0.1:${port}`, '100'], {
    stdio: 'ignore',
  });
  children.push(child);
  for (let i = 0; i < 300; i++) {
    if (await accepts(port)) return port;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('smtp-sink did not start');
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function open(port: number) {
  const opened = await SmtpClient.open({
    relay: testRelay(port),
    heloName: 'sluice.test',
    connectionTimeoutMs: 2_000,
    greetingTimeoutMs: 2_000,
    socketTimeoutMs: 2_000,
  });
  assert.ok(opened.ok, opened.ok ? '' : opened.reason);
  return opened.client;
}

const RAW = Buffer.from(
  'From: a@sender.example\r\nTo: b@example.com\r\nSubject: t\r\n\r\n.dot\r\nbody\r\n',
);
const envelope = (i = 0) => ({ from: 'a@sender.example', to: [`rcpt${i}@example.com`] });

describe('SMTP client against Postfix smtp-sink', { skip: missing }, () => {
  it('pipelines 500 messages over 2 connections', async () => {
    const port = await startSink();
    const clients = await Promise.all([open(port), open(port)]);
    assert.ok(clients.every((c) => c.extensions.pipelining));
    let next = 0;
    const results = await Promise.all(
      clients.map(async (client) => {
        const kinds: string[] = [];
        while (next < 500) kinds.push((await client.send(envelope(next++), RAW)).result.kind);
        return kinds;
      }),
    );
    assert.deepEqual(new Set(results.flat()), new Set(['delivered']));
    assert.equal(results.flat().length, 500);
    await Promise.all(clients.map((c) => c.close()));
  });

  it('one command at a time when PIPELINING is not announced (-p)', async () => {
    const client = await open(await startSink(['-p']));
    assert.equal(client.extensions.pipelining, false);
    for (let i = 0; i < 20; i++) {
      assert.equal((await client.send(envelope(i), RAW)).result.kind, 'delivered');
    }
    await client.close();
  });

  it('HELO when the server does not speak ESMTP (-e); 8-bit content refused locally', async () => {
    const client = await open(await startSink(['-e']));
    assert.equal(client.extensions.pipelining, false);
    assert.equal((await client.send(envelope(), RAW)).result.kind, 'delivered');
    const eightBit = await client.send(envelope(), Buffer.from('Subject: t\r\n\r\nÄrger\r\n'));
    assert.deepEqual(
      [eightBit.result.kind, eightBit.result.code, eightBit.untouched],
      ['bounced', 554, true],
    );
    assert.equal((await client.send(envelope(), RAW)).result.kind, 'delivered');
    await client.close();
  });

  it('soft rejection at RCPT (-r RCPT) is deferred; hard (-f RCPT) bounced; the session goes on', async () => {
    const soft = await open(await startSink(['-r', 'RCPT']));
    const deferred = (await soft.send(envelope(), RAW)).result;
    assert.equal(deferred.kind, 'deferred');
    assert.ok(deferred.code !== undefined && deferred.code >= 400 && deferred.code < 500);
    assert.equal(soft.usable, true);
    await soft.close();
    const hard = await open(await startSink(['-f', 'RCPT']));
    const bounced = (await hard.send(envelope(), RAW)).result;
    assert.equal(bounced.kind, 'bounced');
    assert.ok(bounced.code >= 500);
    const again = (await hard.send(envelope(), RAW)).result;
    assert.equal(again.kind, 'bounced', 'RSET left the session usable');
    await hard.close();
  });

  it('421 at MAIL (-Q MAIL) defers and closes; a drop after "." (-q .) defers, not untouched', async () => {
    const closing = await open(await startSink(['-Q', 'MAIL']));
    const refused = (await closing.send(envelope(), RAW)).result;
    assert.deepEqual([refused.kind, refused.code], ['deferred', 421]);
    assert.equal(closing.usable, false);
    const dropping = await open(await startSink(['-q', '.']));
    const dropped = await dropping.send(envelope(), RAW);
    assert.equal(dropped.result.kind, 'deferred');
    assert.equal(dropped.result.code, undefined);
    assert.equal(dropped.untouched, false);
    assert.equal(dropping.usable, false);
  });

  it('through a pool, each body with the next envelope: 300 messages over 2 connections', async () => {
    const pools = poolOf(await startSink());
    const results = await sendThrough(pools, 300);
    assert.deepEqual(new Set(results), new Set(['delivered']));
    assert.equal(results.length, 300);
    assert.ok(pools.connectionCount <= 2);
    await pools.close();
  });
});

function poolOf(port: number): RelayPools {
  return new RelayPools({
    config: testConfig({ relays: [testRelay(port, { name: 'sink', maxConnections: 2 })] }),
    events: new EventBus<SluiceEventMap>(),
    logger: silentLogger,
  });
}

/** `count` messages at once, each built when its connection is ready (as the worker does). */
async function sendThrough(pools: RelayPools, count: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const request = {
        lane: 'bulk' as const,
        envelope: envelope(i),
        raw: () => Promise.resolve(RAW),
      };
      return (await pools.forStream('bulk').send(request, 'example.com')).kind;
    }),
  );
}
