/**
 * One outbox → relays run in a process of its own, so that its peak RSS is
 * the delivery's and not that of every benchmark run before it in
 * `npm run bench`. Prints the OutboxRun as JSON on its last line.
 *
 *   node dist/bench/delivery-child.js <messages> <relays> <connections per relay>
 */
import { outboxToRelays } from './outbox-delivery.js';

const [count = 20_000, relays = 4, perRelay = 3] = process.argv.slice(2).map(Number);
const run = await outboxToRelays(count, relays, perRelay);
// maxRSS is in KiB: the high-water mark of the whole process, sampled by the kernel.
const peakRssMb = Math.max(run.peakRssMb, process.resourceUsage().maxRSS / 1024);
console.log(JSON.stringify({ ...run, peakRssMb }));
