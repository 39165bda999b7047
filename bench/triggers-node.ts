/**
 * The Sluice node of bench/triggers.ts, in a process of its own so that its
 * event loop is not shared with the load generator and the relays. Prints
 * `{"url": …}` once it listens; stops cleanly on SIGTERM.
 *
 *   node dist/bench/triggers-node.js <config file>
 */
import { loadConfig } from '../src/config/load.js';
import { startSluice } from '../src/main.js';
import { createLogger } from '../src/observability/logger.js';

const file = process.argv[2];
if (!file) throw new Error('usage: triggers-node.js <config file>');
const sluice = await startSluice(loadConfig({ file, env: {} }), {
  logger: createLogger('warn'),
});
console.log(JSON.stringify({ url: sluice.url }));
process.once('SIGTERM', () => {
  void sluice.stop().then(() => process.exit(0));
});
