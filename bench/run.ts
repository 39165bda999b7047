/**
 * `npm run bench`: every benchmark, each beside its same-run baseline,
 * printed as figures (median of RUNS, with min and max) and ratios.
 * SLUICE_BENCH_RUNS and SLUICE_BENCH_MESSAGES scale it;
 * SLUICE_BENCH_IMPORT_ROWS sizes the contacts import (default 100,000; 0 skips it);
 * SLUICE_BENCH_CAMPAIGN_CONTACTS sizes bench/campaign (default 100,000; 0 skips it).
 * `--seconds N` (or SLUICE_BENCH_TRIGGER_SECONDS) sets each rate of the
 * triggers benchmark (default 30), after `--warmup N` seconds at the same rate
 * reported apart (or SLUICE_BENCH_TRIGGER_WARMUP, default 5); `--rates
 * 500,1000` its event rates (default 500,1000,2000); `--only triggers` runs
 * that one alone.
 * SLUICE_BENCH_DATABASE_URL (a PostgreSQL server) adds delivery on PostgreSQL
 * with SLUICE_BENCH_NODES node processes (default 1,2,3; bench/cluster-delivery.ts).
 */
import { cpus, totalmem } from 'node:os';
import { printCampaignBenchmark } from './campaign.js';
import { printClusterDeliveryBenchmark } from './cluster-delivery.js';
import { printDeliveryBenchmark, printSmtpClientBenchmark } from './delivery.js';
import { printDkimBenchmark } from './dkim.js';
import { printImportBenchmark } from './import.js';
import { bareFastifyAccept, sluiceAccept } from './http-accept.js';
import { printMimeBenchmark } from './mime.js';
import { printTriggersBenchmark } from './triggers.js';
import { outboxToSink, type OutboxRun } from './outbox-delivery.js';
import { ensurePostfixTools, line, smtpSourceToSink, stats } from './support.js';

const RUNS = Number(process.env.SLUICE_BENCH_RUNS ?? 3);
const MESSAGES = Number(process.env.SLUICE_BENCH_MESSAGES ?? 20_000);
const ACCEPTS = Number(process.env.SLUICE_BENCH_ACCEPTS ?? 10_000);
const IMPORT_ROWS = Number(process.env.SLUICE_BENCH_IMPORT_ROWS ?? 100_000);
const CAMPAIGN_CONTACTS = Number(process.env.SLUICE_BENCH_CAMPAIGN_CONTACTS ?? 100_000);
const SESSIONS = 10;

function argument(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}
const TRIGGER_SECONDS = Number(
  argument('seconds') ?? process.env.SLUICE_BENCH_TRIGGER_SECONDS ?? 30,
);
const TRIGGER_WARMUP = Number(argument('warmup') ?? process.env.SLUICE_BENCH_TRIGGER_WARMUP ?? 5);
const TRIGGER_RATES = (argument('rates') ?? '500,1000,2000').split(',').map(Number);

async function main(): Promise<void> {
  if (argument('only') === 'triggers') {
    await printTriggersBenchmark(TRIGGER_RATES, TRIGGER_SECONDS, TRIGGER_WARMUP);
    return;
  }
  console.log(`# Sluice benchmarks — ${new Date().toISOString()}`);
  console.log(
    `# machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  );
  console.log(
    `# runs: ${RUNS}; delivery: ${MESSAGES} messages of ~2 KB over ${SESSIONS} connections; accept: ${ACCEPTS} requests, 64 open\n`,
  );

  console.log('## HTTP accept (POST /v1/messages → durable commit → 202)');
  const bare: number[] = [];
  const accept: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    bare.push(await bareFastifyAccept(ACCEPTS, 64));
    accept.push(await sluiceAccept(ACCEPTS, 64));
  }
  const bareMedian = stats(bare).median;
  console.log(line('baseline: bare Fastify POST → 202, nothing stored', bare, 'req/s'));
  console.log(
    line('sluice: validate + strict render + SQLite FULL commit', accept, 'msg/s', bareMedian),
  );
  console.log('');

  await printTriggersBenchmark(TRIGGER_RATES, TRIGGER_SECONDS, TRIGGER_WARMUP);
  await printDkimBenchmark(RUNS);
  await printMimeBenchmark(RUNS, 5_000);
  if (IMPORT_ROWS > 0) await printImportBenchmark(RUNS, IMPORT_ROWS);

  console.log('## Outbox → SMTP relay (claim, render, MIME, send, settle)');
  if (!ensurePostfixTools()) {
    console.log(
      'smtp-sink/smtp-source not available (apt-get install postfix failed): delivery benchmark skipped',
    );
    return;
  }
  const raw: number[] = [];
  const runs: OutboxRun[] = [];
  for (let r = 0; r < RUNS; r++) {
    raw.push(await smtpSourceToSink(MESSAGES, SESSIONS, 2000));
    runs.push(await outboxToSink(MESSAGES, SESSIONS));
  }
  const rawMedian = stats(raw).median;
  console.log(line('baseline: smtp-source → smtp-sink (Postfix C tools)', raw, 'msg/s'));
  console.log(
    line(
      'sluice: SQLite outbox → worker → smtp-sink',
      runs.map((r) => r.msgPerSec),
      'msg/s',
      rawMedian,
    ),
  );
  const cpu = stats(runs.map((r) => r.cpuMsPerMessage));
  const rss = stats(runs.map((r) => r.peakRssMb));
  console.log(
    `  CPU per message (median): ${cpu.median.toFixed(3)} ms; peak RSS (median): ${rss.median.toFixed(0)} MiB`,
  );
  console.log('');

  await printSmtpClientBenchmark(RUNS, MESSAGES);
  await printDeliveryBenchmark(RUNS, MESSAGES);
  if (CAMPAIGN_CONTACTS > 0) await printCampaignBenchmark(RUNS, CAMPAIGN_CONTACTS);
  const pgUrl = process.env.SLUICE_BENCH_DATABASE_URL;
  if (pgUrl) {
    const nodes = (process.env.SLUICE_BENCH_NODES ?? '1,2,3').split(',').map(Number);
    await printClusterDeliveryBenchmark(pgUrl, RUNS, MESSAGES, nodes);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
