/**
 * The store contract: one suite, run once per dialect
 * (src/store/sqlite/sqlite-store.test.ts, src/store/postgres/postgres-store.test.ts).
 * Every method of the Store port is exercised here; a dialect passes when it
 * behaves the same as the other, on a real database.
 *
 * Each test gets its own empty database from `makeStore` (a temp file, a
 * fresh PostgreSQL schema) and migrates it; time is passed in (`now`, `at`)
 * so leases and retries are tested without sleeping.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { acceptContract } from './accept-contract.js';
import { campaignsContract } from './campaigns-contract.js';
import { contactsBatchContract } from './contacts-batch-contract.js';
import { contactsContract } from './contacts-contract.js';
import { dashboardContract } from './dashboard-contract.js';
import { engagementContract } from './engagement-contract.js';
import { eventsContract } from './events-contract.js';
import { journeysContract } from './journeys-contract.js';
import { maintenanceContract } from './maintenance-contract.js';
import { newMessage, rejectsWith, type MakeStore } from './fixtures.js';
import { outboxContract } from './outbox-contract.js';
import { segmentEngagementContract } from './segment-engagement-contract.js';
import { segmentsContract } from './segments-contract.js';
import { suppressionsContract } from './suppressions-contract.js';
import { templatesContract } from './templates-contract.js';
import { webhooksContract } from './webhooks-contract.js';

export type { MakeStore, StoreHandle } from './fixtures.js';

export function runStoreContract(dialectName: string, makeStore: MakeStore): void {
  describe(`store contract: ${dialectName}`, () => {
    describe('store', () => {
      it('migrates an empty database, then has nothing left to apply', async () => {
        const { store, cleanup } = await makeStore();
        try {
          const applied = await store.migrate();
          assert.ok(applied.length > 0);
          assert.ok(applied.every((id) => /^\d{4}_[a-z0-9_]+$/.test(id)));
          assert.deepEqual(await store.migrate(), []);
          await store.ping();
          assert.equal(await store.apiKeys.countActive(), 0, 'the tables are there');
        } finally {
          await cleanup();
        }
      });

      it('commits accepts already submitted when closed, then refuses with ERR_STORE_UNAVAILABLE', async () => {
        const handle = await makeStore();
        try {
          await handle.store.migrate();
          const pending = [newMessage(), newMessage()].map((m) => handle.store.messages.accept(m));
          const closing = handle.store.close();
          const results = await Promise.all(pending);
          await closing;
          assert.deepEqual(
            results.map((r) => r.kind),
            ['created', 'created'],
          );
          await rejectsWith(handle.store.messages.accept(newMessage()), 'ERR_STORE_UNAVAILABLE');
        } finally {
          await handle.cleanup();
        }
      });

      it('declares consistent capabilities', async () => {
        const { store, cleanup } = await makeStore();
        try {
          const { singleWriter, skipLocked, listenNotify } = store.capabilities;
          assert.equal(store.dialect, dialectName);
          assert.ok(!(singleWriter && skipLocked), 'a single writer has no one to skip');
          assert.ok(!(singleWriter && listenNotify), 'a single writer has no one to wake');
        } finally {
          await cleanup();
        }
      });
    });

    acceptContract(makeStore);
    outboxContract(makeStore);
    contactsContract(makeStore);
    contactsBatchContract(makeStore);
    templatesContract(makeStore);
    suppressionsContract(makeStore);
    eventsContract(makeStore);
    segmentsContract(makeStore);
    engagementContract(makeStore);
    journeysContract(makeStore);
    webhooksContract(makeStore);
    campaignsContract(makeStore);
    segmentEngagementContract(makeStore);
    maintenanceContract(makeStore);
    dashboardContract(makeStore);
  });
}
