/**
 * The delivery engine against a farm of three real SMTP relays, each scripted
 * per recipient with what large receivers answer: accept, 451, 452 4.2.2
 * (mailbox full), 421 4.7.0 (rate limited), 550 5.1.1, 550 5.7.1, slow, and
 * a connection dropped after DATA. Then reconcile: every message is in
 * exactly the final state its script implies, and what the relays recorded
 * matches what Sluice counted, relay by relay.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startScriptedRelay, type Behaviour, type ScriptedRelay } from '../helpers/smtp-farm.js';
import { relayAt, startTestSluice, waitFor, type TestSluice } from '../helpers/sluice.js';

/** Recipient kind → (what the relays do on attempt n, the final state Sluice must reach). */
const KINDS: Record<
  string,
  { script: (attempt: number) => Behaviour; final: string; category?: string }
> = {
  ok: { script: () => 'accept', final: 'delivered' },
  later: {
    script: (n) => (n === 1 ? { reply: '451 4.3.0 Temporary local problem, try later' } : 'accept'),
    final: 'delivered',
  },
  throttled: {
    script: (n) =>
      n === 1 ? { reply: '421 4.7.0 Try again later, closing connection.', at: 'data' } : 'accept',
    final: 'delivered',
  },
  full: {
    script: () => ({ reply: '452 4.2.2 The email account that you tried to reach is over quota.' }),
    final: 'expired',
  },
  gone: {
    script: () => ({
      reply: '550 5.1.1 The email account that you tried to reach does not exist.',
    }),
    final: 'bounced',
    category: 'bad-mailbox',
  },
  blocked: {
    script: () => ({ reply: '550 5.7.1 Message rejected due to content restrictions', at: 'data' }),
    final: 'bounced',
  },
  slow: { script: () => ({ slowMs: 150 }), final: 'delivered' },
  drop: { script: (n) => (n === 1 ? 'drop' : 'accept'), final: 'delivered' },
};
const PER_KIND = 40;

interface View {
  status: string;
  bounceCategory?: string;
  history: { relay?: string; outcome: string }[];
}

describe('a farm of three scripted relays', () => {
  const relays: ScriptedRelay[] = [];
  /** Attempts per recipient across the whole farm (a retry may go to another relay). */
  const attempts = new Map<string, number>();
  let t: TestSluice;

  before(async () => {
    const behaviour = (rcpt: string): Behaviour => {
      const n = (attempts.get(rcpt) ?? 0) + 1;
      attempts.set(rcpt, n);
      const kind = KINDS[rcpt.split('-')[0] ?? ''];
      return kind ? kind.script(n) : 'accept';
    };
    for (let i = 0; i < 3; i++)
      relays.push(await startScriptedRelay({ behaviour: (rcpt) => behaviour(rcpt) }));
    t = await startTestSluice({
      relays: relays.map((r, i) => relayAt(r.port, `r${i}`, { maxConnections: 4 })),
      pools: [{ name: 'farm', relays: ['r0', 'r1', 'r2'], strategy: 'round-robin' }],
      delivery: {
        pollInterval: '100ms',
        retry: { initialDelay: '100ms', maxDelay: '400ms', jitter: 0.1, maxAge: '4s' },
      },
    });
  });
  after(async () => {
    await t.close();
    await Promise.all(relays.map((r) => r.close()));
  });

  it('ends every message in the state its script implies, and the counts reconcile', async () => {
    const sent: { id: string; rcpt: string; kind: string }[] = [];
    for (const kind of Object.keys(KINDS)) {
      await Promise.all(
        Array.from({ length: PER_KIND }, async (_, i) => {
          const rcpt = `${kind}-${i}@example.net`;
          const reply = await t.api<{ id: string }>('POST', '/v1/messages', {
            from: 'app@example.com',
            to: rcpt,
            subject: 'Farm {{ i }}',
            text: 'i={{ i }}',
            variables: { i },
          });
          assert.equal(reply.status, 202);
          sent.push({ id: reply.body.id, rcpt, kind });
        }),
      );
    }

    const total = sent.length;
    const counts = await waitFor(
      'every message to reach a final state',
      async () => {
        const c = await t.sluice.store.messages.countByStatus();
        return c.delivered + c.bounced + c.expired + c.failed + c.suppressed === total
          ? c
          : undefined;
      },
      40_000,
      100,
    );
    const expected = (state: string) =>
      Object.values(KINDS).filter((k) => k.final === state).length * PER_KIND;
    assert.equal(counts.delivered, expected('delivered'));
    assert.equal(counts.bounced, expected('bounced'));
    assert.equal(counts.expired, expected('expired'));
    assert.equal(counts.failed + counts.suppressed, 0);

    const deliveredBy = new Map<string, number>();
    for (const message of sent) {
      const view = (await t.api<View>('GET', `/v1/messages/${message.id}`)).body;
      const kind = KINDS[message.kind];
      assert.equal(view.status, kind?.final, `${message.rcpt}: ${view.status}`);
      if (kind?.category) assert.equal(view.bounceCategory, kind.category, message.rcpt);
      const last = view.history.at(-1);
      if (view.status === 'delivered' && last?.relay) {
        deliveredBy.set(last.relay, (deliveredBy.get(last.relay) ?? 0) + 1);
      }
    }

    // What each relay recorded is exactly what Sluice says it delivered there.
    relays.forEach((relay, i) => {
      assert.equal(relay.messages.length, deliveredBy.get(`r${i}`) ?? 0, `relay r${i} reconciles`);
    });
    const recorded = relays.flatMap((r) => r.messages);
    assert.equal(recorded.length, expected('delivered'), 'no message delivered twice');
    assert.equal(new Set(recorded.map((m) => m.envelope.to[0])).size, expected('delivered'));
    assert.ok(
      relays.every((r) => r.messages.length > 0),
      'every relay of the round-robin pool took traffic',
    );
    for (const r of relays)
      assert.ok(r.peakConnections <= 4, `peak connections ${r.peakConnections} <= 4`);
  });
});
