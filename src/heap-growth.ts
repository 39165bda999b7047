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
