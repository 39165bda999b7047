/**
 * The executor on a real SQLite store: a run executed again from the same
 * saved state (a node died after queuing the message and before saving the
 * run) queues nothing twice and counts once against the caps.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../core/clock.js';
import { EventBus, type SluiceEventMap } from '../core/events.js';
import { newId } from '../core/ids.js';
import type { JourneysConfig } from '../config/config.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import { JourneyExecutor } from './journey-executor.js';

const CONFIG: JourneysConfig = {
  enabled: true,
  pollIntervalMs: 1000,
  leaseMs: 60_000,
  claimBatch: 100,
  backstopDelayMs: 10_000,
  backstopIntervalMs: 5000,
  refreshIntervalMs: 5000,
  frequencyCaps: [{ messages: 5, perMs: 86_400_000 }],
  defaultTimeZone: 'UTC',
};

describe('journey executor', () => {
  it('re-executing a run from the same state sends its message once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-journey-'));
    const store = openSqliteStore(join(dir, 'sluice.db'));
    try {
      await store.migrate();
      const clock = new ManualClock();
      const events = new EventBus<SluiceEventMap>();
      const sends: string[] = [];
      events.on('journey:send', (e) => sends.push(e.outcome));
      let woken = 0;
      const executor = new JourneyExecutor({
        store,
        clock,
        events,
        journeys: CONFIG,
        delivery: { maxAgeMs: 86_400_000 },
        owner: 'node-a',
        onSent: () => (woken += 1),
      });
      const now = clock.now();
      const template = await store.templates.create({
        id: newId('template'),
        name: 'hi',
        subject: 'Hi',
        text: 'Hi',
        createdAt: now,
        updatedAt: now,
      });
      const { contact } = await store.contacts.upsert({
        id: newId('contact'),
        email: 'ada@example.test',
        at: now,
      });
      const journey = await store.journeys.create({
        id: newId('journey'),
        name: 'j',
        status: 'active',
        version: 1,
        definition: {
          entry: { event: 'signup' },
          from: 'hello@example.test',
          steps: [
            { type: 'send', template: template.id },
            { type: 'wait', duration: '1d' },
          ],
        },
        createdAt: now,
        updatedAt: now,
      });
      const entered = await store.journeys.enter({
        id: 'run_1',
        journeyId: journey.id,
        version: 1,
        contactId: contact.id,
        triggerKey: 'evt:1',
        trigger: { eventId: 'evt_1', name: 'signup', properties: {}, receivedAt: now - 3 },
        at: now,
        cooldownMs: Number.POSITIVE_INFINITY,
        owner: 'node-a',
        leaseUntil: now + 60_000,
      });
      assert.equal(entered.kind, 'entered');
      if (entered.kind !== 'entered') return;
      await executor.execute(entered.run, { eventReceivedAt: now - 3 });
      // The same state again, as after a crash before the save.
      await executor.execute(entered.run, { eventReceivedAt: now - 3 });
      assert.deepEqual(sends, ['sent', 'replayed']);
      assert.equal(woken, 1, 'the worker is woken for the one new message');
      const counts = await store.messages.countByStatus();
      assert.equal(counts.queued, 1);
      const saved = await store.journeys.getRun('run_1');
      assert.equal(saved?.pc, 2);
      assert.equal(saved?.nextAt, now + 86_400_000);
      assert.equal(saved?.leaseOwner, undefined);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
