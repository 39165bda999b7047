import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { errorOf, startTestApp, type TestApp } from '../test-support.js';

interface Accepted {
  id: string;
  status: string;
}

const base = {
  to: 'jane@example.com',
  from: { email: 'shop@sender.example', name: 'The Shop' },
  subject: 'Your order {{ order }}',
  text: 'Order {{ order }} has shipped.',
  variables: { order: 'A-1' },
};

describe('GET /v1/messages/:id', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(async () => {
    await t.close();
  });

  it('shows a queued message', async () => {
    const accepted = await t.api<Accepted>('POST', '/v1/messages', {
      ...base,
      replyTo: 'help@sender.example',
    });
    const response = await t.api<Record<string, unknown>>(
      'GET',
      `/v1/messages/${accepted.body.id}`,
    );
    assert.equal(response.status, 200);
    const stored = await t.store.messages.get(accepted.body.id);
    assert.deepEqual(response.body, {
      id: accepted.body.id,
      status: 'queued',
      stream: 'transactional',
      from: { email: 'shop@sender.example', name: 'The Shop' },
      to: { email: 'jane@example.com' },
      replyTo: { email: 'help@sender.example' },
      templateId: null,
      subject: base.subject,
      messageId: stored?.messageId,
      attempts: 0,
      nextAttemptAt: new Date(stored?.dueAt ?? 0).toISOString(),
      lastError: null,
      bounceCategory: null,
      createdAt: new Date(t.clock.now()).toISOString(),
      updatedAt: new Date(stored?.updatedAt ?? 0).toISOString(),
      expiresAt: new Date(stored?.expiresAt ?? 0).toISOString(),
      history: [],
    });
  });

  it('shows the delivery attempts', async () => {
    const accepted = await t.api<Accepted>('POST', '/v1/messages', base);
    const id = accepted.body.id;
    const now = t.clock.now();
    const claimed = await t.store.messages.claim({ limit: 100, leaseMs: 60_000, owner: 'w1', now });
    assert.ok(claimed.some((m) => m.id === id));
    const retryAt = now + 120_000;
    await t.store.messages.settle([
      {
        id,
        leaseOwner: 'w1',
        status: 'deferred',
        dueAt: retryAt,
        lastError: '421 4.7.0 Try again later',
        bounceCategory: 'transient',
        attempt: {
          messageId: id,
          attempt: 1,
          relay: 'mx1',
          startedAt: now,
          finishedAt: now + 250,
          outcome: 'deferred',
          code: 421,
          enhancedCode: '4.7.0',
          response: '421 4.7.0 Try again later',
          category: 'transient',
        },
        at: now + 250,
      },
    ]);

    const response = await t.api<{
      status: string;
      attempts: number;
      nextAttemptAt: string;
      lastError: string;
      bounceCategory: string;
      history: unknown[];
    }>('GET', `/v1/messages/${id}`);
    assert.equal(response.status, 200);
    assert.equal(response.body.status, 'deferred');
    assert.equal(response.body.attempts, 1);
    assert.equal(response.body.nextAttemptAt, new Date(retryAt).toISOString());
    assert.equal(response.body.lastError, '421 4.7.0 Try again later');
    assert.equal(response.body.bounceCategory, 'transient');
    assert.deepEqual(response.body.history, [
      {
        attempt: 1,
        relay: 'mx1',
        startedAt: new Date(now).toISOString(),
        finishedAt: new Date(now + 250).toISOString(),
        outcome: 'deferred',
        code: 421,
        enhancedCode: '4.7.0',
        response: '421 4.7.0 Try again later',
        category: 'transient',
      },
    ]);
  });

  it('answers 404 for an unknown id', async () => {
    const response = await t.api('GET', '/v1/messages/msg_nope');
    assert.equal(response.status, 404);
    assert.equal(errorOf(response).code, 'ERR_NOT_FOUND');
  });
});
