import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { orderedIds } from './ids.js';

describe('orderedIds', () => {
  it('makes ascending, distinct ids of the kind, later sources sorting after earlier ones', () => {
    const next = orderedIds('contact', 1_700_000_000_000);
    const ids = Array.from({ length: 300 }, () => next());
    assert.ok(ids.every((id) => /^ct_[0-9a-f]{28}$/.test(id)));
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
    const later = orderedIds('contact', 1_700_000_000_001)();
    assert.ok(later > (ids[ids.length - 1] ?? ''));
  });
});
