/**
 * A farm of scripted relays behind one Sluice node: failover when a relay
 * stops mid-run and its return, every relay down then one back, the
 * per-domain-group connection limit at the relays, and weights. After each
 * run every message is in exactly one final state and what the relays
 * recorded reconciles with what Sluice counted.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  DomainConcurrency,
  startScriptedRelay,
  type ScriptedRelay,
  type ScriptedRelayOptions,
} from '../helpers/smtp-farm.js';
import { relayAt, startTestSluice, waitFor, type TestSluice } from '../helpers/sluice.js';

interface MessageView {
  status: string;
  attempts: number;
  messageId: string;
}

const FINAL = ['delivered', 'bounced', 'expired', 'failed', 'suppressed'];

const open: { relays: Set<ScriptedRelay>; sluices: TestSluice[] } = {
  relays: new Set(),
  sluices: [],
};
after(async () => {
  await Promise.all(open.sluices.map((t) => t.close()));
  await Promise.all([...open.relays].map((r) => r.close()));
});

async function relay(options: ScriptedRelayOptions = {}): Promise<ScriptedRelay> {
  const r = await startScriptedRelay(options);
  open.relays.add(r);
  return r;
}

async function stop(r: ScriptedRelay): Promise<void> {
  await r.close();
  open.relays.delete(r);
}

async function sluice(config: Record<string, unknown>): Promise<TestSluice> {
  const t = await startTestSluice({
    delivery: {
      pollInterval: '100ms',
      connectionTimeout: '1s',
      greetingTimeout: '1s',
      retry: { initialDelay: '50ms', maxDelay: '300ms', jitter: 0, maxAge: '60s' },
    },
    ...config,
  });
  open.sluices.push(t);
  return t;
}

async function sendMany(t: TestSluice, recipients: string[], extra = {}): Promise<string[]> {
  const ids: string[] = [];
  // A few at a time: the point is the relays, not the API.
  for (let i = 0; i < recipients.length; i += 20) {
    const replies = await Promise.all(
      recipients.slice(i, i + 20).map((to) =>
        t.api<{ id: string }>('POST', '/v1/messages', {
          from: 'app@sender.example',
          to,
          subject: 'Hello',
          text: 'Body',
          ...extra,
        }),
      ),
    );
    for (const reply of replies) {
      assert.equal(reply.status, 202);
      ids.push(reply.body.id);
    }
  }
  return ids;
}

async function finalStates(t: TestSluice, ids: string[], timeoutMs = 30_000) {
  return waitFor(
    `${ids.length} messages to reach a final state`,
    async () => {
      const views = await Promise.all(
        ids.map(async (id) => (await t.api<MessageView>('GET', `/v1/messages/${id}`)).body),
      );
      return views.every((v) => FINAL.includes(v.status)) ? views : undefined;
    },
    timeoutMs,
    100,
  );
}

/** Value of one sample of /metrics, 0 when absent. */
async function metric(t: TestSluice, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${t.sluice.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/**
 * Reconciles Sluice with the relays: per relay, what Sluice counted as
 * delivered there is at most what the relay recorded, and the surplus is
 * exactly the duplicates (a relay cut after it took a message but before
 * its 250 arrived: retried elsewhere, at least once).
 */
async function reconcile(
  t: TestSluice,
  views: MessageView[],
  recorded: Record<string, ScriptedRelay[]>,
): Promise<void> {
  const delivered = views.filter((v) => v.status === 'delivered');
  const seen = new Map<string, number>();
  let relayTotal = 0;
  let sluiceTotal = 0;
  for (const [name, instances] of Object.entries(recorded)) {
    const count = instances.reduce((n, r) => n + r.messages.length, 0);
    const counted = await metric(t, 'sluice_messages_delivered_total', `relay="${name}"`);
    assert.ok(counted <= count, `${name}: Sluice counted ${counted}, relay recorded ${count}`);
    relayTotal += count;
    sluiceTotal += counted;
    for (const r of instances) {
      for (const m of r.messages) {
        seen.set(m.messageId ?? '', (seen.get(m.messageId ?? '') ?? 0) + 1);
      }
    }
  }
  assert.equal(sluiceTotal, delivered.length);
  for (const v of delivered) assert.ok(seen.has(v.messageId), `${v.messageId} reached a relay`);
  const duplicates = [...seen.values()].reduce((n, c) => n + c - 1, 0);
  assert.equal(relayTotal - sluiceTotal, duplicates);
}

const recipients = (n: number, prefix: string, domain = (i: number) => `d${i % 7}.example`) =>
  Array.from({ length: n }, (_, i) => `${prefix}${i}@${domain(i)}`);

describe('relay farm', () => {
  it('one relay of three stopped mid-run: nothing lost, its share moves, it comes back', async () => {
    const slow = () => ({ slowMs: 5 });
    const [a, b, c] = [
      await relay({ behaviour: slow }),
      await relay({ behaviour: slow }),
      await relay({ behaviour: slow }),
    ];
    const t = await sluice({
      relays: [relayAt(a.port, 'a'), relayAt(b.port, 'b'), relayAt(c.port, 'c')],
      health: { failureThreshold: 2, cooldown: '200ms', maxCooldown: '800ms' },
    });

    const first = await sendMany(t, recipients(120, 'first'));
    await waitFor('relay b to take some traffic', () =>
      b.messages.length >= 10 ? true : undefined,
    );
    await stop(b);
    const during = await sendMany(t, recipients(90, 'during'));
    const duringViews = await finalStates(t, during);
    assert.ok(duringViews.every((v) => v.status === 'delivered'));
    // Sent while b was down: failed over at once, never deferred to a retry delay.
    assert.deepEqual(
      duringViews.filter((v) => v.attempts !== 1).map((v) => v.attempts),
      [],
    );
    assert.ok((await metric(t, 'sluice_relay_up', 'relay="b"')) === 0, 'b is reported down');

    const b2 = await relay({ behaviour: slow, port: b.port });
    const back: string[] = [];
    await waitFor(
      'relay b to take traffic again',
      async () => {
        back.push(...(await sendMany(t, recipients(6, `probe${back.length}-`))));
        return b2.messages.length > 0 ? true : undefined;
      },
      15_000,
      100,
    );
    const afterReturn = await sendMany(t, recipients(60, 'after'));
    const all = [...first, ...during, ...back, ...afterReturn];
    const views = await finalStates(t, all);
    assert.ok(
      views.every((v) => v.status === 'delivered'),
      'nothing lost',
    );
    assert.equal(await metric(t, 'sluice_relay_up', 'relay="b"'), 1);
    const bAfter = b2.messages.filter((m) =>
      m.envelope.to.some((to) => to.startsWith('after')),
    ).length;
    assert.ok(bAfter >= 10, `b took its share again (${bAfter} of 60)`);
    await reconcile(t, views, { a: [a], b: [b, b2], c: [c] });
  });

  it('every relay down: messages wait without a busy loop and drain when one returns', async () => {
    const [a, b] = [await relay(), await relay()];
    const ports = [a.port, b.port];
    const t = await sluice({
      relays: [relayAt(a.port, 'a'), relayAt(b.port, 'b')],
      health: { failureThreshold: 1, cooldown: '200ms', maxCooldown: '400ms' },
    });
    await stop(a);
    await stop(b);
    const downSince = Date.now();
    const ids = await sendMany(t, recipients(30, 'down'));
    await waitFor('the pool to be reported empty', async () =>
      (await metric(t, 'sluice_pool_available_relays', 'pool="default"')) === 0 ? true : undefined,
    );
    // Let it wait through a few cool-downs.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const waiting = await Promise.all(
      ids.map(async (id) => (await t.api<MessageView>('GET', `/v1/messages/${id}`)).body),
    );
    assert.ok(
      waiting.every((v) => !FINAL.includes(v.status)),
      'still queued',
    );
    const errors =
      (await metric(t, 'sluice_relay_connection_errors_total', 'relay="a"')) +
      (await metric(t, 'sluice_relay_connection_errors_total', 'relay="b"'));
    // One failure opens each circuit; then one probe per cool-down (200, 400,
    // 400 ms …): at most ~2 + elapsed / 200 ms a relay, however long a busy
    // machine made this wait (a busy loop would make hundreds).
    const elapsed = Date.now() - downSince;
    const bound = 2 * Math.ceil(2 + elapsed / 200);
    assert.ok(
      errors <= bound,
      `no busy loop: ${errors} connection attempts in ${elapsed} ms (at most ${bound})`,
    );

    const back = await relay({ port: ports[0] });
    const views = await finalStates(t, ids);
    assert.ok(views.every((v) => v.status === 'delivered'));
    assert.equal(back.messages.length, 30);
    await reconcile(t, views, { a: [back], b: [] });
  });

  it('holds the per-domain-group connection limit and the weights', async () => {
    const google = new Set(['gmail.com', 'googlemail.com']);
    const domains = new DomainConcurrency((d) => (google.has(d) ? 'google' : d));
    const behaviour = (rcpt: string) =>
      rcpt.endsWith('mail.com') ? { slowMs: 25 } : ('accept' as const);
    const rs = [
      await relay({ behaviour, domains }),
      await relay({ behaviour, domains }),
      await relay({ behaviour, domains }),
    ];
    const t = await sluice({
      relays: rs.map((r, i) => relayAt(r.port, `w${i}`, { weight: 3 - i, maxConnections: 4 })),
      pools: [{ name: 'default', relays: ['w0', 'w1', 'w2'], strategy: 'weighted' }],
      throttles: {
        maxWait: '2s',
        domainGroups: [
          { name: 'google', domains: ['gmail.com', 'googlemail.com'], maxConnections: 2 },
        ],
      },
    });
    const to = recipients(240, 'user', (i) =>
      i % 4 === 0 ? 'gmail.com' : i % 4 === 1 ? 'googlemail.com' : `d${i % 5}.example`,
    );
    const views = await finalStates(t, await sendMany(t, to));
    assert.ok(views.every((v) => v.status === 'delivered'));
    assert.ok(domains.peak('google') <= 2, `google peak ${domains.peak('google')}`);
    assert.equal(domains.peak('google'), 2, 'the limit was reached, so it was tested');
    const shares = rs.map((r) => r.messages.length / 240);
    [3 / 6, 2 / 6, 1 / 6].forEach((expected, i) =>
      assert.ok(
        Math.abs((shares[i] ?? 0) - expected) <= 0.05,
        `w${i}: ${shares[i]} vs ${expected}`,
      ),
    );
    await reconcile(t, views, { w0: rs.slice(0, 1), w1: rs.slice(1, 2), w2: rs.slice(2, 3) });
  });
});
