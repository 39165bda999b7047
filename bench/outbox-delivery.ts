/**
 * Outbox to relay: N messages already accepted in a fresh SQLite outbox, the
 * delivery worker claims, renders (Liquid), builds MIME and sends them over
 * persistent connections to Postfix's smtp-sink; timed at the sink. The
 * baseline, measured in the same run, is smtp-source → smtp-sink (the raw
 * limit of the C tools on this machine).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../src/core/clock.js';
import { EventBus } from '../src/core/events.js';
import { newId, newMessageId } from '../src/core/ids.js';
import type { NewMessage } from '../src/core/message.js';
import { loadConfig } from '../src/config/load.js';
import { DeliveryWorker } from '../src/delivery/worker.js';
import { createLogger } from '../src/observability/logger.js';
import { TemplateEngine } from '../src/render/liquid.js';
import { openStore } from '../src/store/open-store.js';
import { makeTempDir } from '../test/helpers/sluice.js';
import { startSmtpSink } from './support.js';

const BODY = 'Hello {{ name }},\n' + 'x'.repeat(76).concat('\n').repeat(24);

export interface OutboxRun {
  msgPerSec: number;
  cpuMsPerMessage: number;
  peakRssMb: number;
}

export async function outboxToSink(count: number, connections: number): Promise<OutboxRun> {
  const dir = makeTempDir('sluice-bench-');
  const store = await openStore(`sqlite:${join(dir, 'bench.db')}`);
  try {
    await store.migrate();
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

    const sink = await startSmtpSink(count);
    const config = loadConfig({
      env: {
        SLUICE_RELAYS: JSON.stringify([
          { name: 'sink', host: '127.0.0.1', port: sink.port, maxConnections: connections },
        ]),
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
    const cpuBefore = process.cpuUsage();
    const started = process.hrtime.bigint();
    worker.start();
    await sink.done;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = process.cpuUsage(cpuBefore);
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
