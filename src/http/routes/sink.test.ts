import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CapturedMessageLike } from '../app.js';
import { errorOf, startTestApp, type TestApp } from '../test-support.js';

/** A capture mailbox holding what a test puts in it. */
function mailbox(initial: CapturedMessageLike[]) {
  let messages = [...initial];
  return {
    messages: () => messages,
    get: (id: string) => messages.find((m) => m.id === id),
    clear: () => {
      messages = [];
    },
  };
}

function captured(id: string, receivedAt: number): CapturedMessageLike {
  return {
    id,
    receivedAt,
    envelope: { from: 'shop@sender.example', to: ['jane@example.com'] },
    size: 321,
    messageId: `<${id}@sender.example>`,
    subject: `Subject ${id}`,
    from: 'The Shop <shop@sender.example>',
    to: 'jane@example.com',
    text: 'Hello',
    html: '<p>Hello</p>',
    raw: Buffer.from(`Subject: Subject ${id}\r\n\r\nHello\r\n`),
  };
}

describe('sink endpoints', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({
      sink: mailbox([captured('a', 1000), captured('c', 3000), captured('b', 2000)]),
    });
  });
  after(async () => {
    await t.close();
  });

  it('lists captured messages newest first, without bodies', async () => {
    const response = await t.api<{ items: Array<Record<string, unknown>> }>(
      'GET',
      '/v1/sink/messages',
    );
    assert.equal(response.status, 200);
    assert.deepEqual(
      response.body.items.map((m) => m.id),
      ['c', 'b', 'a'],
    );
    const first = response.body.items[0];
    assert.equal(first?.receivedAt, new Date(3000).toISOString());
    assert.equal(first?.subject, 'Subject c');
    assert.equal(first?.raw, undefined);
    assert.equal(first?.html, undefined);
    const limited = await t.api<{ items: unknown[] }>('GET', '/v1/sink/messages?limit=1');
    assert.equal(limited.body.items.length, 1);
  });

  it('shows one captured message with its text, HTML and raw source', async () => {
    const response = await t.api<Record<string, unknown>>('GET', '/v1/sink/messages/b');
    assert.equal(response.status, 200);
    assert.equal(response.body.text, 'Hello');
    assert.equal(response.body.html, '<p>Hello</p>');
    assert.equal(response.body.raw, 'Subject: Subject b\r\n\r\nHello\r\n');
    assert.deepEqual(response.body.envelope, {
      from: 'shop@sender.example',
      to: ['jane@example.com'],
    });
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
