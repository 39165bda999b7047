/**
 * The Sluice node of bench/triggers.ts, in a process of its own so that its
 * event loop is not shared with the load generator and the relays. Prints
 * `{"url": …}` once it listens; on SIGTERM prints its CPU time and the
 * event loop's delays (`{"cpuMs": …, "loopDelayMs": …}`) and stops cleanly.
 * SIGUSR2 marks the start of the measured phase: both then count from there.
 *
 *   node dist/bench/triggers-node.js <config file>
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadConfig } from '../src/config/load.js';
import { startSluice } from '../src/main.js';
import { createLogger } from '../src/observability/logger.js';

const file = process.argv[2];
if (!file) throw new Error('usage: triggers-node.js <config file>');
const sluice = await startSluice(loadConfig({ file, env: {} }), {
  logger: createLogger('warn'),
});
console.log(JSON.stringify({ url: sluice.url }));
// How long the event loop was held (every step of an event waits behind it).
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
let cpuFrom: NodeJS.CpuUsage | undefined;
process.on('SIGUSR2', () => {
  cpuFrom = process.cpuUsage();
  loop.reset();
});
process.once('SIGTERM', () => {
  // The node's own CPU (since the phase mark), for CPU per event in the report.
  const cpu = process.cpuUsage(cpuFrom);
  loop.disable();
  console.log(
    JSON.stringify({
      cpuMs: (cpu.user + cpu.system) / 1000,
      loopDelayMs: {
        p50: loop.percentile(50) / 1e6,
        p99: loop.percentile(99) / 1e6,
        max: loop.max / 1e6,
      },
    }),
  );
  void sluice.stop().then(() => process.exit(0));
});
