/**
 * The node's heap policy (config `node.heapGrowthPercent`, docs/operations.md
 * "Memory").
 *
 * A sending node makes garbage fast, and much of it (each message's row,
 * the promises and closures of its dispatch) lives just long enough,
 * waiting for a connection and then for its settlement batch, to be
 * promoted to V8's old generation, where only a full collection frees it.
 * After each full collection V8 sets the next one's trigger at a multiple
 * of what survived, chosen from its heap limit: with a large limit (a
 * machine with 8 GB of memory or more), up to 4×. For a campaign that is
 * ~100 MiB of garbage over a ~45 MiB live heap (docs/benchmarks.md).
 * `--heap-growing-percent` replaces that multiple with 1 + percent/100; V8
 * reads it at every full collection, so setting it on a running process
 * takes effect from the next one. It is a soft policy: more frequent
 * collections, never an out-of-memory crash (a hard limit,
 * `--max-old-space-size`, kills a node whose live heap needs more).
 */
import { setFlagsFromString } from 'node:v8';

/** Applies the policy to the whole process; 0 gives the choice back to V8. */
export function applyHeapGrowth(percent: number): void {
  setFlagsFromString(`--heap-growing-percent=${Math.floor(percent)}`);
}

/**
 * Turns off V8's allocation-site pretenuring for the rest of the process.
 * V8 watches how many of the objects made by each object or array literal
 * survive a scavenge and, when at least 85 % of them do while the young
 * generation is at its largest, makes that literal allocate straight in
 * the old generation from then on: there is no way back while the old
 * generation keeps most of what it holds. Under sustained event traffic
 * the first second of load is such a moment (a cold JIT, a backlog: events
 * wait for ~100 ms), and a few hot-path literals are decided then; every
 * event afterwards leaves ~1.7 KiB in the old generation that only a full
 * collection frees (bench/triggers at 1,000 events/s: 3.4 instead of
 * 1.7 MiB/s of growth, a full collection every ~2.5 s instead of ~5 s, in
 * the runs whose warm-up was slow, on a busy machine). Without it, such objects
 * die young in a scavenge; truly long-lived ones are promoted after two.
 * V8 reads the flag when it digests the feedback at each scavenge, so
 * setting it on a running process stops new decisions from then on.
 */
export function stopPretenuring(): void {
  setFlagsFromString('--no-allocation-site-pretenuring');
}
