/**
 * The README's promise: with no configuration Sluice delivers to its
 * built-in capture relay, and a user sees the message there and its state.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestSluice, waitFor, type TestSluice } from '../helpers/sluice.js';

interface Captured {
  id: string;
  subject: string;
  envelope: { from: string; to: string[] };
  messageId: string;
}

describe('quickstart: no relay configured', () => {
  let t: TestSluice;
  before(async () => {
    t = await startTestSluice({ sink: { port: 0 } });
  });
  after(() => t.close());

  it('delivers to the capture relay and shows the message there and its history', async () => {
    const sent = await t.api<{ id: string }>('POST', '/v1/messages', {
      from: { email: 'hello@example.com', name: 'Sluice' },
      to: 'you@example.com',
      subject: 'Hi {{ name }}',
      text: 'It works, {{ name }}.',
      variables: { name: 'Ada' },
    });
    assert.equal(sent.status, 202);
    const message = await waitFor('the message to be delivered', async () => {
      const reply = await t.api<{
        status: string;
        messageId: string;
        history: { outcome: string; relay: string }[];
      }>('GET', `/v1/messages/${sent.body.id}`);
      return reply.body.status === 'delivered' ? reply.body : undefined;
    });
    assert.equal(message.history.length, 1);
    assert.equal(message.history[0]?.outcome, 'delivered');
    assert.equal(message.history[0]?.relay, 'sink');

    const captured = await t.api<{ items: Captured[] }>('GET', '/v1/sink/messages');
    assert.equal(captured.status, 200);
    const [first] = captured.body.items;
    assert.equal(first?.subject, 'Hi Ada');
    assert.deepEqual(first?.envelope.to, ['you@example.com']);
    assert.equal(first?.messageId.replace(/^<|>$/g, ''), message.messageId.replace(/^<|>$/g, ''));
  });

  it('serves health, readiness, metrics and the API docs', async () => {
    const base = t.sluice.url;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /sluice_messages_accepted_total\{stream="transactional"\} 1/);
    assert.match(metrics, /sluice_queue_depth\{status="delivered"\} 1/);
    const openapi = (await (await fetch(`${base}/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    assert.ok(openapi.paths['/v1/messages'], 'the OpenAPI document lists /v1/messages');
    const docs = await fetch(`${base}/docs`, { redirect: 'follow' });
    assert.equal(docs.status, 200);
    assert.match(docs.headers.get('content-type') ?? '', /text\/html/);
  });
});
