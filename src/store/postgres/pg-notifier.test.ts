/**
 * The PostgreSQL wake-ups on a real server, in a database of their own
 * (created and dropped here) on the server of SLUICE_TEST_DATABASE_URL:
 * a NOTIFY reaches a listener on another connection on commit and not
 * before, and the listener comes back after its connection is killed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { WakeupState } from '../../core/ports/wakeups.js';
import { openPostgresStore, type PostgresStore } from './postgres-store.js';

const baseUrl = process.env.SLUICE_TEST_DATABASE_URL;

async function admin(connectionString: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Resolves on the next call of the returned trigger; rejects after `ms`. */
function nextEvent(ms: number): { trigger: () => void; promise: Promise<void> } {
  let trigger = (): void => undefined;
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no event within ${ms} ms`)), ms);
    trigger = () => {
      clearTimeout(timer);
      resolve();
    };
  });
  return { trigger, promise };
}

describe(
  'PostgreSQL wake-ups (LISTEN/NOTIFY)',
  { skip: baseUrl ? false : 'SLUICE_TEST_DATABASE_URL is not set' },
  () => {
    const database = `sluice_notify_${process.pid}_${Date.now()}`;
    let databaseUrl = '';
    let store: PostgresStore;
    let wakes = 0;
    let waiting: (() => void) | undefined;
    const states: WakeupState['state'][] = [];
    let unlisten: (() => Promise<void>) | undefined;

    /** Waits for the next wake (bounded). */
    const nextWake = (ms = 5_000): Promise<void> => {
      const event = nextEvent(ms);
      waiting = event.trigger;
      return event.promise;
    };

    before(async () => {
      await admin(baseUrl ?? '', `CREATE DATABASE ${database}`);
      const url = new URL(baseUrl ?? '');
      url.pathname = `/${database}`;
      databaseUrl = url.toString();
      store = openPostgresStore(databaseUrl, { poolSize: 2 });
      const first = nextWake();
      unlisten = store.wakeups.listen('outbox', {
        onWake: () => {
          wakes++;
          waiting?.();
        },
        onState: (change) => states.push(change.state),
      });
      // Listening starts with one wake (catch-up for what it may have missed).
      await first;
    });
    after(async () => {
      await unlisten?.();
      await store.close();
      await admin(baseUrl ?? '', `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    });

    it('wakes a listener on another connection when the transaction commits, not before', async () => {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      try {
        const before = wakes;
        await client.query('BEGIN');
        await client.query("SELECT pg_notify('sluice_outbox', '')");
        await client.query("SELECT pg_notify('sluice_outbox', '')");
        // The listener's connection is idle and would read a notification at
        // once; a round trip on another connection gives it the time to.
        await store.ping();
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(wakes, before, 'no wake before COMMIT');
        const woken = nextWake();
        await client.query('COMMIT');
        await woken;
        await store.ping();
        // PostgreSQL folds identical notifications of one transaction into one.
        assert.equal(wakes, before + 1);
      } finally {
        await client.end();
      }
    });

    it('notify() through the store wakes the listener', async () => {
      const woken = nextWake();
      await store.wakeups.notify('outbox');
      await woken;
    });

    it('reconnects after its LISTEN connection is terminated, and wakes on reconnecting', async () => {
      const reconnected = nextWake(10_000);
      await admin(
        databaseUrl,
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = 'sluice-listen' AND datname = current_database()`,
      );
      await reconnected;
      assert.deepEqual(states.slice(-3), ['listening', 'lost', 'listening']);
      const woken = nextWake();
      await store.wakeups.notify('outbox');
      await woken;
    });
  },
);
