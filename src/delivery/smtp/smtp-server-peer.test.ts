/**
 * Sluice's SMTP client against smtp-server, in process: what it announces
 * decides what the client does (pipelining or not, SIZE, 8BITMIME,
 * SMTPUTF8, AUTH mechanisms), and every failure mode ends as a value.
 */
import assert from 'node:assert/strict';
import type { AddressInfo, Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { testRelay } from '../../../test/helpers/delivery-config.js';
import type { RelayConfig } from '../../config/config.js';
import type { SendResult } from '../../core/outcome.js';
import { SmtpClient, type SmtpClientOptions } from '../smtp-client.js';

interface Received {
  from: string;
  to: string[];
  raw: Buffer;
  bodyType: string;
  smtpUtf8: boolean;
}

interface Peer {
  port: number;
  received: Received[];
  /** What the server read from the socket, one entry per read (a pipelined group is one read). */
  wire: string[];
  close(): Promise<void>;
}

const peers: Peer[] = [];
after(async () => {
  await Promise.all(peers.map((p) => p.close()));
});

async function startPeer(
  options: Partial<SMTPServerOptions> & {
    onMessage?: (raw: Buffer, socket: Socket) => boolean | Error;
  } = {},
): Promise<Peer> {
  const received: Received[] = [];
  const wire: string[] = [];
  const sockets = new Set<Socket>();
  const bySession = new Map<string, Socket>();
  const { onMessage, ...serverOptions } = options;
  const server = new SMTPServer({
    logger: false,
    disableReverseLookup: true,
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    closeTimeout: 50,
    ...serverOptions,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      const socket = bySession.get(`${session.remoteAddress}:${session.remotePort}`);
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        const verdict = onMessage && socket ? onMessage(raw, socket) : true;
        if (verdict === false) return;
        if (verdict instanceof Error) return callback(verdict);
        if (stream.sizeExceeded) {
          return callback(Object.assign(new Error('5.3.4 Message too big'), { responseCode: 552 }));
        }
        const envelope = session.envelope as typeof session.envelope & {
          bodyType?: string;
          smtpUtf8?: boolean;
        };
        received.push({
          from: envelope.mailFrom ? envelope.mailFrom.address : '',
          to: envelope.rcptTo.map((r) => r.address),
          raw,
          bodyType: envelope.bodyType ?? '7bit',
          smtpUtf8: envelope.smtpUtf8 ?? false,
        });
        callback(null, 'Ok: queued');
      });
    },
  });
  server.on('error', () => {
    // Drops and timeouts are what these tests provoke.
  });
  server.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    bySession.set(`${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`, socket);
    socket.on('data', (chunk: Buffer) => wire.push(chunk.toString('latin1')));
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const peer: Peer = {
    port: (server.server.address() as AddressInfo).port,
    received,
    wire,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  peers.push(peer);
  return peer;
}

function clientOptions(
  port: number,
  patch: Partial<RelayConfig> = {},
  timeouts: Partial<SmtpClientOptions> = {},
): SmtpClientOptions {
  return {
    relay: testRelay(port, patch),
    heloName: 'sluice.test',
    connectionTimeoutMs: 2_000,
    greetingTimeoutMs: 2_000,
    socketTimeoutMs: 5_000,
    ...timeouts,
  };
}

async function open(
  peer: Peer,
  patch: Partial<RelayConfig> = {},
  timeouts: Partial<SmtpClientOptions> = {},
) {
  const opened = await SmtpClient.open(clientOptions(peer.port, patch, timeouts));
  assert.ok(opened.ok, opened.ok ? '' : opened.reason);
  return opened.client;
}

const enhanced = (result: SendResult) =>
  result.kind === 'delivered' ? undefined : result.enhancedCode;
const envelope = (to = 'b@example.com', from = 'a@sender.example') => ({ from, to: [to] });
const message = (body: string) =>
  Buffer.from(`From: a@sender.example\r\nTo: b@example.com\r\nSubject: t\r\n\r\n${body}`);

describe('SMTP client against smtp-server', () => {
  it('pipelines MAIL, RCPT and DATA in one write when PIPELINING is offered', async () => {
    const peer = await startPeer();
    const client = await open(peer);
    assert.equal(client.extensions.pipelining, true);
    const { result } = await client.send(envelope(), message('hi\r\n'));
    assert.equal(result.kind, 'delivered');
    assert.ok(
      peer.wire.some((read) =>
        /^MAIL FROM:<a@sender\.example>[^\r]*\r\nRCPT TO:<b@example\.com>\r\nDATA\r\n$/.test(read),
      ),
      `one read held the group: ${JSON.stringify(peer.wire)}`,
    );
    await client.close();
    assert.ok(peer.wire.includes('QUIT\r\n'), 'QUIT on close');
  });

  it('sends one command at a time to a server without PIPELINING', async () => {
    const peer = await startPeer({ hidePIPELINING: true });
    const client = await open(peer);
    assert.equal(client.extensions.pipelining, false);
    for (const to of ['b@example.com', 'c@example.com']) {
      assert.equal((await client.send(envelope(to), message('hi\r\n'))).result.kind, 'delivered');
    }
    assert.ok(!peer.wire.some((read) => read.includes('MAIL') && read.includes('RCPT')));
    assert.ok(peer.wire.includes('DATA\r\n'));
    assert.equal(peer.received.length, 2);
    await client.close();
  });

  it('round-trips dot-stuffing byte for byte', async () => {
    const peer = await startPeer();
    const client = await open(peer);
    const raw = message(
      '.leading dot\r\n..two dots\r\n.\r\nmiddle . dot\r\n\r\n.\r\n..\r\nlast\r\n',
    );
    assert.equal((await client.send(envelope(), raw)).result.kind, 'delivered');
    assert.deepEqual(peer.received[0]?.raw, raw);
    await client.close();
  });

  it('AUTH LOGIN when it is the only mechanism; a server that requires AUTH refuses MAIL without it', async () => {
    const logins: string[] = [];
    const peer = await startPeer({
      authOptional: false,
      authMethods: ['LOGIN'],
      onAuth(auth, _session, callback) {
        if (auth.username === 'u' && auth.password === 'p w') {
          logins.push(auth.username);
          return callback(null, { user: auth.username });
        }
        callback(Object.assign(new Error('5.7.8 Authentication failed'), { responseCode: 535 }));
      },
    });
    const client = await open(peer, { auth: { user: 'u', pass: 'p w' } });
    assert.equal((await client.send(envelope(), message('hi\r\n'))).result.kind, 'delivered');
    assert.deepEqual(logins, ['u']);
    await client.close();
    const anonymous = await open(peer);
    const { result } = await anonymous.send(envelope(), message('hi\r\n'));
    assert.equal(result.kind, 'bounced');
    assert.equal(result.code, 530);
    await anonymous.close();
    const wrong = await SmtpClient.open(
      clientOptions(peer.port, { auth: { user: 'u', pass: 'x' } }),
    );
    assert.equal(wrong.ok, false);
    assert.equal(wrong.ok ? 0 : wrong.code, 535);
    assert.doesNotMatch(wrong.ok ? '' : wrong.reason, /\bx\b|eA==/, 'no credentials in the reason');
  });

  it('STARTTLS with smtp-server’s self-signed certificate when rejectUnauthorized is false', async () => {
    const peer = await startPeer({ disabledCommands: [] });
    const client = await open(peer, { tls: { mode: 'starttls', rejectUnauthorized: false } });
    assert.equal((await client.send(envelope(), message('over TLS\r\n'))).result.kind, 'delivered');
    assert.ok(peer.wire.includes('STARTTLS\r\n'));
    await client.close();
    const strict = await SmtpClient.open(
      clientOptions(peer.port, { tls: { mode: 'starttls', rejectUnauthorized: true } }),
    );
    assert.equal(strict.ok, false);
    assert.match(strict.ok ? '' : strict.reason, /STARTTLS failed/);
  });

  it('refuses locally, without sending, what the server announced it cannot take', async () => {
    const peer = await startPeer({ size: 200, hide8BITMIME: true, hideSMTPUTF8: true });
    const client = await open(peer);
    assert.equal(client.extensions.size, 200);
    const big = await client.send(envelope(), message('x'.repeat(300) + '\r\n'));
    assert.deepEqual(
      [big.result.kind, big.result.code, enhanced(big.result), big.untouched],
      ['bounced', 552, '5.3.4', true],
    );
    const eightBit = await client.send(envelope(), message('Grüße\r\n'));
    assert.deepEqual([eightBit.result.kind, enhanced(eightBit.result)], ['bounced', '5.6.3']);
    const utf8 = await client.send(envelope('müller@example.com'), message('hi\r\n'));
    assert.deepEqual([utf8.result.kind, enhanced(utf8.result)], ['bounced', '5.6.7']);
    assert.ok(!peer.wire.some((read) => read.includes('MAIL')), 'nothing was sent');
    assert.equal((await client.send(envelope(), message('fits\r\n'))).result.kind, 'delivered');
    await client.close();
  });

  it('sends 8-bit content with BODY=8BITMIME and UTF-8 addresses with SMTPUTF8 when offered', async () => {
    const peer = await startPeer();
    const client = await open(peer);
    const raw = message('Grüße aus Köln\r\n');
    assert.equal((await client.send(envelope('müller@example.com'), raw)).result.kind, 'delivered');
    assert.equal(peer.received[0]?.bodyType, '8bitmime');
    assert.equal(peer.received[0]?.smtpUtf8, true);
    assert.deepEqual(peer.received[0]?.to, ['müller@example.com']);
    assert.deepEqual(peer.received[0]?.raw, raw);
    await client.close();
  });

  it('a 552 from a server that hides its SIZE limit is a bounce; the session goes on without RSET', async () => {
    const peer = await startPeer({ size: 200, hideSize: true });
    const client = await open(peer);
    const { result } = await client.send(envelope(), message('x'.repeat(300) + '\r\n'));
    assert.deepEqual([result.kind, result.code], ['bounced', 552]);
    assert.equal((await client.send(envelope(), message('small\r\n'))).result.kind, 'delivered');
    // The final reply ends the transaction, refused or not (RFC 5321 §3.3).
    assert.ok(!peer.wire.some((read) => read.includes('RSET')), 'no RSET after the final reply');
    await client.close();
  });

  it('a drop mid-DATA is deferred, not untouched, and closes the connection', async () => {
    const peer = await startPeer({
      onMessage: (_raw, socket) => {
        socket.destroy();
        return false;
      },
    });
    const client = await open(peer);
    const outcome = await client.send(envelope(), message('y'.repeat(50_000) + '\r\n'));
    assert.equal(outcome.result.kind, 'deferred');
    assert.equal(outcome.result.code, undefined);
    assert.equal(outcome.untouched, false);
    assert.equal(client.usable, false);
  });

  it('a server slower than the data timeout gives a deferred data timeout', async () => {
    const timers: NodeJS.Timeout[] = [];
    const peer = await startPeer({
      onMessage: () => {
        timers.push(setTimeout(() => undefined, 1_000));
        return false;
      },
    });
    const client = await open(peer, {}, { dataTimeoutMs: 200 });
    const started = Date.now();
    const { result } = await client.send(envelope(), message('slow\r\n'));
    assert.equal(result.kind, 'deferred');
    assert.match(result.response, /data timeout/);
    assert.ok(Date.now() - started < 900);
    assert.equal(client.usable, false);
    for (const timer of timers) clearTimeout(timer);
  });

  it('a slow reply to RCPT hits the command timeout', async () => {
    const timers: NodeJS.Timeout[] = [];
    const peer = await startPeer({
      onRcptTo(_address, _session, callback) {
        timers.push(setTimeout(callback, 1_000));
      },
    });
    const client = await open(peer, {}, { commandTimeoutMs: 200 });
    const outcome = await client.send(envelope(), message('hi\r\n'));
    assert.equal(outcome.result.kind, 'deferred');
    assert.match(outcome.result.response, /command timeout/);
    assert.equal(outcome.untouched, true);
    for (const timer of timers) clearTimeout(timer);
  });
});
