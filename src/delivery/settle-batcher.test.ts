import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Settlement } from '../core/outcome.js';
import { SettleBatcher } from './settle-batcher.js';

function settlement(id: string): Settlement {
  return { id, leaseOwner: 'n1', status: 'delivered', at: 1 };
}

describe('SettleBatcher', () => {
  it('groups settlements added together into one store call', async () => {
    const calls: string[][] = [];
    const batcher = new SettleBatcher({
      settle: (batch) => {
        calls.push(batch.map((s) => s.id));
        return Promise.resolve(batch.map((s) => s.id));
      },
    });
    const outcomes = await Promise.all(['a', 'b', 'c'].map((id) => batcher.add(settlement(id))));
    assert.deepEqual(outcomes, ['applied', 'applied', 'applied']);
    assert.deepEqual(calls, [['a', 'b', 'c']]);
    await batcher.close();
  });

  it('flushes at maxBatch without waiting, one flush at a time, in order', async () => {
    const calls: string[][] = [];
    let running = 0;
    let maxRunning = 0;
    const batcher = new SettleBatcher({
      maxBatch: 2,
      maxDelayMs: 10_000,
      settle: async (batch) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        calls.push(batch.map((s) => s.id));
        return batch.map((s) => s.id);
      },
    });
    const started = Date.now();
    await Promise.all(
      ['a', 'b', 'c', 'd', 'e'].map((id) => batcher.add(settlement(id))).slice(0, 4),
    );
    assert.ok(Date.now() - started < 1_000, 'did not wait for maxDelayMs');
    await batcher.close();
    assert.deepEqual(calls.flat(), ['a', 'b', 'c', 'd', 'e']);
    assert.ok(calls.every((c) => c.length <= 2));
    assert.equal(maxRunning, 1);
  });

  it('reports skipped settlements (lease taken over)', async () => {
    const batcher = new SettleBatcher({
      settle: (batch) => Promise.resolve(batch.filter((s) => s.id !== 'lost').map((s) => s.id)),
    });
    const [kept, lost] = await Promise.all([
      batcher.add(settlement('kept')),
      batcher.add(settlement('lost')),
    ]);
    assert.equal(kept, 'applied');
    assert.equal(lost, 'skipped');
    await batcher.close();
  });

  it('keeps settlements through store errors and retries them', async () => {
    let failures = 2;
    const errors: number[] = [];
    const batcher = new SettleBatcher({
      retryDelayMs: 5,
      settle: (batch) => {
        if (failures-- > 0) return Promise.reject(new Error('database is locked'));
        return Promise.resolve(batch.map((s) => s.id));
      },
      onError: (_e, size) => errors.push(size),
    });
    assert.equal(await batcher.add(settlement('a')), 'applied');
    assert.deepEqual(errors, [1, 1]);
    await batcher.close();
  });

  it('close() gives up at its deadline while the store fails', async () => {
    const batcher = new SettleBatcher({
      retryDelayMs: 5,
      settle: () => Promise.reject(new Error('down')),
    });
    const pending = batcher.add(settlement('a'));
    await batcher.close(Date.now() + 50);
    assert.equal(await pending, 'unsettled');
    assert.equal(await batcher.add(settlement('b')), 'unsettled');
  });
});
