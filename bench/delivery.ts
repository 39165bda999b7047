/**
 * `bench/delivery`, part of `npm run bench`: the SMTP path on its own and
 * the whole delivery path through a farm of relays, each beside Postfix's
 * smtp-source → smtp-sink measured in the same run.
 *
 * 1. SMTP clients with pre-built messages over 10 connections to one
 *    smtp-sink: the nodemailer client Sluice started with, Sluice's own
 *    client (pipelining), and Sluice's own against a sink without
 *    PIPELINING. This is the measurement the client was chosen by.
 * 2. Outbox → 4 relays: messages accepted in SQLite, claimed, rendered,
 *    MIME-built and sent by the worker over 4 smtp-sink relays (round-robin,
 *    3 connections each, 12 in all), settled; timed at the sinks. Each run
 *    is a fresh process (delivery-child.ts), so peak RSS is its own.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { OutboxRun } from './outbox-delivery.js';
import { clientToSink, type ClientKind, type ClientRun } from './smtp-clients.js';
import { line, smtpSourceToSink, stats } from './support.js';

const RELAYS = 4;
const CONNECTIONS_PER_RELAY = 3;
const CLIENT_CONNECTIONS = 10;

export async function printSmtpClientBenchmark(runs: number, messages: number): Promise<void> {
  console.log(
    `## SMTP clients, pre-built ~2 KB messages, ${CLIENT_CONNECTIONS} connections → smtp-sink`,
  );
  const kinds: ClientKind[] = ['nodemailer', 'sluice', 'sluice-no-pipelining'];
  const raw: number[] = [];
  const results = new Map<ClientKind, ClientRun[]>(kinds.map((k) => [k, []]));
  for (let r = 0; r < runs; r++) {
    raw.push(await smtpSourceToSink(messages, CLIENT_CONNECTIONS, 2000));
    for (const kind of kinds)
      results.get(kind)?.push(await clientToSink(kind, messages, CLIENT_CONNECTIONS));
  }
  const rawMedian = stats(raw).median;
  const nodemailer = stats((results.get('nodemailer') ?? []).map((x) => x.msgPerSec)).median;
  console.log(line('baseline: smtp-source → smtp-sink (Postfix C tools)', raw, 'msg/s'));
  const labels: Record<ClientKind, string> = {
    nodemailer: 'nodemailer SMTPConnection (Sluice before)',
    sluice: 'sluice client, PIPELINING',
    'sluice-no-pipelining': 'sluice client, sink without PIPELINING (-p)',
  };
  for (const kind of kinds) {
    const kindRuns = results.get(kind) ?? [];
    const rates = kindRuns.map((x) => x.msgPerSec);
    const cpu = stats(kindRuns.map((x) => x.cpuUsPerMessage));
    console.log(line(labels[kind], rates, 'msg/s', rawMedian));
    console.log(
      `  ×${(stats(rates).median / nodemailer).toFixed(2)} of nodemailer; CPU per message (median) ${cpu.median.toFixed(1)} µs (min ${cpu.min.toFixed(1)}, max ${cpu.max.toFixed(1)})`,
    );
  }
  console.log('');
}

export async function printDeliveryBenchmark(runs: number, messages: number): Promise<void> {
  const count = messages - (messages % RELAYS);
  console.log(
    `## bench/delivery: SQLite outbox → worker → ${RELAYS} relays (smtp-sink each, round-robin, ${RELAYS * CONNECTIONS_PER_RELAY} connections), ${count} messages`,
  );
  const raw: number[] = [];
  const results: OutboxRun[] = [];
  for (let r = 0; r < runs; r++) {
    raw.push(await smtpSourceToSink(count, CLIENT_CONNECTIONS, 2000));
    results.push(await inChildProcess(count));
  }
  const rawMedian = stats(raw).median;
  console.log(line('baseline: smtp-source → smtp-sink (Postfix C tools)', raw, 'msg/s'));
  console.log(
    line(
      `sluice: outbox → ${RELAYS} relays`,
      results.map((x) => x.msgPerSec),
      'msg/s',
      rawMedian,
    ),
  );
  const cpu = stats(results.map((x) => x.cpuMsPerMessage));
  const rss = stats(results.map((x) => x.peakRssMb));
  console.log(
    `  CPU per message: median ${cpu.median.toFixed(3)} ms (min ${cpu.min.toFixed(3)}, max ${cpu.max.toFixed(3)}); peak RSS of the delivering process: median ${rss.median.toFixed(0)} MiB (max ${rss.max.toFixed(0)})`,
  );
  console.log('');
}

/** One run in a fresh Node process (bench/delivery-child.ts), for an honest peak RSS. */
function inChildProcess(count: number): Promise<OutboxRun> {
  const script = fileURLToPath(new URL('./delivery-child.js', import.meta.url));
  const child = spawn(
    process.execPath,
    [script, String(count), String(RELAYS), String(CONNECTIONS_PER_RELAY)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      const last = output.trim().split('\n').at(-1) ?? '';
      if (code !== 0) return reject(new Error(`delivery run exited ${code}: ${output}`));
      resolve(JSON.parse(last) as OutboxRun);
    });
  });
}
