/**
 * A small benchmark of the store's hot paths, for docs/storage.md:
 *
 *   node dist/bench/store.js [database-url] [--messages N] [--clients C]
 *
 * 1. accept: C concurrent callers (as C HTTP clients would be), each
 *    accepting its next message (with an idempotency key) as soon as the
 *    previous one is committed, until N are stored. Run with group commit
 *    and with one transaction per accept: on SQLite the batch size forced
 *    to 1, on PostgreSQL one statement per accept on a pool of 10.
 * 2. claim + settle: drain a 100k-row outbox in claims of 1,000, settling
 *    each batch as delivered; reports the first claim (cold), the mean
 *    claim and settle of 1,000 rows, and rows/s overall.
 *
 * Defaults to a temp SQLite file. A PostgreSQL URL runs in a throwaway
 * schema that is dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { newId } from '../src/core/ids.js';
import type { NewMessage } from '../src/core/message.js';
import type { AcceptResult, IdempotencyClaim, Store } from '../src/core/ports/store.js';
import { openStore } from '../src/store/open-store.js';
import { acceptOne } from '../src/store/postgres/accept.js';
import { PgDatabase } from '../src/store/postgres/pg-database.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';

const T0 = 1_700_000_000_000;

function message(i: number): NewMessage {
  const id = newId('message');
  return {
    id,
    stream: i % 10 === 0 ? 'transactional' : 'bulk',
    from: { email: 'news@example.test', name: 'News' },
    to: { email: `r${i}@example.test` },
    templateId: 'tpl_welcome',
    variables: { name: `Reader ${i}`, plan: 'pro', items: [1, 2, 3] },
    headers: { 'X-Campaign': 'bench' },
    messageId: `${id}@example.test`,
    createdAt: T0 + i,
    expiresAt: T0 + 86_400_000,
  };
}

type Accept = (message: NewMessage, idempotency: IdempotencyClaim) => Promise<AcceptResult>;

async function acceptRate(accept: Accept, total: number, clients: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  const client = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      await accept(message(i), { scope: 'key_bench', key: `k${i}`, requestHash: 'h' });
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  return total / ((performance.now() - started) / 1000);
}

async function seed(store: Store, total: number): Promise<void> {
  const wave = 1000;
  for (let i = 0; i < total; i += wave) {
    const count = Math.min(wave, total - i);
    await Promise.all(
      Array.from({ length: count }, (_, k) => store.messages.accept(message(i + k))),
    );
  }
}

interface DrainFigures {
  firstClaimMs: number;
  claimMs: number;
  settleMs: number;
  rate: number;
}

/** Claims 1,000 at a time and settles each batch as delivered, until nothing is due. */
async function drain(store: Store, total: number): Promise<DrainFigures> {
  const now = T0 + total + 1;
  let done = 0;
  let batches = 0;
  let firstClaimMs = 0;
  let claimMs = 0;
  let settleMs = 0;
  const started = performance.now();
  for (;;) {
    const claimStart = performance.now();
    const claimed = await store.messages.claim({ limit: 1000, leaseMs: 60_000, owner: 'w1', now });
    const settleStart = performance.now();
    if (batches === 0) firstClaimMs = settleStart - claimStart;
    if (claimed.length === 0) break;
    claimMs += settleStart - claimStart;
    await store.messages.settle(
      claimed.map((m) => ({ id: m.id, leaseOwner: 'w1', status: 'delivered' as const, at: now })),
    );
    settleMs += performance.now() - settleStart;
    done += claimed.length;
    batches += 1;
  }
  if (done !== total) throw new Error(`drained ${done} of ${total}`);
  const seconds = (performance.now() - started) / 1000;
  return {
    firstClaimMs,
    claimMs: claimMs / batches,
    settleMs: settleMs / batches,
    rate: done / seconds,
  };
}

interface Target {
  label: string;
  open: (variant: 'group' | 'single') => Promise<Opened>;
  cleanup: () => Promise<void>;
}

interface Opened {
  store: Store;
  accept: Accept;
  close: () => Promise<void>;
}

function viaStore(store: Store): Opened {
  return {
    store,
    accept: (m, claim) => store.messages.accept(m, claim),
    close: () => store.close(),
  };
}

async function sqliteTarget(): Promise<Target> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-'));
  let n = 0;
  return {
    label: `sqlite (${dir})`,
    open: (variant) => {
      n += 1;
      const path = join(dir, `bench-${n}.db`);
      const store = openSqliteStore(path, variant === 'single' ? { acceptBatch: 1 } : {});
      return Promise.resolve(viaStore(store));
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

function postgresTarget(url: string): Target {
  const schemas: string[] = [];
  return {
    label: 'postgres',
    open: async (variant) => {
      const schema = `sluice_bench_${randomBytes(4).toString('hex')}`;
      schemas.push(schema);
      const store = await openStore(url, { schema, poolSize: 10 });
      if (variant === 'group') return viaStore(store);
      // One statement per accept, concurrently on the pool: what accept did before group commit.
      const { default: pg } = await import('pg');
      const pool = new pg.Pool({
        connectionString: url,
        max: 10,
        options: `-c search_path=${schema}`,
      });
      const db = new PgDatabase(pool);
      return {
        store,
        accept: (m, idempotency) => acceptOne(db, { message: m, idempotency }),
        close: async () => {
          await pool.end();
          await store.close();
        },
      };
    },
    cleanup: async () => {
      const { default: pg } = await import('pg');
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    },
  };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      messages: { type: 'string', default: '20000' },
      clients: { type: 'string', default: '200' },
      outbox: { type: 'string', default: '100000' },
    },
  });
  const total = Number(values.messages);
  const clients = Number(values.clients);
  const outbox = Number(values.outbox);
  const url = positionals[0];
  const target = url?.startsWith('postgres') ? postgresTarget(url) : await sqliteTarget();
  console.log(`# ${target.label}: ${total} accepts by ${clients} clients; outbox of ${outbox}`);
  try {
    for (const variant of ['group', 'single'] as const) {
      const opened = await target.open(variant);
      await opened.store.migrate();
      const rate = await acceptRate(opened.accept, total, clients);
      console.log(
        `accept (${variant === 'group' ? 'group commit' : 'one tx each'}): ${Math.round(rate)}/s`,
      );
      await opened.close();
    }
    const { store } = await target.open('group');
    await store.migrate();
    const seeded = performance.now();
    await seed(store, outbox);
    console.log(`seed ${outbox} rows: ${Math.round(performance.now() - seeded)} ms`);
    const figures = await drain(store, outbox);
    console.log(`first claim of 1000 from ${outbox}: ${figures.firstClaimMs.toFixed(1)} ms`);
    console.log(`claim of 1000, mean: ${figures.claimMs.toFixed(1)} ms`);
    console.log(`settle of 1000, mean: ${figures.settleMs.toFixed(1)} ms`);
    console.log(`claim+settle in batches of 1000: ${Math.round(figures.rate)} rows/s`);
    await store.close();
  } finally {
    await target.cleanup();
  }
}

await main();
