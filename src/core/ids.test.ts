import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newId, orderedIds } from './ids.js';

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

describe('newId', () => {
  it('makes 32 hex digits, the time first: ids of later milliseconds sort after', () => {
    const first = newId('message', 1_700_000_000_000);
    const second = newId('message', 1_700_000_000_001);
    assert.match(first, /^msg_[0-9a-f]{32}$/);
    assert.ok(first < second);
    assert.equal(first.slice(4, 16), (1_700_000_000_000).toString(16).padStart(12, '0'));
    const same = Array.from({ length: 1000 }, () => newId('event', 1));
    assert.equal(
      new Set(same).size,
      same.length,
      '80 random bits keep ids of one millisecond apart',
    );
  });
});
