import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SmtpClient } from '../../src/delivery/smtp-client.js';
import { testRelay } from './delivery-config.js';
import { startScriptedRelay } from './smtp-farm.js';

const RAW = Buffer.from('Message-ID: <abc@x.example>\r\nSubject: t\r\n\r\nbody\r\n');

async function client(port: number) {
  const opened = await SmtpClient.open({
    relay: testRelay(port),
    heloName: 'farm.test',
    connectionTimeoutMs: 2_000,
    greetingTimeoutMs: 2_000,
    socketTimeoutMs: 5_000,
  });
  assert.ok(opened.ok);
  return opened.client;
}

describe('scripted relay', () => {
  it('scripts per recipient and attempt, records accepted mail and counts connections', async () => {
    const relay = await startScriptedRelay({
      behaviour: (rcpt, attemptNo) =>
        rcpt === 'flaky@example.com' && attemptNo === 1
          ? { reply: '451 4.7.1 try later' }
          : 'accept',
    });
    try {
      const [a, b] = await Promise.all([client(relay.port), client(relay.port)]);
      assert.equal(relay.openConnections, 2);
      const first = await a.send({ from: 's@x.example', to: ['flaky@example.com'] }, RAW);
      assert.equal(first.result.code, 451);
      const second = await b.send({ from: 's@x.example', to: ['flaky@example.com'] }, RAW);
      assert.equal(second.result.kind, 'delivered');
      assert.equal(relay.attempts('flaky@example.com'), 2);
      assert.equal(relay.messages.length, 1);
      assert.equal(relay.messages[0]?.messageId, 'abc@x.example');
      assert.deepEqual(relay.messages[0]?.envelope, {
        from: 's@x.example',
        to: ['flaky@example.com'],
      });
      await Promise.all([a.close(), b.close()]);
      assert.equal(relay.connections, 2);
      assert.equal(relay.peakConnections, 2);
    } finally {
      await relay.close();
    }
    assert.equal(relay.openConnections, 0);
  });

  it('close() ends open connections and pending slow replies', async () => {
    const relay = await startScriptedRelay({ behaviour: () => ({ slowMs: 60_000 }) });
    const c = await client(relay.port);
    const sending = c.send({ from: 's@x.example', to: ['b@example.com'] }, RAW);
    while (relay.attempts('b@example.com') === 0) await new Promise((r) => setTimeout(r, 5));
    await relay.close();
    const { result } = await sending;
    assert.equal(result.kind, 'deferred');
    assert.equal(relay.openConnections, 0);
  });
});
