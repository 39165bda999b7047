/**
 * Bounce classification and the suppression list, end to end: a 550 5.1.1
 * bounces as bad-mailbox and suppresses the address, so the next message to
 * it ends `suppressed` without reaching the relay; a 550 5.7.1 bounces as a
 * block and suppresses nothing; removing the suppression lets mail through.
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
  lastError: string | null;
  bounceCategory: string | null;
  history: { outcome: string; code: number | null; category: string | null }[];
}

const GONE = 'gone@example.net';
const BLOCKED = 'blocked@example.net';

describe('bounces and the suppression list through the API', () => {
  let relay: ScriptedRelay;
  let t: TestSluice;
  before(async () => {
    relay = await startScriptedRelay({
      behaviour: (rcpt, attemptNo) => {
        // The mailbox is gone the first time; later it exists again (re-created).
        if (rcpt === GONE && attemptNo === 1)
          return { reply: '550 5.1.1 The email account that you tried to reach does not exist' };
        if (rcpt === BLOCKED) return { reply: '550 5.7.1 Message rejected as spam', at: 'data' };
        return 'accept';
      },
    });
    t = await startTestSluice({ relays: [relayAt(relay.port)] });
  });
  after(async () => {
    await t.close();
    await relay.close();
  });

  it('bounces a 550 5.1.1 as bad-mailbox and suppresses the address', async () => {
    const id = await sendTestMessage(t, GONE);
    const view = await finalView<MessageView>(t, id);
    assert.equal(view.status, 'bounced');
    assert.equal(view.bounceCategory, 'bad-mailbox');
    assert.deepEqual(
      view.history.map((h) => [h.outcome, h.code, h.category]),
      [['bounced', 550, 'bad-mailbox']],
    );
    const entry = await t.api<{ category: string; sourceMessageId: string; reason: string }>(
      'GET',
      `/v1/suppressions/${GONE}`,
    );
    assert.equal(entry.status, 200);
    assert.equal(entry.body.category, 'bad-mailbox');
    assert.equal(entry.body.sourceMessageId, id);
    assert.match(entry.body.reason, /^550 5\.1\.1/);
  });

  it('ends the next message to it as suppressed, without the relay seeing it', async () => {
    const view = await finalView<MessageView>(t, await sendTestMessage(t, 'Gone@Example.net'));
    assert.equal(view.status, 'suppressed');
    assert.equal(view.attempts, 0);
    assert.deepEqual(view.history, []);
    assert.match(view.lastError ?? '', /suppression list/);
    assert.equal(relay.attempts(GONE), 1, 'the relay saw only the first message');
  });

  it('bounces a 550 5.7.1 as a block and does not suppress', async () => {
    const first = await finalView<MessageView>(t, await sendTestMessage(t, BLOCKED));
    assert.equal(first.status, 'bounced');
    assert.equal(first.bounceCategory, 'spam-block');
    assert.equal((await t.api('GET', `/v1/suppressions/${BLOCKED}`)).status, 404);
    const second = await finalView<MessageView>(t, await sendTestMessage(t, BLOCKED));
    assert.equal(second.status, 'bounced', 'tried again, not suppressed');
    assert.equal(relay.attempts(BLOCKED), 2);
  });

  it('lets mail through again once the suppression is removed', async () => {
    assert.equal((await t.api('DELETE', `/v1/suppressions/${GONE}`)).status, 204);
    const view = await finalView<MessageView>(t, await sendTestMessage(t, GONE));
    assert.equal(view.status, 'delivered');
    assert.equal(view.bounceCategory, null);
    assert.equal(relay.attempts(GONE), 2);
    assert.equal(relay.messages.filter((m) => m.envelope.to.includes(GONE)).length, 1);
  });

  it('counts bounces by category and suppressed messages in /metrics', async () => {
    const metrics = await fetch(`${t.sluice.url}/metrics`).then((r) => r.text());
    assert.match(
      metrics,
      /sluice_messages_bounced_total\{relay="relay",category="bad-mailbox"\} 1\n/,
    );
    assert.match(
      metrics,
      /sluice_messages_bounced_total\{relay="relay",category="spam-block"\} 2\n/,
    );
    assert.match(metrics, /sluice_messages_suppressed_total 1\n/);
  });
});
