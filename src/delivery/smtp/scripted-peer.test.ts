/**
 * Sluice's SMTP client against a peer scripted line by line on a bare TCP
 * socket, for what smtp-server will not do: multi-line replies everywhere,
 * a server without ESMTP, 354 after a refused recipient, 421 in the middle
 * of a transaction, garbage instead of a reply.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { testRelay } from '../../../test/helpers/delivery-config.js';
import { SmtpClient } from '../smtp-client.js';

/** Reply to one command line (or to the message, as 'DATA-END'); `undefined`: close the socket. */
type Script = (command: string) => string | undefined;

interface ScriptedPeer {
  port: number;
  commands: string[];
  close(): Promise<void>;
}

const servers: Server[] = [];
const sockets = new Set<Socket>();
after(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function startScripted(greeting: string, script: Script): Promise<ScriptedPeer> {
  const commands: string[] = [];
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.write(greeting);
    let buffer = '';
    let inData = false;
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (;;) {
        if (inData) {
          // The data starts at a line start: "." right after DATA ends an empty message.
          const end = `\r\n${buffer}`.indexOf('\r\n.\r\n');
          if (end < 0) return;
          buffer = buffer.slice(end + 3);
          inData = false;
          if (!answer('DATA-END')) return;
          continue;
        }
        const end = buffer.indexOf('\r\n');
        if (end < 0) return;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const reply = answer(line);
        if (!reply) return;
        if (line === 'DATA' && reply.startsWith('354')) inData = true;
      }
    });
    const answer = (command: string): string | undefined => {
      commands.push(command);
      const reply = script(command);
      if (reply === undefined) socket.destroy();
      else socket.write(reply);
      return reply;
    };
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    commands,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const options = (port: number) => ({
  relay: testRelay(port),
  heloName: 'sluice.test',
  connectionTimeoutMs: 1_000,
  greetingTimeoutMs: 1_000,
  socketTimeoutMs: 1_000,
});
const envelope = { from: 'a@sender.example', to: ['b@example.com'] };
const RAW = Buffer.from('Subject: t\r\n\r\nhi\r\n');

/** A plain ESMTP server with multi-line replies; `overrides` by command prefix. */
function esmtp(overrides: Record<string, string | undefined> = {}): Script {
  return (command) => {
    for (const [prefix, reply] of Object.entries(overrides)) {
      if (command.startsWith(prefix)) return reply;
    }
    if (command.startsWith('EHLO')) return '250-peer.test hi\r\n250-PIPELINING\r\n250 SIZE 0\r\n';
    if (command === 'DATA') return '354 go\r\n';
    if (command === 'QUIT') return '221 bye\r\n';
    return '250-2.0.0 first line\r\n250 2.0.0 Ok\r\n';
  };
}

describe('SMTP client against a scripted peer', () => {
  it('reads multi-line replies at every step and keeps them whole in the outcome', async () => {
    const peer = await startScripted(
      '220-peer.test first\r\n220-second\r\n220 ready\r\n',
      esmtp({ 'DATA-END': '250-2.0.0 queued as 1\r\n250 2.0.0 see you\r\n' }),
    );
    const opened = await SmtpClient.open(options(peer.port));
    assert.ok(opened.ok, opened.ok ? '' : opened.reason);
    assert.equal(opened.client.extensions.pipelining, true);
    const { result } = await opened.client.send(envelope, RAW);
    assert.deepEqual(result, {
      kind: 'delivered',
      relay: `relay-${peer.port}`,
      code: 250,
      response: '250-2.0.0 queued as 1 250 2.0.0 see you',
    });
    await opened.client.close();
  });

  it('falls back to HELO when EHLO is refused, then speaks without extensions', async () => {
    const peer = await startScripted('220 old server\r\n', esmtp({ EHLO: '502 5.5.1 what?\r\n' }));
    const opened = await SmtpClient.open(options(peer.port));
    assert.ok(opened.ok, opened.ok ? '' : opened.reason);
    assert.equal(opened.client.extensions.pipelining, false);
    assert.equal((await opened.client.send(envelope, RAW)).result.kind, 'delivered');
    assert.deepEqual(peer.commands.slice(0, 5), [
      'EHLO sluice.test',
      'HELO sluice.test',
      'MAIL FROM:<a@sender.example>',
      'RCPT TO:<b@example.com>',
      'DATA',
    ]);
    await opened.client.close();
  });

  it('a 421 at RCPT defers the message and closes the connection', async () => {
    const peer = await startScripted(
      '220 ok\r\n',
      esmtp({ RCPT: '421-4.7.0 too many\r\n421 4.7.0 come back later\r\n' }),
    );
    const opened = await SmtpClient.open(options(peer.port));
    assert.ok(opened.ok);
    const { result } = await opened.client.send(envelope, RAW);
    assert.equal(result.kind, 'deferred');
    assert.equal(result.code, 421);
    assert.equal(result.kind === 'deferred' && result.enhancedCode, '4.7.0');
    assert.equal(opened.client.usable, false);
    assert.ok(!peer.commands.includes('RSET'), 'no RSET to a server that is closing');
  });

  it('a server answering 354 after a refused recipient gets an empty message, then RSET', async () => {
    const peer = await startScripted(
      '220 ok\r\n',
      esmtp({ RCPT: '550 5.1.1 no such user\r\n', 'DATA-END': '554 5.5.1 no recipients\r\n' }),
    );
    const opened = await SmtpClient.open(options(peer.port));
    assert.ok(opened.ok);
    const { result } = await opened.client.send(envelope, RAW);
    assert.deepEqual([result.kind, result.code], ['bounced', 550]);
    assert.deepEqual(peer.commands.slice(-2), ['DATA-END', 'RSET']);
    assert.equal(opened.client.usable, true);
    await opened.client.close();
  });

  it('a greeting other than 220 (554, 421) fails the opening with its code', async () => {
    const peer = await startScripted('554 5.7.1 go away\r\n', esmtp());
    const opened = await SmtpClient.open(options(peer.port));
    assert.equal(opened.ok, false);
    assert.equal(opened.ok ? 0 : opened.code, 554);
    // A 421 greeting (closing at once) keeps its code too: relay health counts it.
    const busy = await startScripted('421 4.3.2 too busy\r\n', () => undefined);
    const refused = await SmtpClient.open(options(busy.port));
    assert.equal(refused.ok ? 0 : refused.code, 421);
  });

  it('garbage instead of a reply is a protocol error: deferred, connection dropped', async () => {
    const peer = await startScripted('220 ok\r\n', esmtp({ MAIL: 'HTTP/1.1 400 Bad Request\r\n' }));
    const opened = await SmtpClient.open(options(peer.port));
    assert.ok(opened.ok);
    const outcome = await opened.client.send(envelope, RAW);
    assert.equal(outcome.result.kind, 'deferred');
    assert.match(outcome.result.response, /protocol error/);
    assert.equal(outcome.untouched, true);
    assert.equal(opened.client.usable, false);
  });

  it('STARTTLS required and not offered: refuses to open in clear', async () => {
    const peer = await startScripted('220 ok\r\n', esmtp());
    const opened = await SmtpClient.open({
      ...options(peer.port),
      relay: testRelay(peer.port, { tls: { mode: 'starttls', rejectUnauthorized: false } }),
    });
    assert.equal(opened.ok, false);
    assert.match(opened.ok ? '' : opened.reason, /does not offer STARTTLS/);
    assert.ok(!peer.commands.some((c) => c.startsWith('MAIL')));
  });
});
