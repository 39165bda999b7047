import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { startCaptureRelay, type CaptureRelay } from '../../sink/capture-relay.js';
import { errorOf, startTestApp, type TestApp } from '../test-support.js';

interface Summary {
  id: string;
  receivedAt: string;
  envelope: { from: string; to: string[] };
  size: number;
  messageId: string | null;
  subject: string | null;
  from: string | null;
  to: string | null;
  text?: string;
  html?: string;
  raw?: string;
}

describe('sink endpoints over the real capture relay', () => {
  let relay: CaptureRelay;
  let t: TestApp;
  before(async () => {
    relay = await startCaptureRelay({ host: '127.0.0.1', port: 0, keep: 10 });
    t = await startTestApp({ sink: relay });
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: relay.port,
      secure: false,
      ignoreTLS: true,
    });
    try {
      for (const n of [1, 2, 3]) {
        await transport.sendMail({
          from: '"The Shop" <shop@sender.example>',
          to: 'jane@example.com',
          subject: `Order ${n}`,
          text: `Text ${n}`,
          html: `<p>HTML ${n}</p>`,
        });
      }
    } finally {
      transport.close();
    }
  });
  after(async () => {
    await t.close();
    await relay.close();
  });

  it('lists captured messages newest first, without bodies', async () => {
    const response = await t.api<{ items: Summary[] }>('GET', '/v1/sink/messages');
    assert.equal(response.status, 200);
    assert.deepEqual(
      response.body.items.map((m) => m.subject),
      ['Order 3', 'Order 2', 'Order 1'],
    );
    const first = response.body.items[0];
    assert.deepEqual(first?.envelope, { from: 'shop@sender.example', to: ['jane@example.com'] });
    assert.match(first?.from ?? '', /shop@sender\.example/);
    assert.ok(!Number.isNaN(Date.parse(first?.receivedAt ?? '')));
    assert.ok((first?.size ?? 0) > 0);
    assert.equal(first?.raw, undefined);
    assert.equal(first?.html, undefined);
    assert.equal(first?.text, undefined);
    const limited = await t.api<{ items: Summary[] }>('GET', '/v1/sink/messages?limit=1');
    assert.deepEqual(
      limited.body.items.map((m) => m.subject),
      ['Order 3'],
    );
  });

  it('shows one captured message with its text, HTML and raw source', async () => {
    const list = await t.api<{ items: Summary[] }>('GET', '/v1/sink/messages');
    const id = list.body.items[1]?.id ?? '';
    const response = await t.api<Summary>('GET', `/v1/sink/messages/${id}`);
    assert.equal(response.status, 200);
    assert.equal(response.body.subject, 'Order 2');
    assert.equal(response.body.text?.trim(), 'Text 2');
    assert.equal(response.body.html, '<p>HTML 2</p>');
    assert.match(response.body.raw ?? '', /^Subject: Order 2\r$/m);
    const missing = await t.api('GET', '/v1/sink/messages/nope');
    assert.equal(missing.status, 404);
    assert.equal(errorOf(missing).code, 'ERR_NOT_FOUND');
  });

  it('forgets every captured message', async () => {
    assert.equal((await t.api('DELETE', '/v1/sink/messages')).status, 204);
    const response = await t.api<{ items: unknown[] }>('GET', '/v1/sink/messages');
    assert.deepEqual(response.body.items, []);
  });
});

describe('sink endpoints without a capture relay', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(async () => {
    await t.close();
  });

  it('answers 404 ERR_SINK_DISABLED', async () => {
    for (const [method, path] of [
      ['GET', '/v1/sink/messages'],
      ['GET', '/v1/sink/messages/x'],
      ['DELETE', '/v1/sink/messages'],
    ] as const) {
      const response = await t.api(method, path);
      assert.equal(response.status, 404, `${method} ${path}`);
      assert.equal(errorOf(response).code, 'ERR_SINK_DISABLED');
    }
  });
});
