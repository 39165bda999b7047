/**
 * Two Sluice nodes on one PostgreSQL database, split by role: node A
 * (`api`) accepts, node B (`worker`) delivers. B polls only once a minute,
 * so a delivery within seconds can only come from the NOTIFY that A's
 * accept sends on commit. Runs in a database of its own on the server of
 * SLUICE_TEST_DATABASE_URL (skipped when it is not set).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createThrowawayDatabase, type ThrowawayDatabase } from '../helpers/postgres.js';
import { startScriptedRelay, type ScriptedRelay } from '../helpers/smtp-farm.js';
import { relayAt, startTestSluice, waitFor, type TestSluice } from '../helpers/sluice.js';

const baseUrl = process.env.SLUICE_TEST_DATABASE_URL;

describe(
  'node roles on PostgreSQL: an api node and a worker node woken by NOTIFY',
  { skip: baseUrl ? false : 'SLUICE_TEST_DATABASE_URL is not set' },
  () => {
    let databaseUrl = '';
    let throwaway: ThrowawayDatabase | undefined;
    let relay: ScriptedRelay;
    let apiNode: TestSluice | undefined;
    let workerNode: TestSluice | undefined;

    before(async () => {
      throwaway = await createThrowawayDatabase(baseUrl ?? '', 'sluice_roles');
      databaseUrl = throwaway.url;
      relay = await startScriptedRelay();
    });
    after(async () => {
      await apiNode?.close();
      await workerNode?.close();
      await relay.close();
      await throwaway?.drop();
    });

    const config = (role: 'api' | 'worker') => ({
      node: { role },
      database: { url: databaseUrl },
      relays: [relayAt(relay.port)],
      delivery: { pollInterval: '60s' },
    });

    it('a message POSTed to the api node is delivered by the worker node within seconds', async () => {
      apiNode = await startTestSluice(config('api'));
      workerNode = await startTestSluice(config('worker'));
      // The worker node serves only health, readiness and metrics.
      const refused = await workerNode.api('POST', '/v1/messages', {});
      assert.equal(refused.status, 404);
      assert.equal((await fetch(`${workerNode.sluice.url}/readyz`)).status, 200);
      // Its worker has claimed once at start and now sleeps for a minute;
      // wait until its LISTEN connection is up before sending.
      await waitFor('the worker node to listen', async () => {
        const metrics = await (await fetch(`${workerNode!.sluice.url}/metrics`)).text();
        return /sluice_wakeups_total\{source="notify"\} [1-9]/.test(metrics) ? true : undefined;
      });

      const reply = await apiNode.api<{ id: string }>('POST', '/v1/messages', {
        from: 'app@example.com',
        to: 'someone@example.org',
        subject: 'Woken',
        text: 'by NOTIFY',
      });
      assert.equal(reply.status, 202);
      await waitFor(
        'the worker node to deliver the message',
        () => (relay.messages.length === 1 ? true : undefined),
        10_000,
      );
      const status = await waitFor('the message to be delivered', async () => {
        const message = await apiNode!.api<{ status: string }>(
          'GET',
          `/v1/messages/${reply.body.id}`,
        );
        return message.body.status === 'delivered' ? message.body.status : undefined;
      });
      assert.equal(status, 'delivered');
      assert.deepEqual(relay.messages[0]?.envelope.to, ['someone@example.org']);
    });
  },
);
