/**
 * Pipelining across messages (RFC 2920 §3.1), through a relay's pooled
 * connection, against a peer scripted on a bare TCP socket that shows what
 * smtp-server hides: which bytes arrived together, and whether the next
 * message's MAIL FROM arrived before the previous message's final reply was
 * sent. The peer holds each final reply until the next command arrives (or
 * `holdMs` passes), so a client that waited for that reply before writing
 * its next MAIL shows up as a final released by the timer.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { testConfig, testRelay } from '../../test/helpers/delivery-config.js';
import type { RelayConfig, SluiceConfig } from '../config/config.js';
import { EventBus, type SluiceEventMap } from '../core/events.js';
import { silentLogger } from './logger.js';
import type { DispatchResult } from './relay-connections.js';
import { RelayPools } from './relay-pool.js';

/** What the peer does at a message's final reply. */
type Final = 'accept' | 'refuse' | 'closing' | 'drop' | 'silent';

interface PeerOptions {
  pipelining?: boolean;
  /** SIZE announced; 0: none. */
  size?: number;
  final?: (rcpt: string, attempt: number) => Final;
  /** Reply to RCPT TO; default 250. */
  rcpt?: (rcpt: string) => string | undefined;
  holdMs?: number;
}

interface Peer {
  port: number;
  /** Each chunk read, latin1. */
  chunks: string[];
  commands: string[];
  /** For each final reply held: what released it (the next command's verb, or 'timer'). */
  releasedBy: string[];
  /** Recipients whose message got a 250. */
  accepted: string[];
  connections: number;
}

const servers: Server[] = [];
const sockets = new Set<Socket>();
const timers = new Set<NodeJS.Timeout>();
const opened: RelayPools[] = [];
after(async () => {
  await Promise.all(opened.map((p) => p.close()));
  for (const timer of timers) clearTimeout(timer);
  for (const socket of sockets) socket.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function startPeer(options: PeerOptions = {}): Promise<Peer> {
  const peer: Peer = {
    port: 0,
    chunks: [],
    commands: [],
    releasedBy: [],
    accepted: [],
    connections: 0,
  };
  const attempts = new Map<string, number>();
  const server = createServer((socket) => {
    peer.connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.write('220 peer.test ready\r\n');
    let buffer = '';
    let inData = false;
    let rcpt = '';
    let accepted = 0;
    let held: { verdict: Final; rcpt: string; timer?: NodeJS.Timeout } | undefined;
    let mute = false;

    /** Sends the held final reply; false when nothing more is answered on this connection. */
    const release = (by: string): boolean => {
      if (mute) return false;
      if (!held) return true;
      const { verdict, rcpt: to, timer } = held;
      held = undefined;
      if (timer) {
        clearTimeout(timer);
        timers.delete(timer);
      }
      peer.releasedBy.push(by);
      switch (verdict) {
        case 'accept':
          peer.accepted.push(to);
          socket.write('250 2.0.0 queued\r\n');
          return true;
        case 'refuse':
          socket.write('554 5.7.1 refused\r\n');
          return true;
        case 'closing':
          socket.end('421 4.3.2 closing\r\n');
          return false;
        case 'silent':
          mute = true;
          return false;
        default:
          socket.destroy();
          return false;
      }
    };
    const answer = (line: string): string | undefined => {
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') {
        const extensions = [options.pipelining === false ? '' : '250-PIPELINING\r\n'];
        return `250-peer.test\r\n${extensions.join('')}250 SIZE ${options.size ?? 0}\r\n`;
      }
      if (verb === 'MAIL') {
        accepted = 0;
        return '250 2.1.0 ok\r\n';
      }
      if (verb === 'RCPT') {
        rcpt = /<(.*)>/.exec(line)?.[1] ?? '';
        const reply = options.rcpt?.(rcpt) ?? '250 2.1.5 ok\r\n';
        if (reply.startsWith('2')) accepted++;
        return reply;
      }
      if (verb === 'DATA') {
        if (accepted === 0) return '554 5.5.1 no valid recipients\r\n';
        inData = true;
        return '354 go\r\n';
      }
      if (verb === 'QUIT') return '221 bye\r\n';
      return '250 2.0.0 ok\r\n';
    };
    const messageEnded = (): void => {
      const attempt = (attempts.get(rcpt) ?? 0) + 1;
      attempts.set(rcpt, attempt);
      const verdict = options.final?.(rcpt, attempt) ?? 'accept';
      peer.commands.push('DATA-END');
      if (verdict === 'silent') {
        held = { verdict, rcpt };
        return;
      }
      const timer = setTimeout(() => release('timer'), options.holdMs ?? 300);
      timers.add(timer);
      held = { verdict, rcpt, timer };
    };
    socket.on('data', (chunk: Buffer) => {
      peer.chunks.push(chunk.toString('latin1'));
      buffer += chunk.toString('latin1');
      for (;;) {
        if (inData) {
          const end = `\r\n${buffer}`.indexOf('\r\n.\r\n');
          if (end < 0) return;
          buffer = buffer.slice(end + 3);
          inData = false;
          messageEnded();
          continue;
        }
        const end = buffer.indexOf('\r\n');
        if (end < 0) return;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!release(line.slice(0, 4).toUpperCase())) return;
        peer.commands.push(line);
        const reply = answer(line);
        if (reply === undefined) {
          socket.destroy();
          return;
        }
        socket.write(reply);
        if (line.toUpperCase() === 'QUIT') socket.end();
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  peer.port = (server.address() as AddressInfo).port;
  return peer;
}

function poolsFor(
  peer: Peer,
  delivery: Partial<Omit<SluiceConfig['delivery'], 'retry'>> = {},
  relay: Partial<RelayConfig> = {},
): { pools: RelayPools; events: EventBus<SluiceEventMap>; builds: Map<string, number> } {
  const events = new EventBus<SluiceEventMap>();
  const pools = new RelayPools({
    config: testConfig({
      relays: [testRelay(peer.port, { name: 'p', maxConnections: 1, ...relay })],
      delivery,
    }),
    events,
    logger: silentLogger,
  });
  opened.push(pools);
  return { pools, events, builds: new Map() };
}

/** Sends to each recipient at once, each built when its connection is ready (as the worker does). */
function sendAll(
  p: { pools: RelayPools; builds: Map<string, number> },
  recipients: string[],
  body = 'hello\r\n',
): Promise<DispatchResult[]> {
  return Promise.all(
    recipients.map((to) =>
      p.pools.forStream('bulk').send(
        {
          lane: 'bulk',
          envelope: { from: 'a@sender.example', to: [to] },
          raw: () => {
            p.builds.set(to, (p.builds.get(to) ?? 0) + 1);
            return Promise.resolve(Buffer.from(`Subject: ${to}\r\n\r\n${body}`));
          },
        },
        'example.com',
      ),
    ),
  );
}

const kinds = (results: DispatchResult[]): string[] => results.map((r) => r.kind);

describe('pipelining across messages', () => {
  it("writes a message's body and the next message's MAIL, RCPT and DATA at once; one round trip each", async () => {
    const peer = await startPeer();
    const p = poolsFor(peer);
    const to = ['m1@example.com', 'm2@example.com', 'm3@example.com', 'm4@example.com'];
    const results = await sendAll(p, to);
    assert.deepEqual(kinds(results), ['delivered', 'delivered', 'delivered', 'delivered']);
    assert.deepEqual(peer.accepted, to);
    // m1 – m3's final replies were still held when the next MAIL arrived: pipelined.
    assert.deepEqual(peer.releasedBy, ['MAIL', 'MAIL', 'MAIL', 'timer']);
    const joined = peer.chunks.filter((c) => /\r\n\.\r\nMAIL FROM:</.test(c));
    assert.ok(joined.length >= 2, `body and next envelope in one write: ${joined.length}`);
    assert.equal(peer.connections, 1);
    assert.deepEqual([...p.builds.values()], [1, 1, 1, 1], 'each message built once');
    assert.equal(p.pools.relays.get('p')?.inFlight, 0);
  });

  it('a message refused at its final reply is bounced; the next, already begun, is delivered; no RSET', async () => {
    const peer = await startPeer({
      final: (rcpt) => (rcpt === 'm1@example.com' ? 'refuse' : 'accept'),
    });
    const p = poolsFor(peer);
    const results = await sendAll(p, ['m1@example.com', 'm2@example.com', 'm3@example.com']);
    assert.deepEqual(kinds(results), ['bounced', 'delivered', 'delivered']);
    assert.equal(results[0]?.kind === 'bounced' ? results[0].code : 0, 554);
    assert.deepEqual(peer.releasedBy.slice(0, 2), ['MAIL', 'MAIL']);
    assert.ok(!peer.commands.includes('RSET'), 'no RSET after a final reply');
    assert.deepEqual(peer.accepted, ['m2@example.com', 'm3@example.com']);
    assert.equal(peer.connections, 1);
  });

  for (const final of ['closing', 'drop', 'silent'] as const) {
    it(`${final} at a final reply: that message is deferred (it went out), the next is untouched and sent once on a new connection`, async () => {
      const peer = await startPeer({
        final: (rcpt, attempt) => (rcpt === 'm1@example.com' && attempt === 1 ? final : 'accept'),
        holdMs: 50,
      });
      const p = poolsFor(peer, { socketTimeoutMs: 300 });
      const errors: string[] = [];
      p.events.on('relay:connection-error', (e) => errors.push(e.error));
      const results = await sendAll(p, ['m1@example.com', 'm2@example.com']);
      const [first, second] = results;
      assert.equal(first?.kind, 'deferred');
      if (first?.kind === 'deferred') {
        if (final === 'closing') assert.equal(first.code, 421);
        else assert.equal(first.code, undefined);
        if (final === 'silent') assert.match(first.response, /data timeout/);
      }
      assert.equal(second?.kind, 'delivered', JSON.stringify(second));
      // m2's envelope was on the first connection when m1's final reply failed.
      assert.equal(peer.releasedBy[0], 'MAIL');
      assert.deepEqual(peer.accepted, ['m2@example.com'], 'm2 delivered exactly once');
      assert.equal(peer.connections, 2);
      // Only m1 counts against the relay's health: m2 was handed back untouched.
      assert.equal(errors.length, final === 'closing' ? 0 : 1);
      assert.equal(p.builds.get('m2@example.com'), 2, 'rebuilt for its second connection');
      assert.equal(p.pools.relays.get('p')?.inFlight, 0);
    });
  }

  it('without PIPELINING, one command at a time; a refused RCPT is reset with RSET', async () => {
    const peer = await startPeer({
      pipelining: false,
      holdMs: 20,
      rcpt: (rcpt) => (rcpt === 'm2@example.com' ? '550 5.1.1 unknown\r\n' : undefined),
    });
    const p = poolsFor(peer);
    const results = await sendAll(p, ['m1@example.com', 'm2@example.com', 'm3@example.com']);
    assert.deepEqual(kinds(results), ['delivered', 'bounced', 'delivered']);
    assert.deepEqual(peer.releasedBy, ['timer', 'timer'], 'every final reply before the next MAIL');
    assert.ok(
      peer.chunks.every((c) => !/\r\n\.\r\nMAIL|MAIL FROM:[^\r]*\r\nRCPT/.test(c)),
      'no command written with another',
    );
    const rset = peer.commands.indexOf('RSET');
    assert.ok(rset > peer.commands.indexOf('RCPT TO:<m2@example.com>'), 'RSET after the refusal');
    assert.deepEqual(peer.accepted, ['m1@example.com', 'm3@example.com']);
  });

  it('relays[].pipelining "envelope": MAIL, RCPT and DATA in one write, the next message after the final reply', async () => {
    const peer = await startPeer({ holdMs: 20 });
    const p = poolsFor(peer, {}, { pipelining: 'envelope' });
    const results = await sendAll(p, ['m1@example.com', 'm2@example.com', 'm3@example.com']);
    assert.deepEqual(kinds(results), ['delivered', 'delivered', 'delivered']);
    assert.deepEqual(peer.releasedBy, ['timer', 'timer', 'timer'], 'no MAIL before a final reply');
    const envelopes = peer.chunks.filter((c) =>
      /^MAIL FROM:[^\r]*\r\nRCPT TO:[^\r]*\r\nDATA\r\n$/.test(c),
    );
    assert.equal(envelopes.length, 3, 'each envelope in one write');
    assert.ok(
      peer.chunks.every((c) => !/\r\n\.\r\nMAIL/.test(c)),
      'no body written with a MAIL',
    );
  });

  it('relays[].pipelining "off": one command at a time although the relay offers PIPELINING', async () => {
    const peer = await startPeer({ holdMs: 20 });
    const p = poolsFor(peer, {}, { pipelining: 'off' });
    const results = await sendAll(p, ['m1@example.com', 'm2@example.com']);
    assert.deepEqual(kinds(results), ['delivered', 'delivered']);
    assert.deepEqual(peer.releasedBy, ['timer', 'timer']);
    assert.ok(
      peer.chunks.every((c) => !/\r\n\.\r\nMAIL|MAIL FROM:[^\r]*\r\nRCPT/.test(c)),
      'no command written with another',
    );
    assert.deepEqual(peer.accepted, ['m1@example.com', 'm2@example.com']);
  });

  it('cut at shutdown: the message whose body went out is deferred, the one begun behind it released', async () => {
    const peer = await startPeer({ final: () => 'silent' });
    const p = poolsFor(peer);
    const sends = sendAll(p, ['m1@example.com', 'm2@example.com']);
    // m2's MAIL arrived while m1's final reply was held.
    await until(() => peer.releasedBy[0] === 'MAIL');
    await p.pools.close();
    const [first, second] = await sends;
    assert.equal(first?.kind, 'deferred', JSON.stringify(first));
    assert.deepEqual(second, { kind: 'released' });
    assert.equal(p.builds.get('m2@example.com'), 1);
    assert.deepEqual(peer.accepted, []);
  });

  it('a connection whose final reply is outstanding is not idle: no QUIT before that reply', async () => {
    // m2 takes the connection with m1's body, then is refused locally
    // (larger than SIZE): the connection is free while m1's reply is held.
    const peer = await startPeer({ size: 1_000, holdMs: 300 });
    const p = poolsFor(peer, { idleTimeoutMs: 30 });
    const sends = sendAll(p, ['m1@example.com']);
    const large = p.pools.forStream('bulk').send(
      {
        lane: 'bulk',
        envelope: { from: 'a@sender.example', to: ['m2@example.com'] },
        raw: () => Promise.resolve(Buffer.from(`Subject: big\r\n\r\n${'x'.repeat(2_000)}\r\n`)),
      },
      'example.com',
    );
    const [results, refused] = await Promise.all([sends, large]);
    assert.deepEqual([results[0]?.kind, refused.kind], ['delivered', 'bounced']);
    assert.deepEqual(peer.releasedBy, ['timer'], 'the reply was held, not cut by a QUIT');
    await until(() => peer.commands.includes('QUIT'));
    assert.ok(peer.commands.indexOf('QUIT') > peer.commands.indexOf('DATA-END'));
    assert.deepEqual(peer.accepted, ['m1@example.com']);
  });
});

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(condition(), 'condition not reached in 2 s');
}
