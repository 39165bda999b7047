import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GroupCommit, GroupCommitClosedError, type ItemOutcome } from './group-commit.js';

/** A commit function that records its batches and doubles each number. */
function recorder(): {
  batches: number[][];
  commit(items: readonly number[]): ItemOutcome<number>[];
} {
  const batches: number[][] = [];
  return {
    batches,
    commit(items) {
      batches.push([...items]);
      return items.map((n) => ({ ok: true, value: n * 2 }));
    },
  };
}

describe('GroupCommit', () => {
  it('commits the items submitted in one turn as one batch, each caller getting its own result', async () => {
    const r = recorder();
    const batcher = new GroupCommit({ commit: (items: readonly number[]) => r.commit(items) });
    const results = await Promise.all([1, 2, 3].map((n) => batcher.submit(n)));
    assert.deepEqual(results, [2, 4, 6]);
    assert.deepEqual(r.batches, [[1, 2, 3]]);
  });

  it('gathers the items of separate I/O callbacks of one turn (setImmediate, not a microtask)', async () => {
    const r = recorder();
    const batcher = new GroupCommit({ commit: (items: readonly number[]) => r.commit(items) });
    const submitted: Promise<number>[] = [];
    await new Promise<void>((resolve) => {
      // Three separate callbacks of one loop phase, like the I/O callbacks of
      // three requests. (Immediates, not 0 ms timers: timers registered across
      // a millisecond boundary may fall into different turns on a loaded
      // machine; immediates queued together always run in one check phase,
      // while the batcher's own setImmediate waits for the next one.)
      for (const n of [1, 2, 3]) setImmediate(() => submitted.push(batcher.submit(n)));
      setImmediate(resolve);
    });
    await Promise.all(submitted);
    assert.deepEqual(r.batches, [[1, 2, 3]]);
  });

  it('splits at maxBatch', async () => {
    const r = recorder();
    const batcher = new GroupCommit({
      commit: (items: readonly number[]) => r.commit(items),
      maxBatch: 2,
    });
    await Promise.all([1, 2, 3, 4, 5].map((n) => batcher.submit(n)));
    assert.deepEqual(r.batches, [[1, 2], [3, 4], [5]]);
  });

  it('gathers the next batch while a commit is in flight', async () => {
    const batches: number[][] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const batcher = new GroupCommit({
      commit: async (items: readonly number[]) => {
        batches.push([...items]);
        if (batches.length === 1) await gate;
        return items.map((n): ItemOutcome<number> => ({ ok: true, value: n }));
      },
    });
    const first = batcher.submit(1);
    await new Promise((resolve) => setImmediate(resolve));
    const later = [2, 3, 4].map((n) => batcher.submit(n));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(batcher.pending, 3, 'they wait for the commit in flight');
    release();
    assert.deepEqual(await Promise.all([first, ...later]), [1, 2, 3, 4]);
    assert.deepEqual(batches, [[1], [2, 3, 4]]);
  });

  it('fails only the item whose outcome is an error', async () => {
    const batcher = new GroupCommit({
      commit: (items: readonly number[]) =>
        items.map((n): ItemOutcome<number> =>
          n === 2 ? { ok: false, error: new Error('two is taken') } : { ok: true, value: n },
        ),
    });
    const results = await Promise.allSettled([1, 2, 3].map((n) => batcher.submit(n)));
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
  });

  it('fails every caller of a batch whose commit throws, and carries on with the next', async () => {
    let calls = 0;
    const batcher = new GroupCommit({
      commit: (items: readonly number[]): ItemOutcome<number>[] => {
        calls += 1;
        if (calls === 1) throw new Error('disk full');
        return items.map((n) => ({ ok: true, value: n }));
      },
    });
    const failed = await Promise.allSettled([1, 2].map((n) => batcher.submit(n)));
    assert.ok(
      failed.every((r) => r.status === 'rejected' && String(r.reason).includes('disk full')),
    );
    assert.equal(await batcher.submit(3), 3);
  });

  it('rejects a batch whose commit returns the wrong number of outcomes', async () => {
    const batcher = new GroupCommit({ commit: (): ItemOutcome<number>[] => [] });
    await assert.rejects(batcher.submit(1), /0 outcomes for a batch of 1/);
  });

  it('drains on close, then refuses new items', async () => {
    const r = recorder();
    const batcher = new GroupCommit({ commit: (items: readonly number[]) => r.commit(items) });
    const pending = [batcher.submit(1), batcher.submit(2)];
    await batcher.close();
    assert.deepEqual(r.batches, [[1, 2]]);
    assert.deepEqual(await Promise.all(pending), [2, 4]);
    await assert.rejects(batcher.submit(3), GroupCommitClosedError);
    await batcher.close();
  });
});
