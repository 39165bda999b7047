/**
 * One step of bench/campaign in a process of its own, so that the sending
 * process's peak RSS and CPU are the campaign's alone. Prints JSON on its
 * last line.
 *
 *   node dist/bench/campaign-child.js seed <database url> <contacts>
 *     a list "bench" of N contacts (first_name, city, plan), written with the
 *     store's batch upsert; not timed.
 *   node dist/bench/campaign-child.js send <database url> <data dir> <sink ports, comma separated> <contacts>
 *     a Sluice node (startSluice: the API, the fan-out, the worker) with the
 *     sinks as relays of its pool; creates a campaign to the list over the
 *     API, sends it now, and times until every sink has its share (the
 *     parent watches the sinks; this process prints when told to stop).
 *     The delivery settings are the product's defaults (concurrency 200,
 *     claim batch 200): until 30 Nov 2026 the bench set 1,000 and 500, which
 *     the defaults needed to keep the relays busy (docs/delivery.md).
 *     SLUICE_BENCH_HEAP_GROWTH_PERCENT sets the node's `node.heapGrowthPercent`
 *     (default: the product's), e.g. 0 to leave the heap to V8.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { loadConfig } from '../src/config/load.js';
import { orderedIds } from '../src/core/ids.js';
import type { ContactUpsert } from '../src/core/ports/store.js';
import { startSluice } from '../src/main.js';
import { createLogger } from '../src/observability/logger.js';
import { openStore } from '../src/store/open-store.js';
import { CAMPAIGN_SUBJECT, CAMPAIGN_TEXT } from './campaign-content.js';
import { firstDeliveryWatcher } from './campaign-watch.js';

const ADMIN_KEY = 'sk_bench_0123456789abcdefghijklmnop';
const CITIES = ['Oslo', 'Lyon', 'Porto', 'Kyoto', 'Austin'];
const PLANS = ['free', 'pro', 'team'];

async function seed(url: string, contacts: number): Promise<void> {
  const store = await openStore(url, { poolSize: 2 });
  try {
    await store.migrate();
    const at = Date.now();
    const list = await store.lists.create({ id: 'lst_bench', name: 'bench', description: '', at });
    const nextId = orderedIds('contact', at);
    let batch: ContactUpsert[] = [];
    for (let i = 0; i < contacts; i++) {
      batch.push({
        id: nextId(),
        email: `user${i}@example${i % 97}.test`,
        attributes: { first_name: `First${i}`, city: CITIES[i % 5], plan: PLANS[i % 3] },
        at,
      });
      if (batch.length === 5000 || i === contacts - 1) {
        const last = i === contacts - 1;
        await store.contacts.upsertMany(batch, {
          listId: list.id,
          durability: last ? 'durable' : 'deferred',
        });
        batch = [];
      }
    }
    console.log(JSON.stringify({ seeded: contacts }));
  } finally {
    await store.close();
  }
}

async function send(url: string, dir: string, ports: number[], contacts: number): Promise<void> {
  const file = join(dir, 'sluice.config.json');
  const heapGrowthPercent = process.env.SLUICE_BENCH_HEAP_GROWTH_PERCENT;
  writeFileSync(
    file,
    JSON.stringify({
      http: { port: 0 },
      database: { url },
      dataDir: dir,
      auth: { adminApiKey: ADMIN_KEY },
      relays: ports.map((port, i) => ({
        name: `sink${i + 1}`,
        host: '127.0.0.1',
        port,
        maxConnections: 3,
      })),
      ...(heapGrowthPercent === undefined
        ? {}
        : { node: { heapGrowthPercent: Number(heapGrowthPercent) } }),
    }),
  );
  const config = loadConfig({ file, env: {} });
  const sluice = await startSluice(config, { logger: createLogger('warn') });
  const api = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(sluice.url + path, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text ? (JSON.parse(text) as unknown) : undefined;
  };
  try {
    const created = (await api('POST', '/v1/campaigns', {
      name: 'bench',
      from: { email: 'news@example.test', name: 'Bench' },
      subject: CAMPAIGN_SUBJECT,
      text: CAMPAIGN_TEXT,
      variables: { company: 'Sluice' },
      lists: ['lst_bench'],
    })) as { id: string };
    const watch = firstDeliveryWatcher(url);
    const cpuBefore = process.cpuUsage();
    // How long the event loop went without turning (resolution 10 ms: the
    // figure is the delay beyond it): a statement that holds the one thread
    // stalls every socket and request of the node for as long.
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    // Where the memory goes (docs/benchmarks.md): the V8 heap's and the
    // Buffers' share at the RSS peak, and the garbage collections.
    const peak = { rss: 0, heap: 0, external: 0 };
    const sample = (): void => {
      const memory = process.memoryUsage();
      if (memory.rss <= peak.rss) return;
      Object.assign(peak, { rss: memory.rss, heap: memory.heapTotal, external: memory.external });
    };
    sample();
    const rssTimer = setInterval(sample, 100);
    const gc = { full: 0, young: 0, pauseMs: 0 };
    const gcObserver = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        // A GC entry's detail (NodeGCPerformanceDetail; not in this @types/node's PerformanceEntry).
        const { kind } = (entry as unknown as { detail: { kind: number } }).detail;
        if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gc.full += 1;
        if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gc.young += 1;
        gc.pauseMs += entry.duration;
      }
    });
    gcObserver.observe({ entryTypes: ['gc'] });
    const started = Date.now();
    await api('POST', `/v1/campaigns/${created.id}/send`);
    // Tell the parent the clock started; it answers on stdin when the sinks are done.
    console.log(JSON.stringify({ started }));
    await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
    // An open stdin would keep this process alive after the node stops.
    process.stdin.destroy();
    const cpu = process.cpuUsage(cpuBefore);
    loopDelay.disable();
    clearInterval(rssTimer);
    gcObserver.disconnect();
    const firstDeliveryAt = await watch.stop();
    console.log(
      JSON.stringify({
        contacts,
        started,
        firstDeliveryMs: firstDeliveryAt === undefined ? null : firstDeliveryAt - started,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        peakRssMb: Math.max(peak.rss, process.resourceUsage().maxRSS * 1024) / 2 ** 20,
        atPeak: { heapMb: peak.heap / 2 ** 20, externalMb: peak.external / 2 ** 20 },
        gc: { ...gc },
        loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
        loopDelayMaxMs: loopDelay.max / 1e6,
      }),
    );
  } finally {
    await sluice.stop();
  }
}

const [mode, url = '', ...rest] = process.argv.slice(2);
if (mode === 'seed') await seed(url, Number(rest[0]));
else if (mode === 'send')
  await send(url, rest[0] ?? '.', (rest[1] ?? '').split(',').map(Number), Number(rest[2]));
else throw new Error('usage: campaign-child.js seed|send …');
