import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';

/**
 * A process of its own per setting (the flag is process-wide): a live set
 * of ~400,000 small objects, a quarter of it replaced continuously, so
 * that replaced objects have been promoted to the old generation and only
 * a full collection frees them. Prints the old generation's peak use (MiB).
 */
const CHURN = `
import { getHeapSpaceStatistics } from 'node:v8';
const { applyHeapGrowth } = await import(process.argv[1]);
applyHeapGrowth(Number(process.argv[2]));
const kept = Array.from({ length: 100_000 }, (_, i) => ({ i, s: 'kept ' + i }));
const ring = new Array(300_000);
let peak = 0;
for (let i = 0; i < 2_000_000; i++) {
  ring[i % ring.length] = { i, s: 'replaced ' + i };
  if (i % 50_000 === 0) {
    const old = getHeapSpaceStatistics().find((s) => s.space_name === 'old_space');
    peak = Math.max(peak, old?.space_used_size ?? 0);
  }
}
console.log(peak / 2 ** 20, kept.length);
`;

function peakOldSpaceMb(percent: number): number {
  const module = new URL('./heap-growth.js', import.meta.url).href;
  const out = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', CHURN, module, String(percent)],
    { encoding: 'utf8' },
  );
  return Number(out.split(' ')[0]);
}

describe('applyHeapGrowth', () => {
  it('bounds how far the old generation grows past its live objects between full collections', () => {
    // ~40 MiB live. 300 %: the next full collection at ~4× what survived
    // the last (~125 – 175 MiB measured); 10 %: at ~1.1× (~65 – 75 MiB).
    const tight = peakOldSpaceMb(10);
    const loose = peakOldSpaceMb(300);
    assert.ok(tight < 100, `10 %: old generation peaked at ${tight.toFixed(0)} MiB`);
    assert.ok(
      loose > tight * 1.4,
      `300 % (${loose.toFixed(0)} MiB) should let the heap grow well past 10 % (${tight.toFixed(0)} MiB)`,
    );
  });
});
