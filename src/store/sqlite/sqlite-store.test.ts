import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runStoreContract, type StoreHandle } from '../contract/store-contract.js';
import { openSqliteStore } from './sqlite-store.js';

async function makeStore(): Promise<StoreHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-sqlite-'));
  const store = openSqliteStore(join(dir, 'nested', 'sluice.db'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

runStoreContract('sqlite', makeStore);

describe('sqlite store', () => {
  it('runs in WAL mode with synchronous=FULL and foreign keys on', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-sqlite-'));
    const store = openSqliteStore(join(dir, 'sluice.db'));
    try {
      assert.deepEqual(store.settings(), {
        journalMode: 'wal',
        synchronous: 'full',
        foreignKeys: true,
      });
      assert.deepEqual(store.capabilities, {
        singleWriter: true,
        skipLocked: false,
        listenNotify: false,
      });
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
