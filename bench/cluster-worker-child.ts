/**
 * One delivery node for bench/cluster-delivery.ts: a DeliveryWorker on the
 * shared PostgreSQL outbox, in a process of its own (a node is one event
 * loop: several nodes on one machine are several processes). Protocol on
 * stdin/stdout, one line each: prints `ready`; `start` starts the worker;
 * `stop` stops it and prints {cpuMs, peakRssMb} as JSON, then exits.
 *
 *   node dist/bench/cluster-worker-child.js <database url> <sink ports, comma-separated> <connections per relay>
 */
import { createInterface } from 'node:readline';
import { hostname } from 'node:os';
import { systemClock } from '../src/core/clock.js';
import { EventBus } from '../src/core/events.js';
import { loadConfig } from '../src/config/load.js';
import { DeliveryWorker } from '../src/delivery/worker.js';
import { createLogger } from '../src/observability/logger.js';
import { TemplateEngine } from '../src/render/liquid.js';
import { openStore } from '../src/store/open-store.js';

const [databaseUrl = '', ports = '', perRelay = '3'] = process.argv.slice(2);
const config = loadConfig({
  env: {
    SLUICE_DATABASE_URL: databaseUrl,
    SLUICE_RELAYS: JSON.stringify(
      ports.split(',').map((port, i) => ({
        name: `sink${i + 1}`,
        host: '127.0.0.1',
        port: Number(port),
        maxConnections: Number(perRelay),
      })),
    ),
    SLUICE_DELIVERY_CONCURRENCY: '1000',
    SLUICE_DELIVERY_CLAIM_BATCH: '500',
    SLUICE_DELIVERY_POLL_INTERVAL: '50ms',
  },
});
const store = await openStore(databaseUrl, { poolSize: config.database.poolSize });
const worker = new DeliveryWorker({
  store,
  config,
  clock: systemClock,
  events: new EventBus(),
  logger: createLogger('warn'),
  templates: new TemplateEngine({ strict: false, renderTimeoutMs: 100 }),
  nodeId: `${hostname()}:${process.pid}`,
});
let cpuBefore = process.cpuUsage();
console.log('ready');
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'start') {
    cpuBefore = process.cpuUsage();
    worker.start();
  } else if (line === 'stop') {
    const cpu = process.cpuUsage(cpuBefore);
    await worker.stop(10_000);
    await store.close();
    console.log(
      JSON.stringify({
        cpuMs: (cpu.user + cpu.system) / 1000,
        peakRssMb: process.resourceUsage().maxRSS / 1024,
      }),
    );
    break;
  }
}
