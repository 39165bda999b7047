import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRelayPicker, type RelayCandidate } from './relay-selection.js';

function candidates(names: string[], weights: number[] = []): RelayCandidate[] {
  return names.map((name, i) => ({ name, weight: weights[i] ?? 1, inFlight: 0 }));
}

function tally(picks: (string | undefined)[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const p of picks) if (p) counts.set(p, (counts.get(p) ?? 0) + 1);
  return counts;
}

describe('relay selection', () => {
  it('returns undefined without candidates, for every strategy', () => {
    for (const s of ['round-robin', 'least-connections', 'weighted', 'hash'] as const) {
      assert.equal(createRelayPicker(s).pick([], 'example.com'), undefined);
    }
  });

  it('round-robin spreads evenly and in turn', () => {
    const picker = createRelayPicker('round-robin');
    const set = candidates(['a', 'b', 'c']);
    const picks = Array.from({ length: 9_000 }, () => picker.pick(set, 'x'));
    assert.deepEqual(picks.slice(0, 4), ['a', 'b', 'c', 'a']);
    for (const n of tally(picks).values()) assert.equal(n, 3_000);
  });

  it('least-connections picks the least loaded, ties by order', () => {
    const picker = createRelayPicker('least-connections');
    const set: RelayCandidate[] = [
      { name: 'a', weight: 1, inFlight: 5 },
      { name: 'b', weight: 1, inFlight: 2 },
      { name: 'c', weight: 1, inFlight: 2 },
    ];
    assert.equal(picker.pick(set, 'x'), 'b');
    set[1] = { name: 'b', weight: 1, inFlight: 3 };
    assert.equal(picker.pick(set, 'x'), 'c');
    const even = candidates(['a', 'b']);
    assert.equal(picker.pick(even, 'x'), 'a');
  });

  it('least-connections balances when callers feed back the load', () => {
    const picker = createRelayPicker('least-connections');
    const set = candidates(['a', 'b', 'c', 'd']);
    for (let i = 0; i < 1_000; i++) {
      const name = picker.pick(set, 'x');
      const chosen = set.find((c) => c.name === name);
      assert.ok(chosen);
      chosen.inFlight++;
    }
    for (const c of set) assert.equal(c.inFlight, 250);
  });

  it('weighted 3:1 gives 75 % ± 2 % over 10,000 picks, smoothly', () => {
    const picker = createRelayPicker('weighted');
    const set = candidates(['heavy', 'light'], [3, 1]);
    const picks = Array.from({ length: 10_000 }, () => picker.pick(set, 'x'));
    const share = (tally(picks).get('heavy') ?? 0) / picks.length;
    assert.ok(Math.abs(share - 0.75) <= 0.02, `heavy share ${share}`);
    // Smooth: never more than three heavy picks in a row.
    assert.ok(!picks.join(',').includes('heavy,heavy,heavy,heavy'));
  });

  it('weighted 5:1:1 interleaves as nginx does', () => {
    const picker = createRelayPicker('weighted');
    const set = candidates(['a', 'b', 'c'], [5, 1, 1]);
    const picks = Array.from({ length: 7 }, () => picker.pick(set, 'x'));
    assert.deepEqual(picks, ['a', 'a', 'b', 'a', 'c', 'a', 'a']);
  });

  it('hash keeps a domain on one relay and spreads domains', () => {
    const picker = createRelayPicker('hash');
    const set = candidates(['r1', 'r2', 'r3', 'r4']);
    assert.equal(picker.pick(set, 'example.com'), picker.pick(set, 'example.com'));
    const picks = Array.from({ length: 10_000 }, (_, i) => picker.pick(set, `d${i}.example`));
    for (const [name, n] of tally(picks)) {
      assert.ok(n > 1_500 && n < 3_500, `${name} got ${n} of 10,000`);
    }
  });

  it('hash: removing one of four relays moves only its domains, ≤ 30 %', () => {
    const picker = createRelayPicker('hash');
    const four = candidates(['r1', 'r2', 'r3', 'r4']);
    const three = candidates(['r1', 'r2', 'r4']);
    const domains = Array.from({ length: 10_000 }, (_, i) => `customer-${i}.example`);
    const before = domains.map((d) => picker.pick(four, d));
    const after = domains.map((d) => picker.pick(three, d));
    let moved = 0;
    for (let i = 0; i < domains.length; i++) {
      if (before[i] !== after[i]) {
        moved++;
        assert.equal(before[i], 'r3', `${domains[i]} moved from ${before[i]}`);
      }
    }
    assert.ok(moved / domains.length <= 0.3, `moved ${moved}`);
    assert.equal(moved, before.filter((r) => r === 'r3').length);
    // Order of the candidates does not matter.
    assert.deepEqual(
      domains.slice(0, 100).map((d) => picker.pick([...four].reverse(), d)),
      before.slice(0, 100),
    );
  });
});
