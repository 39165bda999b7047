/**
 * Segments on a real database: ~50 contacts with varied attributes, lists
 * and events, and every operator checked against the expected contact set.
 * The expected sets come from `matches`, a plain-JS statement of the
 * semantics in docs/segments.md, plus hand-written sets for the cases where
 * the dialects could most easily drift (JSON types, dates with offsets).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Contact, ContactStatus, Store } from '../../core/ports/store.js';
import { isoDateToMs, type SegmentCondition } from '../../core/segment.js';
import { DAY, rejectsWith, T0, withStore, type MakeStore } from './fixtures.js';

const NOW = T0 + 365 * DAY;
const COUNT = 50;
const pad = (i: number): string => String(i).padStart(2, '0');
const idOf = (i: number): string => `ct_${pad(i)}`;

interface Fixture {
  id: string;
  email: string;
  status: ContactStatus;
  attributes: Record<string, unknown>;
  lists: string[];
  /** Days ago of each event, by name. */
  events: Record<string, number[]>;
}

const DATES = (i: number): unknown => {
  const dd = pad(1 + (i % 28));
  switch (i % 4) {
    case 0:
      return `2024-01-${dd}`;
    case 1:
      return `2024-01-${dd}T10:00:00Z`;
    case 2:
      // 23:30 at -02:00 is the next day in UTC.
      return `2024-01-${dd}T23:30:00-02:00`;
    default:
      return i % 8 === 3 ? '2024-02-30' : 'soon';
  }
};

function fixture(i: number): Fixture {
  const attributes: Record<string, unknown> = {
    age: i % 5 === 4 ? String(20 + i) : 20 + i,
    city: ['Paris', 'Saint-Paris-sur-Mer', 'paris', 'Berlin'][i % 4],
    signup: DATES(i),
  };
  if (i % 10 !== 9) attributes.plan = ['free', 'pro', 'team'][i % 3];
  if (i % 4 === 0) attributes.score = i / 2 + 0.5;
  if (i % 6 === 0) attributes.vip = true;
  if (i % 6 === 1) attributes.vip = false;
  if (i % 9 === 0) attributes['a.b'] = 'dot';
  if (i % 9 === 1) attributes.a = { b: 'dot' };
  if (i === 7) attributes.quote = `it's "quoted" \\ '; DROP TABLE contacts; --`;
  const lists = [...(i % 2 === 0 ? ['lst_even'] : []), ...(i % 5 === 0 ? ['lst_five'] : [])];
  const events: Record<string, number[]> = {};
  if (i % 3 === 0) events.purchase = Array.from({ length: (i % 4) + 1 }, (_, j) => j * 10 + 1);
  if (i % 2 === 1) events.signup = [100];
  return {
    id: idOf(i),
    email: i % 7 === 0 ? `vip${pad(i)}@example.test` : `user${pad(i)}@example.test`,
    status: i % 11 === 0 ? 'unsubscribed' : i % 13 === 0 ? 'bounced' : 'active',
    attributes,
    lists,
    events,
  };
}

const FIXTURES = Array.from({ length: COUNT }, (_, i) => fixture(i));

async function load(store: Store): Promise<void> {
  await store.contacts.upsertMany(
    FIXTURES.map((f) => ({
      id: f.id,
      email: f.email,
      status: f.status,
      attributes: f.attributes,
      at: T0,
    })),
  );
  for (const listId of ['lst_even', 'lst_five']) {
    await store.lists.create({ id: listId, name: listId, description: '', at: T0 });
    const members = FIXTURES.filter((f) => f.lists.includes(listId)).map((f) => f.id);
    await store.lists.addMembers(listId, members, T0);
  }
  const events = FIXTURES.flatMap((f) =>
    Object.entries(f.events).flatMap(([name, days]) =>
      days.map((ago, j) => ({
        id: `evt_${f.id}_${name}_${j}`,
        contact: { id: f.id },
        newContactId: 'unused',
        name,
        properties: {},
        occurredAt: NOW - ago * DAY,
        receivedAt: NOW,
      })),
    ),
  );
  await store.events.append(events);
}

function typeEquals(actual: unknown, expected: unknown): boolean {
  return actual !== undefined && typeof actual === typeof expected && actual === expected;
}

/** The documented semantics, in JS: the oracle for the SQL of both dialects. */
function matches(f: Fixture, c: SegmentCondition): boolean {
  if ('and' in c) return c.and.every((x) => matches(f, x));
  if ('or' in c) return c.or.some((x) => matches(f, x));
  if ('not' in c) return !matches(f, c.not);
  if ('inList' in c) return f.lists.includes(c.inList);
  // These fixtures record no engagement (segment-engagement-contract.ts has its own).
  if ('engagement' in c) return false;
  if ('event' in c) {
    const within = c.withinDays ?? Infinity;
    const n = (f.events[c.event] ?? []).filter((ago) => ago <= within).length;
    return n >= (c.atLeast ?? 1);
  }
  if ('field' in c) {
    const v = f[c.field];
    if (c.op === 'eq') return v === c.value;
    if (c.op === 'ne') return v !== c.value;
    if (c.op === 'in') return c.value.includes(v);
    return v.includes(c.value);
  }
  const v = f.attributes[c.attribute];
  switch (c.op) {
    case 'eq':
      return typeEquals(v, c.value);
    case 'ne':
      return !typeEquals(v, c.value);
    case 'in':
      return c.value.some((x) => typeEquals(v, x));
    case 'contains':
      return typeof v === 'string' && v.includes(c.value);
    case 'gt':
      return typeof v === 'number' && v > c.value;
    case 'lt':
      return typeof v === 'number' && v < c.value;
    case 'exists':
      return v !== undefined && v !== null;
    case 'before':
    case 'after': {
      const ms = typeof v === 'string' ? isoDateToMs(v) : undefined;
      const bound = isoDateToMs(c.value) ?? NaN;
      return ms !== undefined && (c.op === 'before' ? ms < bound : ms > bound);
    }
  }
}

const CASES: SegmentCondition[] = [
  { attribute: 'plan', op: 'eq', value: 'pro' },
  { attribute: 'plan', op: 'ne', value: 'pro' },
  { attribute: 'plan', op: 'in', value: ['free', 'team', 'nope'] },
  { attribute: 'age', op: 'eq', value: 30 },
  { attribute: 'age', op: 'eq', value: '24' },
  { attribute: 'age', op: 'gt', value: 60 },
  { attribute: 'age', op: 'lt', value: 25.5 },
  { attribute: 'age', op: 'in', value: [21, '24', 22] },
  { attribute: 'score', op: 'gt', value: 10 },
  { attribute: 'score', op: 'eq', value: 4.5 },
  { attribute: 'vip', op: 'eq', value: true },
  { attribute: 'vip', op: 'eq', value: false },
  { attribute: 'vip', op: 'ne', value: true },
  { attribute: 'vip', op: 'exists' },
  { attribute: 'score', op: 'exists' },
  { attribute: 'city', op: 'contains', value: 'Paris' },
  { attribute: 'city', op: 'contains', value: 'aris-s' },
  { attribute: 'city', op: 'contains', value: '%' },
  { attribute: 'signup', op: 'before', value: '2024-01-10' },
  { attribute: 'signup', op: 'after', value: '2024-01-20T00:00:00Z' },
  { attribute: 'signup', op: 'after', value: '2024-01-15T12:00:00+02:00' },
  { attribute: 'a.b', op: 'eq', value: 'dot' },
  { attribute: 'a.b', op: 'exists' },
  { field: 'email', op: 'contains', value: 'vip' },
  { field: 'email', op: 'eq', value: 'user01@example.test' },
  { field: 'status', op: 'ne', value: 'active' },
  { field: 'status', op: 'in', value: ['bounced', 'unsubscribed'] },
  { inList: 'lst_even' },
  { inList: 'lst_missing' },
  { event: 'purchase' },
  { event: 'purchase', atLeast: 3 },
  { event: 'purchase', atLeast: 2, withinDays: 15 },
  { event: 'signup', withinDays: 30 },
  { and: [{ inList: 'lst_even' }, { not: { inList: 'lst_five' } }] },
  {
    or: [
      { attribute: 'plan', op: 'eq', value: 'team' },
      { event: 'purchase', atLeast: 4 },
    ],
  },
  {
    not: {
      or: [
        { attribute: 'age', op: 'gt', value: 30 },
        { attribute: 'plan', op: 'exists' },
      ],
    },
  },
  { and: [] },
  { or: [] },
];

function expectedIds(c: SegmentCondition): string[] {
  return FIXTURES.filter((f) => matches(f, c)).map((f) => f.id);
}

async function selectAll(store: Store, c: SegmentCondition, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.segments.select(c, NOW, { limit, ...(after ? { after } : {}) });
    ids.push(...page.items.map((contact: Contact) => contact.id));
    if (!page.next) return ids;
    after = page.next;
  }
}

export function segmentsContract(make: MakeStore): void {
  describe('segments', () => {
    it('selects exactly the expected contacts for every operator', () =>
      withStore(make, async (store) => {
        await load(store);
        for (const c of CASES) {
          const expected = expectedIds(c);
          const label = JSON.stringify(c);
          assert.deepEqual(await selectAll(store, c, 7), expected, label);
          assert.equal(await store.segments.count(c, NOW), expected.length, label);
          const preview = await store.segments.preview(c, NOW, 3);
          assert.deepEqual(
            preview.map((x) => x.id),
            expected.slice(0, 3),
            label,
          );
        }
      }));

    it('agrees with hand-written sets where the dialects could drift', () =>
      withStore(make, async (store) => {
        await load(store);
        const ids = (c: SegmentCondition): Promise<string[]> => selectAll(store, c, 100);
        // age 24 is the string "24" (i = 4): not the number.
        assert.deepEqual(await ids({ attribute: 'age', op: 'eq', value: 24 }), []);
        assert.deepEqual(await ids({ attribute: 'age', op: 'eq', value: '24' }), [idOf(4)]);
        // the string "69" (i = 49) is not > 68; the number 68 (i = 48) is not either.
        assert.deepEqual(await ids({ attribute: 'age', op: 'gt', value: 68 }), []);
        // i = 2 and 30: 2024-01-03T23:30-02:00 is 2024-01-04T01:30Z; i = 3 is "2024-02-30": never a date.
        assert.deepEqual(
          await ids({
            and: [
              { attribute: 'signup', op: 'after', value: '2024-01-04T00:00:00Z' },
              { attribute: 'signup', op: 'before', value: '2024-01-04T02:00:00Z' },
            ],
          }),
          [idOf(2), idOf(30)],
        );
        // "a.b" is the literal key: i = 1 holds {a: {b: "dot"}} and is not matched.
        assert.deepEqual(await ids({ attribute: 'a.b', op: 'exists' }), [
          idOf(0),
          idOf(9),
          idOf(18),
          idOf(27),
          idOf(36),
          idOf(45),
        ]);
      }));

    it('keeps hostile values inert', () =>
      withStore(make, async (store) => {
        await load(store);
        const hostile = [
          `'; DROP TABLE contacts; --`,
          `" OR 1=1 --`,
          `') OR ('1'='1`,
          `$.plan`,
          `$[0]`,
          `\\`,
          `%`,
          `_`,
        ];
        for (const value of hostile) {
          for (const c of [
            { attribute: 'plan', op: 'eq', value },
            { attribute: 'plan', op: 'contains', value },
            { field: 'email', op: 'eq', value },
            { field: 'email', op: 'contains', value },
            { inList: value },
            { event: value },
          ] satisfies SegmentCondition[]) {
            assert.equal(await store.segments.count(c, NOW), 0, JSON.stringify(c));
          }
        }
        const quote = FIXTURES[7]?.attributes.quote as string;
        assert.deepEqual(
          await selectAll(store, { attribute: 'quote', op: 'eq', value: quote }, 10),
          [idOf(7)],
        );
        assert.equal(await store.segments.count({ and: [] }, NOW), COUNT, 'contacts intact');
      }));

    it('stores, renames, lists and deletes segments; names are unique', () =>
      withStore(make, async (store) => {
        const conditions: SegmentCondition = {
          and: [
            { attribute: 'plan', op: 'eq', value: 'pro' },
            { event: 'purchase', atLeast: 2 },
          ],
        };
        const segment = {
          id: 'seg_1',
          name: 'buyers',
          conditions,
          createdAt: T0,
          updatedAt: T0,
        };
        assert.deepEqual(await store.segments.create(segment), segment);
        assert.deepEqual(await store.segments.get('seg_1'), segment);
        await rejectsWith(store.segments.create({ ...segment, id: 'seg_2' }), 'ERR_CONFLICT');
        await store.segments.create({ ...segment, id: 'seg_3', name: 'other' });
        const renamed = await store.segments.update('seg_1', { name: 'big buyers', at: T0 + 1 });
        assert.deepEqual(renamed, { ...segment, name: 'big buyers', updatedAt: T0 + 1 });
        const reworded = await store.segments.update('seg_1', {
          conditions: { inList: 'x' },
          at: T0 + 2,
        });
        assert.deepEqual(reworded?.conditions, { inList: 'x' });
        assert.equal(reworded?.name, 'big buyers');
        await rejectsWith(
          store.segments.update('seg_3', { name: 'big buyers', at: T0 }),
          'ERR_CONFLICT',
        );
        assert.equal(await store.segments.update('seg_none', { name: 'x', at: T0 }), undefined);
        const first = await store.segments.list({ limit: 1 });
        assert.deepEqual(
          first.items.map((s) => s.id),
          ['seg_1'],
        );
        const second = await store.segments.list({ limit: 1, after: first.next ?? '' });
        assert.deepEqual(
          second.items.map((s) => s.id),
          ['seg_3'],
        );
        assert.equal(await store.segments.delete('seg_1'), true);
        assert.equal(await store.segments.delete('seg_1'), false);
        assert.equal(await store.segments.get('seg_1'), undefined);
      }));
  });
}
