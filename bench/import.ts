/**
 * Contacts import: N generated contacts (SLUICE_BENCH_IMPORT_ROWS, default
 * 100,000; the issue's target is 1,000,000 in at most 20 s) as a CSV file of
 * four attributes a row, imported into a list through the same path as
 * `sluice import` and POST /v1/contacts/import, each run in its own process
 * (bench/import-child.ts) for a true peak RSS. Baseline: the CSV reader
 * alone over the same file, to show how much of the time is parsing.
 * PostgreSQL too when SLUICE_BENCH_DATABASE_URL is set (a fresh schema a
 * run, dropped after).
 *
 *   node dist/bench/import.js            (or within npm run bench)
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { dropSchema } from '../src/store/contract/fixtures.js';
import { line, stats, targetLine } from './support.js';

const CHILD = new URL('./import-child.js', import.meta.url).pathname;
const PLANS = ['free', 'pro', 'team'];
const CITIES = ['Oslo', 'Lyon', 'Porto', 'Kyoto', 'Austin'];

interface ChildRun {
  rows: number;
  seconds: number;
  cpuSeconds: number;
  peakRssMb: number;
  summary: { imported?: number; created?: number; skipped?: number };
}

async function writeCsv(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path);
  out.write('email,first_name,last_name,plan,city\n');
  let chunk = '';
  for (let i = 0; i < rows; i += 1) {
    // A hashed prefix: addresses in no particular order, as in a real export.
    chunk += `${(Math.imul(i, 2654435761) >>> 0).toString(36)}.user${i}@example${i % 97}.test,First ${i},"Last, ${i}",${PLANS[i % 3]},${CITIES[i % 5]}\n`;
    if (chunk.length > 1 << 16) {
      if (!out.write(chunk))
        await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      chunk = '';
    }
  }
  out.end(chunk);
  await new Promise<void>((resolve, reject) => {
    out.once('finish', () => resolve()).once('error', reject);
  });
}

function child(args: string[]): ChildRun {
  const result = spawnSync(process.execPath, [CHILD, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (result.status !== 0) throw new Error(`import-child failed: ${result.stderr}`);
  const last = result.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as ChildRun;
}

/** Issue 4's target: a million contacts imported in at most this long. */
const TARGET_ROWS = 1_000_000;
const TARGET_SECONDS = 20;

function report(label: string, runs: ChildRun[], baseline?: number): void {
  const rates = runs.map((r) => r.rows / r.seconds);
  console.log(line(label, rates, 'rows/s', baseline));
  const seconds = stats(runs.map((r) => r.seconds)).median;
  const rss = stats(runs.map((r) => r.peakRssMb)).median;
  const cpu = stats(runs.map((r) => r.cpuSeconds)).median;
  console.log(
    `  time (median): ${seconds.toFixed(2)} s; CPU: ${cpu.toFixed(2)} s; peak RSS (median): ${rss.toFixed(0)} MiB`,
  );
}

function printTarget(runs: ChildRun[]): void {
  const rows = runs[0]?.rows ?? 0;
  const seconds = stats(runs.map((r) => r.seconds)).median;
  const atSize = rows >= TARGET_ROWS;
  console.log(
    targetLine(
      4,
      `${TARGET_ROWS.toLocaleString('en-US')} contacts imported in ≤ ${TARGET_SECONDS} s`,
      atSize ? seconds <= TARGET_SECONDS : undefined,
      `${seconds.toFixed(2)} s for ${rows.toLocaleString('en-US')} rows` +
        (atSize ? '' : '; run with SLUICE_BENCH_IMPORT_ROWS=1000000'),
    ),
  );
}

export async function printImportBenchmark(runs: number, rows: number): Promise<void> {
  console.log(`## Contacts import (${rows.toLocaleString('en-US')} CSV rows into a list)`);
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-import-'));
  try {
    const file = join(dir, 'contacts.csv');
    await writeCsv(file, rows);
    const parse: ChildRun[] = [];
    const sqlite: ChildRun[] = [];
    for (let r = 0; r < runs; r += 1) {
      parse.push(child(['parse-only', file]));
      sqlite.push(child([`sqlite:${join(dir, `import-${r}.db`)}`, file, 'csv']));
      await rm(join(dir, `import-${r}.db`), { force: true });
    }
    const parseMedian = stats(parse.map((r) => r.rows / r.seconds)).median;
    report('baseline: CSV reader alone (read, decode, parse)', parse);
    report('sluice: import into SQLite (new contacts)', sqlite, parseMedian);
    printTarget(sqlite);
    const url = process.env.SLUICE_BENCH_DATABASE_URL;
    if (url) {
      const pg: ChildRun[] = [];
      for (let r = 0; r < runs; r += 1) {
        const schema = `sluice_bench_${randomBytes(4).toString('hex')}`;
        try {
          pg.push(child([url, file, 'csv', schema]));
        } finally {
          await dropSchema(url, schema);
        }
      }
      report('sluice: import into PostgreSQL (new contacts)', pg, parseMedian);
      printTarget(pg);
    } else {
      console.log('PostgreSQL: skipped (SLUICE_BENCH_DATABASE_URL is not set)');
    }
    console.log('');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await printImportBenchmark(
    Number(process.env.SLUICE_BENCH_RUNS ?? 3),
    Number(process.env.SLUICE_BENCH_IMPORT_ROWS ?? 100_000),
  );
}
