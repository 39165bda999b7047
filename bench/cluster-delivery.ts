/**
 * Delivery on PostgreSQL with 1, 2, 3… node processes, beside the SQLite
 * figure of the same run (issue 6: PostgreSQL mode should reach ≥ 0.7× of
 * SQLite mode on the same machine).
 *
 * Each run: a throwaway database on the server of SLUICE_BENCH_DATABASE_URL
 * (created and dropped here), COUNT messages accepted into it, RELAYS
 * smtp-sink relays, then N worker processes (cluster-worker-child.ts)
 * started together; timed from `start` until the last settlement is
 * committed (polled every 50 ms from the parent: with several nodes no sink
 * gets an exact share, so the sinks cannot time it). CPU per message is
 * the workers' CPU (not the database's) over the messages.
 *
 * On a 2-core machine the nodes share the cores with each other, the
 * sinks and PostgreSQL: more nodes cannot go faster than the CPU allows.
 * The figures show where that ceiling is, not how a cluster of machines
 * scales.
 *
 *   SLUICE_BENCH_DATABASE_URL=postgres://… SLUICE_BENCH_NODES=1,2,3 \
 *     SLUICE_BENCH_MESSAGES=20000 SLUICE_BENCH_RUNS=3 node dist/bench/cluster-delivery.js
 *
 * (`npm run bench` runs it too when SLUICE_BENCH_DATABASE_URL is set.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openStore } from '../src/store/open-store.js';
import { createThrowawayDatabase } from '../test/helpers/postgres.js';
import { fillOutbox, type OutboxRun } from './outbox-delivery.js';
import { ensurePostfixTools, line, startSmtpSink, stats } from './support.js';

const RELAYS = 4;
const CONNECTIONS_PER_RELAY = 3;

export async function clusterOutboxToRelays(
  serverUrl: string,
  count: number,
  nodes: number,
): Promise<OutboxRun> {
  const database = await createThrowawayDatabase(serverUrl, 'sluice_bench');
  const children: ChildProcess[] = [];
  const sinks: Awaited<ReturnType<typeof startSmtpSink>>[] = [];
  try {
    const store = await openStore(database.url, { poolSize: 10 });
    try {
      await store.migrate();
      await fillOutbox(store, count);
    } finally {
      await store.close();
    }
    // The sinks never exit by count: which relay gets how many depends on the nodes.
    for (let i = 0; i < RELAYS; i++) {
      const sink = await startSmtpSink(count * 10);
      // Killed at the end, never done by count: its exit is not a failure.
      sink.done.catch(() => undefined);
      sinks.push(sink);
    }
    const ports = sinks.map((s) => s.port).join(',');
    const script = fileURLToPath(new URL('./cluster-worker-child.js', import.meta.url));
    const lines: AsyncIterator<string>[] = [];
    for (let i = 0; i < nodes; i++) {
      const child = spawn(
        process.execPath,
        [script, database.url, ports, String(CONNECTIONS_PER_RELAY)],
        {
          stdio: ['pipe', 'pipe', 'inherit'],
        },
      );
      children.push(child);
      const reader = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      lines.push(reader);
      const first = await reader.next();
      if (first.value !== 'ready') throw new Error(`node ${i} did not start: ${first.value}`);
    }
    const monitor = await openStore(database.url, { poolSize: 1 });
    let peakSeconds: number;
    try {
      const started = process.hrtime.bigint();
      for (const child of children) child.stdin?.write('start\n');
      const deadline = Date.now() + 600_000;
      for (;;) {
        const counts = await monitor.messages.countByStatus();
        if (counts.delivered >= count) break;
        if (Date.now() > deadline) throw new Error(`delivery stalled: ${JSON.stringify(counts)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      peakSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    } finally {
      await monitor.close();
    }
    let cpuMs = 0;
    let peakRssMb = 0;
    for (const [i, child] of children.entries()) {
      child.stdin?.write('stop\n');
      const result = await lines[i]?.next();
      const parsed = JSON.parse(String(result?.value)) as { cpuMs: number; peakRssMb: number };
      cpuMs += parsed.cpuMs;
      peakRssMb = Math.max(peakRssMb, parsed.peakRssMb);
    }
    return { msgPerSec: count / peakSeconds, cpuMsPerMessage: cpuMs / count, peakRssMb };
  } finally {
    for (const child of children) child.kill('SIGKILL');
    for (const sink of sinks) sink.kill();
    await database.drop();
  }
}

/** Prints the SQLite figure (baseline) and the PostgreSQL figure for each node count. */
export async function printClusterDeliveryBenchmark(
  serverUrl: string,
  runs: number,
  messages: number,
  nodeCounts: number[],
): Promise<void> {
  const count = messages - (messages % RELAYS);
  console.log(
    `## bench/delivery on PostgreSQL: outbox → worker → ${RELAYS} relays (smtp-sink, ${CONNECTIONS_PER_RELAY} connections each per node), ${count} messages`,
  );
  const { outboxToRelays } = await import('./outbox-delivery.js');
  const sqlite: OutboxRun[] = [];
  for (let r = 0; r < runs; r++)
    sqlite.push(await outboxToRelays(count, RELAYS, CONNECTIONS_PER_RELAY));
  const baseline = stats(sqlite.map((x) => x.msgPerSec)).median;
  console.log(
    line(
      'sluice: SQLite, one process (baseline)',
      sqlite.map((x) => x.msgPerSec),
      'msg/s',
    ),
  );
  for (const nodes of nodeCounts) {
    const results: OutboxRun[] = [];
    for (let r = 0; r < runs; r++)
      results.push(await clusterOutboxToRelays(serverUrl, count, nodes));
    console.log(
      line(
        `sluice: PostgreSQL, ${nodes} node process${nodes === 1 ? '' : 'es'}`,
        results.map((x) => x.msgPerSec),
        'msg/s',
        baseline,
      ),
    );
    const cpu = stats(results.map((x) => x.cpuMsPerMessage));
    const rss = stats(results.map((x) => x.peakRssMb));
    console.log(
      `  workers' CPU per message: median ${cpu.median.toFixed(3)} ms; peak RSS of a node: median ${rss.median.toFixed(0)} MiB`,
    );
  }
  console.log('');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const url = process.env.SLUICE_BENCH_DATABASE_URL;
  if (!url) {
    console.error(
      'set SLUICE_BENCH_DATABASE_URL to a PostgreSQL server (a database is made and dropped per run)',
    );
    process.exit(2);
  }
  if (!ensurePostfixTools()) {
    console.error('smtp-sink is not available (apt-get install postfix)');
    process.exit(2);
  }
  const nodeCounts = (process.env.SLUICE_BENCH_NODES ?? '1,2,3').split(',').map(Number);
  await printClusterDeliveryBenchmark(
    url,
    Number(process.env.SLUICE_BENCH_RUNS ?? 3),
    Number(process.env.SLUICE_BENCH_MESSAGES ?? 20_000),
    nodeCounts,
  );
}
