/**
 * The claim reads its rows as arrays (./messages.ts): pickedRow() must put
 * each value under the name of the column the pick selects at its index.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PICKED_COLUMNS, pickedRow } from './messages.js';

describe('sqlite claim rows', () => {
  it('pickedRow names each value as PICKED_COLUMNS does, and nothing else', () => {
    const row = pickedRow(PICKED_COLUMNS) as unknown as Record<string, unknown>;
    assert.deepEqual(
      Object.entries(row),
      PICKED_COLUMNS.map((column) => [column, column]),
    );
  });
});
