/**
 * The same Sluice on PostgreSQL: API → outbox → worker → relay, with a
 * deferral and a bounce, reconciled; then a stop and a restart on the same
 * database. Runs in a database of its own, created and dropped here, on the
 * server of SLUICE_TEST_DATABASE_URL (skipped when it is not set).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createThrowawayDatabase, type ThrowawayDatabase } from '../helpers/postgres.js';
import { startScriptedRelay, type ScriptedRelay } from '../helpers/smtp-farm.js';
import { relayAt, startTestSluice, waitFor, type TestSluice } from '../helpers/sluice.js';

const baseUrl = process.env.SLUICE_TEST_DATABASE_URL;
const COUNT = 300;

describe(
  'Sluice on PostgreSQL end to end',
  { skip: baseUrl ? false : 'SLUICE_TEST_DATABASE_URL is not set' },
  () => {
    let databaseUrl = '';
    let throwaway: ThrowawayDatabase | undefined;
    let relay: ScriptedRelay;
    let t: TestSluice | undefined;

    before(async () => {
      throwaway = await createThrowawayDatabase(baseUrl ?? '', 'sluice_e2e');
      databaseUrl = throwaway.url;
      relay = await startScriptedRelay({
        behaviour: (rcpt, attemptNo) => {
          if (rcpt.startsWith('later'))
            return attemptNo === 1 ? { reply: '451 4.3.0 try again later' } : 'accept';
          if (rcpt.startsWith('gone')) return { reply: '550 5.1.1 no such user' };
          return 'accept';
        },
      });
    });
    after(async () => {
      await t?.close();
      await relay.close();
      await throwaway?.drop();
    });

    const config = () => ({
      database: { url: databaseUrl },
      relays: [relayAt(relay.port, 'relay', { maxConnections: 4 })],
      delivery: { retry: { initialDelay: '50ms', jitter: 0 } },
    });

    it('delivers, defers then delivers, bounces, and resumes after a restart', async () => {
      t = await startTestSluice(config());
      const ids: string[] = [];
      const send = async (to: string) => {
        const reply = await t!.api<{ id: string }>('POST', '/v1/messages', {
          from: 'app@example.com',
          to,
          subject: 'PG {{ n }}',
          text: 'n={{ n }}',
          variables: { n: to },
        });
        assert.equal(reply.status, 202);
        ids.push(reply.body.id);
      };
      await send('later@example.net');
      await send('gone@example.net');
      for (let i = 0; i < COUNT; i += 25) {
        await Promise.all(Array.from({ length: 25 }, (_, j) => send(`pg${i + j}@example.org`)));
      }
      const counts = await waitFor('the outbox to settle', async () => {
        const c = await t!.sluice.store.messages.countByStatus();
        return c.delivered === COUNT + 1 && c.bounced === 1 ? c : undefined;
      });
      assert.equal(counts.queued + counts.sending + counts.deferred, 0);
      const later = await t.api<{ history: { outcome: string }[] }>(
        'GET',
        `/v1/messages/${ids[0]}`,
      );
      assert.deepEqual(
        later.body.history.map((h) => h.outcome),
        ['deferred', 'delivered'],
      );
      assert.equal(relay.messages.length, COUNT + 1, 'each message once at the relay');
      assert.equal(new Set(relay.messages.map((m) => m.messageId)).size, COUNT + 1);

      // Stop, restart on the same database: the data is there, and new mail flows.
      await t.close();
      t = await startTestSluice(config());
      const again = await t.api<{ status: string }>('GET', `/v1/messages/${ids[1]}`);
      assert.equal(again.body.status, 'bounced');
      await send('after-restart@example.org');
      await waitFor('the message sent after the restart', () =>
        relay.messages.some((m) => m.envelope.to.includes('after-restart@example.org'))
          ? true
          : undefined,
      );
    });
  },
);
