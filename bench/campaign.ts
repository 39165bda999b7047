/**
 * `bench/campaign`, part of `npm run bench`: a campaign to N contacts
 * (default 100,000; `--contacts 1000000` or SLUICE_BENCH_CAMPAIGN_CONTACTS)
 * through the whole product: contacts in the database, a campaign created
 * and sent over the API, fan-out into the durable outbox, the worker
 * rendering a personalized ~2 KB template and sending through 4 relays
 * (one smtp-sink each, round-robin, 3 connections each). Timed from the
 * "send" request to the last message at the sinks.
 *
 * Same-run baselines:
 *  - Postfix smtp-source → smtp-sink, 10 sessions, ~2 KB: the raw limit of
 *    the C tools on this machine (the issue's target: campaign ≥ 1.0×);
 *  - a naive sender: a Nodemailer pool (10 connections) fed by a loop that
 *    renders the same template with liquidjs per contact, the way a script
 *    would do it without a queue (no durability, no retries);
 *  - the ceiling: Sluice's own SMTP client alone (src/delivery/smtp/) with
 *    pre-built 2 KB messages over the campaign's topology (4 sinks × 3
 *    connections): no storage, no rendering, no bookkeeping. What the
 *    campaign loses against it is the cost of everything else it does.
 *
 * Every path also prints what it cost the whole machine a message (busy CPU
 * of all processes and the kernel, from /proc/stat, in µs): on 2 cores the
 * relays share the cores with the sender, so a path's own CPU is not all
 * it costs.
 *
 * Each Sluice run is two processes of its own (seed, then send), so the
 * sending process's peak RSS and CPU are the campaign's.
 *
 *   node dist/bench/campaign.js [--contacts N] [--runs R] [--sluice-only]
 *   (--sluice-only: no baselines, for before/after comparisons of Sluice itself)
 *   SLUICE_BENCH_DATABASE_URL=postgres://… also runs it on PostgreSQL.
 *   SLUICE_BENCH_NODE_ARGS adds Node options to the sending process, e.g.
 *   `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it (one .cpuprofile for
 *   the main thread, one per worker thread such as the WAL checkpointer).
 *
 * A run fails if the sinks do not have every message within 15 minutes, or
 * 1.5 ms a message for larger audiences (1M contacts: 25 minutes).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { Liquid } from 'liquidjs';
import nodemailer from 'nodemailer';
import { createThrowawayDatabase } from '../test/helpers/postgres.js';
import { CAMPAIGN_SUBJECT, CAMPAIGN_TEXT } from './campaign-content.js';
import { clientToSink, type ClientRun } from './smtp-clients.js';
import {
  ensurePostfixTools,
  line,
  machineCpuMeter,
  smtpSourceRun,
  startSmtpSink,
  stats,
  targetLine,
} from './support.js';

const CHILD = new URL('./campaign-child.js', import.meta.url).pathname;
const RELAYS = 4;
const CONNECTIONS_PER_RELAY = 3;
/** The naive loop is slow: it gets at most this many messages (its rate is what counts). */
const NAIVE_MAX = 20_000;
const BASELINE_MAX = 200_000;

export interface CampaignRun {
  msgPerSec: number;
  seconds: number;
  firstDeliveryMs: number | null;
  cpuSeconds: number;
  peakRssMb: number;
  /** The sending process's event-loop delay (monitorEventLoopDelay, 10 ms resolution). */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** The V8 heap (committed) and the memory outside it (Buffers) when RSS peaked. */
  atPeak: { heapMb: number; externalMb: number };
  /** Garbage collections during the campaign: full (mark-compact), young (scavenges), total pause. */
  gc: { full: number; young: number; pauseMs: number };
  /** Busy CPU of the whole machine (Sluice, the sinks, the kernel) a message, in µs; NaN off Linux. */
  machineUsPerMessage: number;
}

function seed(url: string, contacts: number): void {
  const result = spawnSync(process.execPath, [CHILD, 'seed', url, String(contacts)], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (result.status !== 0) throw new Error(`campaign seed failed: ${result.stderr}`);
}

async function sendCampaign(url: string, dir: string, contacts: number): Promise<CampaignRun> {
  const sinks = await Promise.all(
    Array.from({ length: RELAYS }, () => startSmtpSink(contacts / RELAYS)),
  );
  const nodeArgs = (process.env.SLUICE_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(
    process.execPath,
    [...nodeArgs, CHILD, 'send', url, dir, sinks.map((s) => s.port).join(','), String(contacts)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  // The child's stdout also carries its log (JSON lines): wait for the line with `key`.
  const next = async (key: string): Promise<Record<string, unknown>> => {
    for (;;) {
      const item: IteratorResult<string> = await lines.next();
      if (item.done) throw new Error('campaign child ended early');
      const text = item.value.trim();
      if (!text.startsWith('{')) continue;
      const value = JSON.parse(text) as Record<string, unknown>;
      if (key in value) return value;
    }
  };
  let stall: NodeJS.Timeout | undefined;
  try {
    const { started } = (await next('started')) as { started: number };
    const meter = machineCpuMeter();
    await Promise.race([
      Promise.all(sinks.map((sink) => sink.done)),
      new Promise((_, reject) => {
        stall = setTimeout(
          () => reject(new Error('campaign stalled (a message deferred?)')),
          Math.max(900_000, contacts * 1.5),
        );
      }),
    ]);
    const seconds = (Date.now() - started) / 1000;
    const machineUsPerMessage = meter.perMessage(contacts);
    child.stdin.write('done\n');
    const final = (await next('cpuSeconds')) as Omit<CampaignRun, 'msgPerSec' | 'seconds'>;
    await new Promise((resolve) => child.once('exit', resolve));
    return { ...final, seconds, msgPerSec: contacts / seconds, machineUsPerMessage };
  } finally {
    clearTimeout(stall);
    for (const sink of sinks) sink.kill();
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

async function sluiceRun(databaseUrl: string | undefined, contacts: number): Promise<CampaignRun> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-campaign-'));
  const pgDatabase = databaseUrl
    ? await createThrowawayDatabase(databaseUrl, 'sluice_bench_campaign')
    : undefined;
  try {
    const url = pgDatabase?.url ?? `sqlite:${join(dir, 'bench.db')}`;
    seed(url, contacts);
    return await sendCampaign(url, dir, contacts);
  } finally {
    await pgDatabase?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The naive baseline: render per contact, hand to a Nodemailer pool, bounded in flight. */
async function naiveNodemailer(count: number): Promise<number> {
  const sink = await startSmtpSink(count);
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: 10,
    maxMessages: Infinity,
    host: '127.0.0.1',
    port: sink.port,
    secure: false,
    ignoreTLS: true,
  });
  const liquid = new Liquid();
  const subject = liquid.parse(CAMPAIGN_SUBJECT);
  const text = liquid.parse(CAMPAIGN_TEXT);
  const started = process.hrtime.bigint();
  const inFlight = new Set<Promise<unknown>>();
  try {
    for (let i = 0; i < count; i++) {
      const data = {
        contact: { first_name: `First${i}`, city: 'Oslo', plan: 'pro' },
        company: 'Sluice',
      };
      const send = transport
        .sendMail({
          from: 'Bench <news@example.test>',
          to: `user${i}@example.test`,
          subject: liquid.renderSync(subject, data) as string,
          text: liquid.renderSync(text, data) as string,
        })
        // smtp-sink exits at its count, sometimes before the last replies are read.
        .catch(() => undefined)
        .finally(() => inFlight.delete(send));
      inFlight.add(send);
      if (inFlight.size >= 1000) await Promise.race(inFlight);
    }
    await sink.done;
    return count / (Number(process.hrtime.bigint() - started) / 1e9);
  } finally {
    transport.close();
    sink.kill();
  }
}

/** `, machine N µs/message` (median), or nothing where it was not measured. */
function machine(values: number[]): string {
  const median = stats(values).median;
  return Number.isNaN(median) ? '' : `, machine ${median.toFixed(0)} µs/message`;
}

function report(
  label: string,
  runs: CampaignRun[],
  raw: number,
  naive: number,
  ceiling: number,
): void {
  const rates = runs.map((r) => r.msgPerSec);
  console.log(line(label, rates, 'msg/s', raw));
  const median = stats(rates).median;
  const ttfd = stats(runs.map((r) => r.firstDeliveryMs ?? NaN));
  const rss = stats(runs.map((r) => r.peakRssMb));
  const cpu = stats(runs.map((r) => r.cpuSeconds));
  const stall = stats(runs.map((r) => r.loopDelayMaxMs));
  const p99 = stats(runs.map((r) => r.loopDelayP99Ms));
  const contacts = runs[0] ? runs[0].msgPerSec * runs[0].seconds : 0;
  const mid = (pick: (run: CampaignRun) => number): string =>
    stats(runs.map(pick)).median.toFixed(0);
  const against = [
    ...(Number.isNaN(ceiling)
      ? []
      : [`×${(median / ceiling).toFixed(2)} of its SMTP client alone`]),
    ...(Number.isNaN(naive) ? [] : [`×${(median / naive).toFixed(2)} of the naive loop`]),
  ];
  console.log(
    `  ${against.map((text) => `${text}; `).join('')}time to first delivery (median) ${ttfd.median.toFixed(0)} ms (min ${ttfd.min.toFixed(0)}, max ${ttfd.max.toFixed(0)}); ` +
      `peak RSS (median) ${rss.median.toFixed(0)} MiB (max ${rss.max.toFixed(0)}); CPU ${cpu.median.toFixed(1)} s, ${((cpu.median * 1000) / contacts).toFixed(3)} ms/message` +
      `${machine(runs.map((r) => r.machineUsPerMessage))}; ` +
      `event-loop delay (median of runs) p99 ${p99.median.toFixed(1)} ms, max ${stall.median.toFixed(0)} ms (worst run ${stall.max.toFixed(0)})`,
  );
  console.log(
    `  at the RSS peak (medians): V8 heap ${mid((r) => r.atPeak.heapMb)} MiB, outside it (Buffers) ${mid((r) => r.atPeak.externalMb)} MiB; ` +
      `GC: ${mid((r) => r.gc.full)} full and ${mid((r) => r.gc.young)} young collections, ${mid((r) => r.gc.pauseMs)} ms of pauses`,
  );
}

/** Issue 4's targets for a campaign, on the embedded default (SQLite). */
const TARGET_RSS_MB = 200;
const TARGET_RSS_CONTACTS = 1_000_000;

function printTargets(runs: CampaignRun[], contacts: number, smtpSource: number): void {
  const rate = stats(runs.map((r) => r.msgPerSec)).median;
  console.log(
    targetLine(
      4,
      'campaign throughput ≥ 1.0× smtp-source',
      Number.isNaN(smtpSource) ? undefined : rate >= smtpSource,
      Number.isNaN(smtpSource)
        ? 'no smtp-source baseline with --sluice-only'
        : `×${(rate / smtpSource).toFixed(2)}`,
    ),
  );
  // The target is in MB (10^6 bytes); the lines above print MiB.
  const peakMb = (stats(runs.map((r) => r.peakRssMb)).max * 2 ** 20) / 1e6;
  const atSize = contacts >= TARGET_RSS_CONTACTS;
  console.log(
    targetLine(
      4,
      `peak RSS ≤ ${TARGET_RSS_MB} MB for a ${TARGET_RSS_CONTACTS.toLocaleString('en-US')}-recipient campaign`,
      atSize ? peakMb <= TARGET_RSS_MB : undefined,
      `${peakMb.toFixed(1)} MB at ${contacts.toLocaleString('en-US')} contacts` +
        (atSize ? '' : '; run with --contacts 1000000'),
    ),
  );
}

export async function printCampaignBenchmark(
  runs: number,
  contacts: number,
  sluiceOnly = false,
): Promise<void> {
  const count = contacts - (contacts % RELAYS);
  console.log(
    `## bench/campaign: ${count.toLocaleString('en-US')} contacts, personalized ~2 KB text, API → fan-out → outbox → worker → ${RELAYS} relays`,
  );
  if (!ensurePostfixTools()) {
    console.log('smtp-sink/smtp-source not available (apt-get install postfix failed): skipped\n');
    return;
  }
  const raw: { msgPerSec: number; machineUsPerMessage: number }[] = [];
  const ceiling: ClientRun[] = [];
  const naive: number[] = [];
  const sqlite: CampaignRun[] = [];
  const pg: CampaignRun[] = [];
  const pgUrl = process.env.SLUICE_BENCH_DATABASE_URL;
  for (let r = 0; r < runs; r++) {
    if (!sluiceOnly) {
      raw.push(await smtpSourceRun(Math.min(count, BASELINE_MAX), 10, 2000));
      ceiling.push(
        await clientToSink('sluice', Math.min(count, BASELINE_MAX), CONNECTIONS_PER_RELAY, RELAYS),
      );
      naive.push(await naiveNodemailer(Math.min(count, NAIVE_MAX)));
    }
    sqlite.push(await sluiceRun(undefined, count));
    if (pgUrl) pg.push(await sluiceRun(pgUrl, count));
  }
  const rawRates = raw.map((r) => r.msgPerSec);
  const rawMedian = sluiceOnly ? NaN : stats(rawRates).median;
  const naiveMedian = sluiceOnly ? NaN : stats(naive).median;
  const ceilingMedian = sluiceOnly ? NaN : stats(ceiling.map((r) => r.msgPerSec)).median;
  if (!sluiceOnly) {
    console.log(
      line('baseline: smtp-source → smtp-sink (10 sessions, 2 KB)', rawRates, 'msg/s') +
        machine(raw.map((r) => r.machineUsPerMessage)),
    );
    console.log(
      line(
        `ceiling: Sluice's SMTP client alone, pre-built 2 KB, ${RELAYS} sinks × ${CONNECTIONS_PER_RELAY} connections`,
        ceiling.map((r) => r.msgPerSec),
        'msg/s',
        rawMedian,
      ) +
        `; its process ${stats(ceiling.map((r) => r.cpuUsPerMessage)).median.toFixed(0)} µs/message` +
        machine(ceiling.map((r) => r.machineUsPerMessage)),
    );
    console.log(
      line(
        `baseline: naive loop, Liquid + Nodemailer pool (${Math.min(count, NAIVE_MAX)} msgs)`,
        naive,
        'msg/s',
        rawMedian,
      ),
    );
  }
  report('sluice: campaign on SQLite', sqlite, rawMedian, naiveMedian, ceilingMedian);
  printTargets(sqlite, count, rawMedian);
  if (pgUrl) {
    report('sluice: campaign on PostgreSQL', pg, rawMedian, naiveMedian, ceilingMedian);
    const ratio =
      stats(pg.map((r) => r.msgPerSec)).median / stats(sqlite.map((r) => r.msgPerSec)).median;
    console.log(`  PostgreSQL / SQLite: ×${ratio.toFixed(2)}`);
  } else {
    console.log('PostgreSQL: skipped (SLUICE_BENCH_DATABASE_URL is not set)');
  }
  console.log('');
}

function flag(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await printCampaignBenchmark(
    Number(flag('--runs') ?? process.env.SLUICE_BENCH_RUNS ?? 3),
    Number(flag('--contacts') ?? process.env.SLUICE_BENCH_CAMPAIGN_CONTACTS ?? 100_000),
    process.argv.includes('--sluice-only'),
  );
}
