import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSluiceError } from './errors.js';
import { isoDateToMs, parseSegmentCondition, segmentIssues } from './segment.js';

const nested = (depth: number): unknown =>
  depth === 0 ? { inList: 'l' } : { not: nested(depth - 1) };

const GOOD: unknown[] = [
  { and: [] },
  { or: [{ attribute: 'plan', op: 'eq', value: 'pro' }, { inList: 'lst_1' }] },
  { not: { attribute: 'age', op: 'gt', value: 30 } },
  { attribute: 'vip', op: 'eq', value: true },
  { attribute: 'tags.primary', op: 'in', value: ['a', 1, false] },
  { attribute: 'city', op: 'contains', value: 'Par' },
  { attribute: 'x-y_z', op: 'exists' },
  { attribute: 'signup', op: 'before', value: '2024-05-01' },
  { attribute: 'signup', op: 'after', value: '2024-05-01T12:30:00.250+02:00' },
  { field: 'email', op: 'contains', value: '@example.com' },
  { field: 'status', op: 'in', value: ['active'] },
  { event: 'purchase' },
  { event: 'purchase', atLeast: 3, withinDays: 30 },
  { engagement: 'opened' },
  { engagement: 'clicked', campaign: 'cmp_1', atLeast: 2, withinDays: 30 },
  {
    and: [
      { engagement: 'opened', campaign: 'cmp_1', withinDays: 30 },
      { not: { engagement: 'clicked', campaign: 'cmp_1' } },
    ],
  },
  nested(9),
  { and: Array.from({ length: 99 }, () => ({ inList: 'l' })) },
];

/** [input, path, message fragment] */
const BAD: [unknown, string, string][] = [
  [null, 'conditions', 'must be an object'],
  [[], 'conditions', 'must be an object'],
  [{}, 'conditions', 'must hold one of'],
  [
    { opened: 'cmp_1' },
    'conditions',
    'must hold one of and, or, not, attribute, field, inList, event, engagement',
  ],
  [
    { engagement: 'viewed' },
    'conditions.engagement',
    'unknown engagement "viewed"; expected one of opened, clicked',
  ],
  [{ engagement: 'open' }, 'conditions.engagement', 'expected one of opened, clicked'],
  [{ engagement: ['opened'] }, 'conditions.engagement', 'unknown engagement'],
  [{ engagement: 'opened', campaign: 42 }, 'conditions.campaign', 'must be a string of 1 to 200'],
  [{ engagement: 'opened', campaign: null }, 'conditions.campaign', 'must be a string'],
  [{ engagement: 'opened', campaign: '' }, 'conditions.campaign', 'must be a string'],
  [{ engagement: 'opened', campaign: 'c'.repeat(201) }, 'conditions.campaign', '1 to 200'],
  [{ engagement: 'opened', atLeast: 0 }, 'conditions.atLeast', 'integer from 1 to 1000000'],
  [{ engagement: 'opened', atLeast: '2' }, 'conditions.atLeast', 'integer from 1'],
  [{ engagement: 'clicked', withinDays: 3651 }, 'conditions.withinDays', 'integer from 1 to 3650'],
  [
    { engagement: 'opened', campain: 'cmp_1' },
    'conditions.campain',
    'unknown key; expected engagement, campaign, atLeast, withinDays',
  ],
  [
    { and: [{ inList: 'a' }, { not: { engagement: 'clicked', campaign: 'x', at: 1 } }] },
    'conditions.and[1].not.at',
    'unknown key',
  ],
  [
    { and: [{ inList: 'a' }, { inList: 'b' }, { attribute: 'plan', op: 'like', value: 'x' }] },
    'conditions.and[2].op',
    'unknown operator "like"; expected one of eq, ne, in, contains, gt, lt, exists, before, after',
  ],
  [{ and: { inList: 'a' } }, 'conditions.and', 'must be an array'],
  [{ or: [{ not: 5 }] }, 'conditions.or[0].not', 'must be an object'],
  [{ attribute: 'a"b', op: 'exists' }, 'conditions.attribute', 'letters, digits'],
  [{ attribute: '$.a', op: 'exists' }, 'conditions.attribute', 'letters, digits'],
  [{ attribute: 'x'.repeat(65), op: 'exists' }, 'conditions.attribute', '1 to 64'],
  [{ attribute: 'plan', op: 'eq' }, 'conditions.value', 'is required'],
  [{ attribute: 'plan', op: 'eq', value: null }, 'conditions.value', 'string, number or boolean'],
  [{ attribute: 'plan', op: 'eq', value: { a: 1 } }, 'conditions.value', 'string, number'],
  [{ attribute: 'plan', op: 'exists', value: 1 }, 'conditions.value', 'unknown key'],
  [{ attribute: 'plan', op: 'in', value: [] }, 'conditions.value', 'array of 1 to 100'],
  [{ attribute: 'plan', op: 'in', value: ['a', [1]] }, 'conditions.value[1]', 'must be'],
  [{ attribute: 'age', op: 'gt', value: '30' }, 'conditions.value', 'must be a number'],
  [{ attribute: 'city', op: 'contains', value: '' }, 'conditions.value', '1 to 1000'],
  [{ attribute: 'd', op: 'before', value: '2024-02-30' }, 'conditions.value', 'ISO 8601'],
  [{ attribute: 'd', op: 'after', value: 'yesterday' }, 'conditions.value', 'ISO 8601'],
  [{ field: 'name', op: 'eq', value: 'x' }, 'conditions.field', 'expected one of email, status'],
  [
    { field: 'email', op: 'gt', value: 'x' },
    'conditions.op',
    'expected one of eq, ne, in, contains',
  ],
  [{ field: 'status', op: 'eq', value: 1 }, 'conditions.value', 'must be a string'],
  [{ inList: '' }, 'conditions.inList', '1 to 200'],
  [{ inList: 'a', extra: 1 }, 'conditions.extra', 'unknown key'],
  [{ event: 'buy', atLeast: 0 }, 'conditions.atLeast', 'integer from 1'],
  [{ event: 'buy', withinDays: 1.5 }, 'conditions.withinDays', 'integer from 1 to 3650'],
  [nested(10), 'conditions' + '.not'.repeat(10), 'nested too deep'],
  [
    { and: Array.from({ length: 100 }, () => ({ inList: 'l' })) },
    'conditions.and[99]',
    'too many conditions',
  ],
];

describe('segment conditions', () => {
  it('accepts the good ones', () => {
    for (const input of GOOD) assert.deepEqual(segmentIssues(input), [], JSON.stringify(input));
  });

  it('names the path of every bad one', () => {
    for (const [input, path, fragment] of BAD) {
      const issues = segmentIssues(input);
      const issue = issues.find((i) => i.path === path);
      assert.ok(
        issue,
        `${JSON.stringify(input)}: no issue at ${path} in ${JSON.stringify(issues)}`,
      );
      assert.ok(issue.message.includes(fragment), `${path}: ${issue.message}`);
    }
  });

  it('throws ERR_SEGMENT_INVALID with the path as field', () => {
    assert.throws(
      () => parseSegmentCondition({ and: [{ attribute: 'p', op: 'like', value: 1 }] }),
      (error: unknown) =>
        isSluiceError(error) &&
        error.code === 'ERR_SEGMENT_INVALID' &&
        error.details.field === 'conditions.and[0].op' &&
        error.message.startsWith('conditions.and[0].op: unknown operator "like"'),
    );
  });

  it('reads ISO dates as UTC unless an offset says otherwise', () => {
    assert.equal(isoDateToMs('2024-01-02'), Date.UTC(2024, 0, 2));
    assert.equal(isoDateToMs('2024-01-02T03:04'), Date.UTC(2024, 0, 2, 3, 4));
    assert.equal(isoDateToMs('2024-01-02T03:04:05.5Z'), Date.UTC(2024, 0, 2, 3, 4, 5, 500));
    assert.equal(isoDateToMs('2024-01-02T23:30:00-02:00'), Date.UTC(2024, 0, 3, 1, 30));
    assert.equal(isoDateToMs('2024-02-29'), Date.UTC(2024, 1, 29));
    for (const bad of ['2023-02-29', '2024-13-01', '2024-01-02T24:00', '20240102', 'x']) {
      assert.equal(isoDateToMs(bad), undefined, bad);
    }
  });
});
