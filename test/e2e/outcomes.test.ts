/**
 * What relays answer becomes each message's final state: a 451 is retried
 * and then delivered, a 550 bounces, a dropped connection is retried, and a
 * message that cannot be delivered before its max age expires.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startScriptedRelay, type ScriptedRelay } from '../helpers/smtp-farm.js';
import {
  finalView,
  relayAt,
  sendTestMessage,
  startTestSluice,
  type TestSluice,
} from '../helpers/sluice.js';

interface MessageView {
  status: string;
  attempts: number;
  lastError?: string;
  history: {
    attempt: number;
    outcome: string;
    code?: number;
    enhancedCode?: string;
    response: string;
  }[];
}

describe('delivery outcomes through the API', () => {
  let relay: ScriptedRelay;
  let t: TestSluice;
  before(async () => {
    relay = await startScriptedRelay({
      behaviour: (rcpt, attemptNo) => {
        if (rcpt.startsWith('later'))
          return attemptNo === 1 ? { reply: '451 4.3.0 try again later' } : 'accept';
        if (rcpt.startsWith('gone'))
          return { reply: '550 5.1.1 The email account that you tried to reach does not exist' };
        if (rcpt.startsWith('drop')) return attemptNo === 1 ? 'drop' : 'accept';
        if (rcpt.startsWith('never'))
          return { reply: '421 4.7.0 Try again later, closing connection.', at: 'data' };
        return 'accept';
      },
    });
    t = await startTestSluice({
      relays: [relayAt(relay.port)],
      delivery: { retry: { initialDelay: '50ms', maxDelay: '200ms', jitter: 0, maxAge: '5s' } },
    });
  });
  after(async () => {
    await t.close();
    await relay.close();
  });

  it('retries a 451 and then delivers, with both attempts in the history', async () => {
    const view = await finalView<MessageView>(t, await sendTestMessage(t, 'later@example.net'));
    assert.equal(view.status, 'delivered');
    assert.equal(view.attempts, 2);
    assert.deepEqual(
      view.history.map((h) => [h.outcome, h.code]),
      [
        ['deferred', 451],
        ['delivered', 250],
      ],
    );
    assert.equal(view.history[0]?.enhancedCode, '4.3.0');
    assert.equal(relay.attempts('later@example.net'), 2);
  });

  it('bounces on 550 without retrying', async () => {
    const view = await finalView<MessageView>(t, await sendTestMessage(t, 'gone@example.net'));
    assert.equal(view.status, 'bounced');
    assert.equal(view.attempts, 1);
    assert.equal(view.history[0]?.code, 550);
    assert.equal(view.history[0]?.enhancedCode, '5.1.1');
    assert.match(view.history[0]?.response ?? '', /does not exist/);
    assert.equal(relay.attempts('gone@example.net'), 1);
  });

  it('retries when the relay drops the connection after DATA', async () => {
    const view = await finalView<MessageView>(t, await sendTestMessage(t, 'drop@example.net'));
    assert.equal(view.status, 'delivered');
    assert.equal(view.history[0]?.outcome, 'deferred');
    assert.equal(
      relay.messages.filter((m) => m.envelope.to.includes('drop@example.net')).length,
      1,
    );
  });

  it('expires a message still deferred at its max age', async () => {
    const view = await finalView<MessageView>(
      t,
      await sendTestMessage(t, 'never@example.net'),
      20_000,
    );
    assert.equal(view.status, 'expired');
    assert.ok(view.history.length >= 2, 'it was tried more than once');
    assert.ok(view.history.every((h) => h.outcome === 'deferred' && h.code === 421));
  });
});
