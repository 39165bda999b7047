/**
 * Event → inbox latency: open-loop load of `order.placed` events at a fixed
 * rate, each starting one run of a one-step journey that sends one email
 * through local relays; the time from the event's scheduled send to the
 * relay's 250 is measured at the relay (same process and clock as the load
 * generator), so queueing anywhere in between counts.
 *
 * Open loop: events go out on schedule whether or not earlier requests have
 * been answered (no coordinated omission); latency starts at the scheduled
 * time. The Sluice node runs in a child process (bench/triggers-node.ts) on
 * a fresh SQLite file with its defaults (synchronous=FULL); the relays are
 * smtp-server instances that accept everything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SMTPServer } from 'smtp-server';
import { Pool } from 'undici';
import { makeTempDir, TEST_ADMIN_KEY } from '../test/helpers/sluice.js';

const RELAYS = 2;

export interface TriggerRun {
  rate: number;
  seconds: number;
  sent: number;
  accepted: number;
  delivered: number;
  achievedPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** CPU time of the Sluice node per accepted event (HTTP, journey, delivery). */
  cpuMsPerEvent: number;
  /** The node's event loop delay over the run: p99 and max. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return (
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
  );
}

interface Relay {
  port: number;
  close(): Promise<void>;
}

/** A relay that records, per `Order <n>` subject, when it answered 250. */
async function startRelay(onMessage: (n: number) => void): Promise<Relay> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      let head = '';
      stream.on('data', (chunk: Buffer) => {
        if (head.length < 4096) head += chunk.toString('latin1');
      });
      stream.on('end', () => {
        const n = /^Subject: Order (\d+)/m.exec(head)?.[1];
        if (n !== undefined) onMessage(Number(n));
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

interface NodeReport {
  /** CPU time over its life. */
  cpuMs: number;
  /** Event loop delay percentiles (perf_hooks.monitorEventLoopDelay). */
  loopDelayMs: { p50: number; p99: number; max: number };
}

interface NodeChild {
  url: string;
  child: ChildProcess;
  /** Stops the node; resolves with what it reports of itself. */
  stop(): Promise<NodeReport>;
}

/**
 * Starts bench/triggers-node.js. SLUICE_BENCH_NODE_ARGS adds Node options to
 * it (for example `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the node).
 */
async function startNode(configFile: string): Promise<NodeChild> {
  const script = fileURLToPath(new URL('./triggers-node.js', import.meta.url));
  const extra = (process.env.SLUICE_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...extra, script, configFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout ?? process.stdin });
  let report: NodeReport = {
    cpuMs: Number.NaN,
    loopDelayMs: { p50: Number.NaN, p99: Number.NaN, max: Number.NaN },
  };
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the node exited with ${code}`)));
    lines.once('line', (line) => resolve((JSON.parse(line) as { url: string }).url));
  });
  lines.on('line', (line) => {
    const parsed = JSON.parse(line) as Partial<NodeReport>;
    if (parsed.cpuMs !== undefined && parsed.loopDelayMs) report = parsed as NodeReport;
  });
  return {
    url,
    child,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      return report;
    },
  };
}

async function api(pool: Pool, method: string, path: string, body: unknown): Promise<unknown> {
  const response = await pool.request({
    method: method,
    path,
    headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.body.text();
  if (response.statusCode >= 300)
    throw new Error(`${method} ${path}: ${response.statusCode} ${text}`);
  return JSON.parse(text) as unknown;
}

export async function triggerRun(rate: number, seconds: number): Promise<TriggerRun> {
  const scheduled: number[] = [];
  const latencies: number[] = [];
  const relays = await Promise.all(
    Array.from({ length: RELAYS }, () =>
      startRelay((n) => {
        const at = scheduled[n];
        if (at !== undefined) latencies.push(performance.now() - at);
      }),
    ),
  );
  const dir = makeTempDir('sluice-bench-triggers-');
  const configFile = join(dir, 'sluice.config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      http: { port: 0 },
      database: { url: `sqlite:${join(dir, 'sluice.db')}` },
      dataDir: dir,
      auth: { adminApiKey: TEST_ADMIN_KEY },
      log: { level: 'warn' },
      relays: relays.map((r, i) => ({ name: `relay${i}`, host: '127.0.0.1', port: r.port })),
      pools: [
        { name: 'local', relays: relays.map((_r, i) => `relay${i}`), strategy: 'round-robin' },
      ],
    }),
  );
  const node = await startNode(configFile);
  const pool = new Pool(node.url, { connections: 128, pipelining: 1 });
  try {
    const template = (await api(pool, 'POST', '/v1/templates', {
      name: 'order',
      subject: 'Order {{ event.properties.n }}',
      text: 'Thank you for order {{ event.properties.n }}.',
    })) as { id: string };
    await api(pool, 'POST', '/v1/journeys', {
      name: 'order receipt',
      status: 'active',
      definition: {
        entry: { event: 'order.placed' },
        from: 'shop@example.test',
        reentry: 'always',
        steps: [{ type: 'send', template: template.id }],
      },
    });
    const total = Math.round(rate * seconds);
    let accepted = 0;
    const requests: Promise<void>[] = [];
    const started = performance.now();
    for (let n = 0; n < total;) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
      for (; n < due; n++) {
        scheduled[n] = started + (n / rate) * 1000;
        requests.push(
          api(pool, 'POST', '/v1/events', {
            contact: { email: `buyer${n % 5000}@example.test` },
            name: 'order.placed',
            properties: { n },
          }).then(
            () => void (accepted += 1),
            () => undefined,
          ),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await Promise.all(requests);
    const elapsed = (performance.now() - started) / 1000;
    const deadline = performance.now() + 15_000;
    while (latencies.length < accepted && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    const report = await node.stop();
    return {
      rate,
      seconds,
      sent: total,
      accepted,
      delivered: latencies.length,
      achievedPerSec: accepted / elapsed,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      p999Ms: percentile(sorted, 99.9),
      cpuMsPerEvent: report.cpuMs / Math.max(1, accepted),
      loopDelayP99Ms: report.loopDelayMs.p99,
      loopDelayMaxMs: report.loopDelayMs.max,
    };
  } finally {
    await pool.close();
    await node.stop();
    await Promise.all(relays.map((r) => r.close()));
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function printTriggersBenchmark(rates: number[], seconds: number): Promise<void> {
  console.log(
    `## Event → journey → relay 250 (open loop, ${seconds} s per rate, one email per event, ${RELAYS} local relays)`,
  );
  for (const rate of rates) {
    const run = await triggerRun(rate, seconds);
    console.log(
      `  ${String(rate).padStart(5)} events/s offered: ${run.achievedPerSec.toFixed(0)}/s accepted (${run.accepted}/${run.sent}), ${run.delivered} delivered; event → 250 p50 ${run.p50Ms.toFixed(1)} ms, p99 ${run.p99Ms.toFixed(1)} ms, p99.9 ${run.p999Ms.toFixed(1)} ms; node CPU ${run.cpuMsPerEvent.toFixed(3)} ms/event, event loop delay p99 ${run.loopDelayP99Ms.toFixed(1)} ms, max ${run.loopDelayMaxMs.toFixed(1)} ms`,
    );
  }
  console.log('');
}
