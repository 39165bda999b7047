/**
 * The SQLite CPU a campaign message costs the store, stage by stage:
 *
 *   node dist/bench/store-campaign.js [--contacts N] [--drop index,index] [--exec SQL]
 *
 * N contacts, one campaign sending, then the campaign's store work as the
 * product interleaves it: the fan-out's acceptBatch of 1,000 messages, a
 * claim of up to 500 (joined with the contacts), settlements of 200 as
 * delivered with an attempt row each; until every message is settled.
 * Prints the CPU a message for each stage (process.cpuUsage, user +
 * system, the whole process: the store's statements run on the main
 * thread). `--drop` removes indexes first, to price each one
 * (docs/benchmarks.md, "SQLite per message"); `--exec` then runs SQL of
 * one's own (an index to try). Not part of `npm run bench`:
 * a tool for before/after comparisons of the store's statements.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import type { ClaimedMessage, NewMessage } from '../src/core/message.js';
import type { Settlement } from '../src/core/outcome.js';
import { openSqliteStore, type SqliteStore } from '../src/store/sqlite/sqlite-store.js';

const T0 = 1_764_500_000_000;
const CAMPAIGN = 'cmp_bench';

async function prepare(
  path: string,
  contacts: number,
  drop: string[],
  exec: string,
): Promise<void> {
  const store = openSqliteStore(path);
  await store.migrate();
  await store.close();
  const db = new Database(path);
  db.prepare(
    `INSERT INTO campaigns (id, name, status, definition, progress, created_at, updated_at)
     VALUES (?, 'bench', 'sending', '{}', '{}', ?, ?)`,
  ).run(CAMPAIGN, T0, T0);
  const insert = db.prepare(
    'INSERT INTO contacts (id, email, attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
  );
  db.transaction(() => {
    for (let i = 0; i < contacts; i++) {
      const attributes = JSON.stringify({ firstName: `Reader${i}`, plan: 'pro' });
      insert.run(`con_${String(i).padStart(8, '0')}`, `r${i}@example.test`, attributes, T0, T0);
    }
  })();
  for (const index of drop) db.exec(`DROP INDEX ${index}`);
  if (exec) db.exec(exec);
  db.close();
}

function messages(from: number, count: number, now: number): NewMessage[] {
  return Array.from({ length: count }, (_, k) => {
    const i = from + k;
    const id = `msg_${now.toString(16)}${String(i).padStart(10, '0')}`;
    return {
      id,
      stream: 'bulk',
      from: { email: 'news@example.test', name: 'News' },
      to: { email: `r${i}@example.test` },
      templateId: 'tpl_bench',
      variables: {},
      headers: { 'X-Sluice-Campaign': CAMPAIGN },
      messageId: `${id}@example.test`,
      createdAt: now,
      expiresAt: now + 86_400_000,
      campaignId: CAMPAIGN,
      variant: i % 2,
    };
  });
}

function delivered(message: ClaimedMessage, now: number): Settlement {
  return {
    id: message.id,
    leaseOwner: 'bench',
    status: 'delivered',
    at: now,
    attempt: {
      messageId: message.id,
      attempt: 1,
      relay: 'relay-1',
      startedAt: now,
      finishedAt: now,
      outcome: 'delivered',
      code: 250,
      enhancedCode: '2.0.0',
      response: '250 2.0.0 Ok: queued as 4F2A1',
    },
  };
}

const cpuMicros = (): number => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

interface Spent {
  insert: number;
  claim: number;
  settle: number;
}

async function run(store: SqliteStore, total: number): Promise<Spent> {
  const spent: Spent = { insert: 0, claim: 0, settle: 0 };
  const timed = async <R>(stage: keyof typeof spent, work: () => Promise<R>): Promise<R> => {
    const start = cpuMicros();
    const result = await work();
    spent[stage] += cpuMicros() - start;
    return result;
  };
  const pending: ClaimedMessage[] = [];
  let written = 0;
  let settled = 0;
  for (let now = T0 + 1; settled < total; now++) {
    if (written < total) {
      const batch = messages(written, Math.min(1000, total - written), now);
      await timed('insert', () => store.messages.acceptBatch(batch, { campaignId: CAMPAIGN }));
      written += batch.length;
    }
    const request = { limit: 500, leaseMs: 60_000, owner: 'bench', now };
    pending.push(...(await timed('claim', () => store.messages.claim(request))));
    while (pending.length >= 200 || (written === total && pending.length > 0)) {
      const batch = pending.splice(0, 200).map((m) => delivered(m, now));
      const applied = await timed('settle', () => store.messages.settle(batch));
      if (applied.length !== batch.length) throw new Error('a settlement did not apply');
      settled += batch.length;
    }
  }
  const counts = await store.messages.countByStatus();
  if (counts.delivered !== total) throw new Error(`${counts.delivered} of ${total} delivered`);
  return spent;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      contacts: { type: 'string', default: '100000' },
      drop: { type: 'string', default: '' },
      exec: { type: 'string', default: '' },
    },
  });
  const total = Number(values.contacts);
  const drop = values.drop.split(',').filter(Boolean);
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-'));
  try {
    const path = join(dir, 'bench.db');
    await prepare(path, total, drop, values.exec);
    const store = openSqliteStore(path);
    const spent = await run(store, total).finally(() => store.close());
    const perMessage = (us: number): string => (us / total).toFixed(2);
    const sum = spent.insert + spent.claim + spent.settle;
    console.log(
      `${total} campaign messages${drop.length ? `, without ${drop.join(', ')}` : ''}: ` +
        `µs of CPU a message: acceptBatch ${perMessage(spent.insert)}, claim ${perMessage(spent.claim)}, ` +
        `settle ${perMessage(spent.settle)}, total ${perMessage(sum)}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
