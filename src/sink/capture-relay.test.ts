import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testRelay } from '../../test/helpers/delivery-config.js';
import { SmtpClient } from '../delivery/smtp-client.js';
import { startCaptureRelay } from './capture-relay.js';

function message(n: number): Buffer {
  return Buffer.from(
    [
      'From: "The Shop" <shop@sender.example>',
      `To: rcpt${n}@example.com`,
      `Subject: Order ${n}`,
      `Message-ID: <m${n}@sender.example>`,
      'MIME-Version: 1.0',
      'Content-Type: multipart/alternative; boundary="b"',
      '',
      '--b',
      'Content-Type: text/plain; charset=utf-8',
      '',
      `Text ${n}`,
      '--b',
      'Content-Type: text/html; charset=utf-8',
      '',
      `<p>Html ${n}</p>`,
      '--b--',
      '',
    ].join('\r\n'),
  );
}

describe('capture relay', () => {
  it('accepts everything, keeps the latest `keep`, newest first, parsed', async () => {
    const sink = await startCaptureRelay({ host: '127.0.0.1', port: 0, keep: 2 });
    try {
      const opened = await SmtpClient.open({
        relay: testRelay(sink.port),
        heloName: 'test',
        connectionTimeoutMs: 2_000,
        greetingTimeoutMs: 2_000,
        socketTimeoutMs: 5_000,
      });
      assert.ok(opened.ok);
      for (const n of [1, 2, 3]) {
        const { result } = await opened.client.send(
          { from: 'bounces@sender.example', to: [`rcpt${n}@example.com`] },
          message(n),
        );
        assert.equal(result.kind, 'delivered');
      }
      await opened.client.close();
      const kept = sink.messages();
      assert.deepEqual(
        kept.map((m) => m.subject),
        ['Order 3', 'Order 2'],
      );
      const latest = kept[0];
      assert.ok(latest);
      assert.equal(latest.messageId, '<m3@sender.example>');
      assert.deepEqual(latest.envelope, {
        from: 'bounces@sender.example',
        to: ['rcpt3@example.com'],
      });
      assert.equal(latest.from, '"The Shop" <shop@sender.example>');
      assert.equal(latest.to, 'rcpt3@example.com');
      assert.equal(latest.text?.trim(), 'Text 3');
      assert.match(latest.html ?? '', /Html 3/);
      assert.equal(latest.size, message(3).length);
      assert.match(latest.raw, /^From: "The Shop"/);
      assert.match(JSON.stringify(latest), /"receivedAt":"\d{4}-\d\d-\d\dT/);
      assert.equal(sink.get(latest.id), latest);
      sink.clear();
      assert.deepEqual(sink.messages(), []);
    } finally {
      await sink.close();
    }
  });
});
