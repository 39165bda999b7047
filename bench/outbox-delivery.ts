/**
 * Outbox to relay: N messages already accepted in a fresh SQLite outbox, the
 * delivery worker claims, renders (Liquid), builds MIME and sends them over
 * persistent connections to Postfix's smtp-sink; timed at the sink. The
 * baseline, measured in the same run, is smtp-source → smtp-sink (the raw
 * limit of the C tools on this machine).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { systemClock } from '../src/core/clock.js';
import { EventBus } from '../src/core/events.js';
import { newId, newMessageId } from '../src/core/ids.js';
import type { NewMessage } from '../src/core/message.js';
import { loadConfig } from '../src/config/load.js';
import type { Store } from '../src/core/ports/store.js';
import { DeliveryWorker } from '../src/delivery/worker.js';
import { createLogger } from '../src/observability/logger.js';
import { TemplateEngine } from '../src/render/liquid.js';
import { openStore } from '../src/store/open-store.js';
import { makeTempDir } from '../test/helpers/sluice.js';
import { startSmtpSink } from './support.js';

const BODY = 'Hello {{ name }},\n' + 'x'.repeat(76).concat('\n').repeat(24);

/** `count` transactional messages of ~2 KB, accepted into the store's outbox in groups of 1,000. */
export async function fillOutbox(store: Store, count: number): Promise<void> {
  const now = Date.now();
  const accepts: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const id = newId('message');
    const message: NewMessage = {
      id,
      stream: 'transactional',
      from: { email: 'bench@example.test', name: 'Bench' },
      to: { email: `rcpt${i}@example.test` },
      subject: 'Benchmark {{ n }}',
      text: BODY,
      variables: { name: `R${i}`, n: i },
      headers: {},
      messageId: newMessageId(id, 'example.test'),
      createdAt: now,
      expiresAt: now + 86_400_000,
    };
    accepts.push(store.messages.accept(message));
    if (accepts.length >= 1000) await Promise.all(accepts.splice(0));
  }
  await Promise.all(accepts);
}

export interface OutboxRun {
  msgPerSec: number;
  cpuMsPerMessage: number;
  peakRssMb: number;
}

export async function outboxToSink(count: number, connections: number): Promise<OutboxRun> {
  return outboxToRelays(count, 1, connections);
}

/**
 * `relays` smtp-sink processes, each a relay of the default pool
 * (round-robin), each with `connectionsPerRelay` connections. Round-robin
 * gives each sink exactly count / relays messages (none is deferred against
 * smtp-sink), so each exits at its share and the run ends when all have.
 */
export async function outboxToRelays(
  count: number,
  relays: number,
  connectionsPerRelay: number,
): Promise<OutboxRun> {
  if (count % relays !== 0) throw new Error('count must be a multiple of relays');
  const dir = makeTempDir('sluice-bench-');
  const store = await openStore(`sqlite:${join(dir, 'bench.db')}`);
  try {
    await store.migrate();
    await fillOutbox(store, count);

    const sinks = await Promise.all(
      Array.from({ length: relays }, () => startSmtpSink(count / relays)),
    );
    const config = loadConfig({
      env: {
        SLUICE_RELAYS: JSON.stringify(
          sinks.map((sink, i) => ({
            name: `sink${i + 1}`,
            host: '127.0.0.1',
            port: sink.port,
            maxConnections: connectionsPerRelay,
          })),
        ),
        SLUICE_DELIVERY_CONCURRENCY: '1000',
        SLUICE_DELIVERY_CLAIM_BATCH: '500',
      },
      cwd: dir,
    });
    const worker = new DeliveryWorker({
      store,
      config,
      clock: systemClock,
      events: new EventBus(),
      logger: createLogger('warn'),
      templates: new TemplateEngine({ strict: false, renderTimeoutMs: 100 }),
      nodeId: 'bench',
    });
    let peakRss = process.memoryUsage().rss;
    const rssTimer = setInterval(
      () => (peakRss = Math.max(peakRss, process.memoryUsage().rss)),
      100,
    );
    const profiler = await startProfiler();
    const cpuBefore = process.cpuUsage();
    const started = process.hrtime.bigint();
    worker.start();
    let stall: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.all(sinks.map((sink) => sink.done)),
        new Promise((_, reject) => {
          // A deferred message would wait a minute for its retry: say so rather than hang.
          stall = setTimeout(
            () => reject(new Error('delivery stalled (a message deferred?)')),
            300_000,
          );
        }),
      ]);
    } finally {
      clearTimeout(stall);
      for (const sink of sinks) sink.kill();
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = process.cpuUsage(cpuBefore);
    await profiler?.stop();
    clearInterval(rssTimer);
    await worker.stop(10_000);
    return {
      msgPerSec: count / seconds,
      cpuMsPerMessage: (cpu.user + cpu.system) / 1000 / count,
      peakRssMb: peakRss / 1024 / 1024,
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * SLUICE_BENCH_CPU_PROFILE=<file>: a CPU profile of the delivery window only
 * (not the accepts that fill the outbox), for `node --cpu-prof`-style
 * analysis in Chrome DevTools. Each run overwrites the file.
 */
async function startProfiler(): Promise<{ stop(): Promise<void> } | undefined> {
  const file = process.env.SLUICE_BENCH_CPU_PROFILE;
  if (!file) return undefined;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 1000 });
  await session.post('Profiler.start');
  return {
    stop: async () => {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}
