/**
 * Segment engagement conditions on a real database: a handful of contacts,
 * campaign and transactional messages, and opens, clicks and unsubscribes
 * recorded the way tracking records them (by contact, or with only the
 * address when no contact had it). Every case is checked against `matches`,
 * the semantics of docs/segments.md in plain JS, and the cases most likely
 * to drift also against hand-written sets.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EngagementKind, Store } from '../../core/ports/store.js';
import { ENGAGEMENT_ACTIONS, type SegmentCondition } from '../../core/segment.js';
import { DAY, newMessage, T0, withStore, type MakeStore } from './fixtures.js';

const NOW = T0 + 365 * DAY;
const C1 = 'cmp_one';
const C2 = 'cmp_two';

interface Person {
  id: string;
  email: string;
  plan?: string;
  lists: string[];
}

const PEOPLE: Person[] = [
  { id: 'ct_ada', email: 'ada@x.test', plan: 'pro', lists: ['lst_vip'] },
  { id: 'ct_bob', email: 'bob@x.test', plan: 'pro', lists: [] },
  // Contacts keep the local part's capitals; tracking records the address lower-cased
  // and finds no contact by it, so Cy's rows carry only the email.
  { id: 'ct_cy', email: 'Cy@x.test', lists: ['lst_vip'] },
  { id: 'ct_dee', email: 'dee@x.test', plan: 'pro', lists: [] },
  { id: 'ct_eve', email: 'eve@x.test', lists: ['lst_vip'] },
  { id: 'ct_fay', email: 'fay@x.test', plan: 'free', lists: [] },
  { id: 'ct_gus', email: 'gus@x.test', plan: 'free', lists: ['lst_vip'] },
];

/** One message per (campaign, recipient); `undefined` campaign is a transactional message. */
const MESSAGES: { id: string; campaign?: string; to: string }[] = [
  { id: 'msg_a1', campaign: C1, to: 'ada@x.test' },
  { id: 'msg_a2', campaign: C2, to: 'ada@x.test' },
  { id: 'msg_b1', campaign: C1, to: 'bob@x.test' },
  { id: 'msg_c2', campaign: C2, to: 'Cy@x.test' },
  { id: 'msg_d0', to: 'dee@x.test' },
  { id: 'msg_d2', campaign: C2, to: 'dee@x.test' },
  { id: 'msg_f1', campaign: C1, to: 'fay@x.test' },
  { id: 'msg_g1', campaign: C1, to: 'gus@x.test' },
  { id: 'msg_n1', campaign: C1, to: 'nobody@x.test' },
];

interface Row {
  kind: EngagementKind;
  message: string;
  email: string;
  /** Set when tracking found the contact. */
  contact?: string;
  daysAgo: number;
}

const ROWS: Row[] = [
  // Ada: opened C1 twice (2 and 40 days ago), clicked it once; opened C2 exactly 30 days ago.
  { kind: 'open', message: 'msg_a1', email: 'ada@x.test', contact: 'ct_ada', daysAgo: 2 },
  { kind: 'open', message: 'msg_a1', email: 'ada@x.test', contact: 'ct_ada', daysAgo: 40 },
  { kind: 'click', message: 'msg_a1', email: 'ada@x.test', contact: 'ct_ada', daysAgo: 2 },
  { kind: 'open', message: 'msg_a2', email: 'ada@x.test', contact: 'ct_ada', daysAgo: 30 },
  // Bob: opened C1 once. A row of Bob's (by contact id) under another address counts for
  // Bob only: rows with a contact are never matched by address.
  { kind: 'open', message: 'msg_b1', email: 'bob@x.test', contact: 'ct_bob', daysAgo: 5 },
  { kind: 'open', message: 'msg_d2', email: 'dee@x.test', contact: 'ct_bob', daysAgo: 6 },
  // Cy: opened and clicked C2, recorded with only the lower-cased address.
  { kind: 'open', message: 'msg_c2', email: 'cy@x.test', daysAgo: 1 },
  { kind: 'click', message: 'msg_c2', email: 'cy@x.test', daysAgo: 1 },
  // Dee: engaged before being a contact: clicked a transactional message, opened C2 long ago.
  { kind: 'click', message: 'msg_d0', email: 'dee@x.test', daysAgo: 10 },
  { kind: 'open', message: 'msg_d2', email: 'dee@x.test', daysAgo: 100 },
  // Fay: only unsubscribed from C1, which is neither an open nor a click.
  { kind: 'unsubscribe', message: 'msg_f1', email: 'fay@x.test', contact: 'ct_fay', daysAgo: 3 },
  // Gus: opened C1 three times, clicked it twice.
  { kind: 'open', message: 'msg_g1', email: 'gus@x.test', contact: 'ct_gus', daysAgo: 1 },
  { kind: 'open', message: 'msg_g1', email: 'gus@x.test', contact: 'ct_gus', daysAgo: 2 },
  { kind: 'open', message: 'msg_g1', email: 'gus@x.test', contact: 'ct_gus', daysAgo: 3 },
  { kind: 'click', message: 'msg_g1', email: 'gus@x.test', contact: 'ct_gus', daysAgo: 3 },
  { kind: 'click', message: 'msg_g1', email: 'gus@x.test', contact: 'ct_gus', daysAgo: 50 },
  // No contact has this address: counts for no one.
  { kind: 'open', message: 'msg_n1', email: 'nobody@x.test', daysAgo: 1 },
  { kind: 'click', message: 'msg_n1', email: 'nobody@x.test', daysAgo: 1 },
];

async function load(store: Store): Promise<void> {
  await store.contacts.upsertMany(
    PEOPLE.map((p) => ({
      id: p.id,
      email: p.email,
      attributes: p.plan === undefined ? {} : { plan: p.plan },
      at: T0,
    })),
  );
  await store.lists.create({ id: 'lst_vip', name: 'vip', description: '', at: T0 });
  const vips = PEOPLE.filter((p) => p.lists.includes('lst_vip')).map((p) => p.id);
  await store.lists.addMembers('lst_vip', vips, T0);
  await store.messages.acceptBatch(
    MESSAGES.map((m) =>
      newMessage({
        id: m.id,
        stream: m.campaign === undefined ? 'transactional' : 'bulk',
        to: { email: m.to },
        ...(m.campaign === undefined ? {} : { campaignId: m.campaign, variant: 0 }),
      }),
    ),
  );
  for (const [i, row] of ROWS.entries()) {
    await store.engagement.record({
      id: `eng_${String(i).padStart(2, '0')}`,
      kind: row.kind,
      messageId: row.message,
      email: row.email,
      ...(row.contact === undefined ? {} : { contactId: row.contact }),
      at: NOW - row.daysAgo * DAY,
    });
  }
}

const campaignOf = new Map(MESSAGES.map((m) => [m.id, m.campaign]));

/** The documented semantics, in JS, for the kinds these cases use. */
function matches(p: Person, c: SegmentCondition): boolean {
  if ('and' in c) return c.and.every((x) => matches(p, x));
  if ('or' in c) return c.or.some((x) => matches(p, x));
  if ('not' in c) return !matches(p, c.not);
  if ('inList' in c) return p.lists.includes(c.inList);
  if ('engagement' in c) {
    const kind = ENGAGEMENT_ACTIONS[c.engagement];
    const within = c.withinDays ?? Infinity;
    const n = ROWS.filter(
      (r) =>
        (r.contact === undefined ? r.email === p.email.toLowerCase() : r.contact === p.id) &&
        r.kind === kind &&
        r.daysAgo <= within &&
        (c.campaign === undefined || campaignOf.get(r.message) === c.campaign),
    ).length;
    return n >= (c.atLeast ?? 1);
  }
  if ('attribute' in c && c.attribute === 'plan' && c.op === 'eq') return p.plan === c.value;
  throw new Error(`no oracle for ${JSON.stringify(c)}`);
}

const CASES: SegmentCondition[] = [
  { engagement: 'opened' },
  { engagement: 'clicked' },
  { engagement: 'opened', campaign: C1 },
  { engagement: 'opened', campaign: C2 },
  { engagement: 'clicked', campaign: C1 },
  { engagement: 'clicked', campaign: C2 },
  { engagement: 'opened', campaign: 'cmp_unknown' },
  { engagement: 'opened', atLeast: 2 },
  { engagement: 'opened', campaign: C1, atLeast: 3 },
  { engagement: 'clicked', atLeast: 2, withinDays: 30 },
  { engagement: 'opened', withinDays: 3 },
  { engagement: 'opened', campaign: C2, withinDays: 30 },
  { engagement: 'opened', campaign: C2, withinDays: 29 },
  { not: { engagement: 'opened' } },
  { not: { engagement: 'opened', campaign: C1 } },
  {
    and: [
      { engagement: 'opened', campaign: C1, withinDays: 30 },
      { not: { engagement: 'clicked', campaign: C1 } },
    ],
  },
  { and: [{ attribute: 'plan', op: 'eq', value: 'pro' }, { engagement: 'opened' }] },
  { and: [{ inList: 'lst_vip' }, { not: { engagement: 'clicked', withinDays: 7 } }] },
  {
    or: [
      { engagement: 'clicked', campaign: C2 },
      { and: [{ inList: 'lst_vip' }, { engagement: 'opened', atLeast: 3 }] },
    ],
  },
];

async function selectAll(store: Store, c: SegmentCondition): Promise<string[]> {
  const ids: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.segments.select(c, NOW, { limit: 2, ...(after ? { after } : {}) });
    ids.push(...page.items.map((contact) => contact.id));
    if (!page.next) return ids;
    after = page.next;
  }
}

export function segmentEngagementContract(make: MakeStore): void {
  describe('segments: engagement', () => {
    it('selects exactly the expected contacts for every engagement case', () =>
      withStore(make, async (store) => {
        await load(store);
        for (const c of CASES) {
          const expected = PEOPLE.filter((p) => matches(p, c))
            .map((p) => p.id)
            .sort();
          const label = JSON.stringify(c);
          assert.deepEqual(await selectAll(store, c), expected, label);
          assert.equal(await store.segments.count(c, NOW), expected.length, label);
        }
      }));

    it('agrees with hand-written sets', () =>
      withStore(make, async (store) => {
        await load(store);
        const ids = (c: SegmentCondition): Promise<string[]> => selectAll(store, c);
        // Cy and Dee count through their address; Fay's unsubscribe is no open;
        // nobody@ has no contact.
        assert.deepEqual(await ids({ engagement: 'opened' }), [
          'ct_ada',
          'ct_bob',
          'ct_cy',
          'ct_dee',
          'ct_gus',
        ]);
        // Bob's row under dee@ is Bob's, not Dee's: Dee opened C2 100 days ago only.
        assert.deepEqual(await ids({ engagement: 'opened', campaign: C2, withinDays: 30 }), [
          'ct_ada',
          'ct_bob',
          'ct_cy',
        ]);
        // Ada's C2 open is exactly 30 days old: inside a 30-day window, outside 29.
        assert.deepEqual(await ids({ engagement: 'opened', campaign: C2, withinDays: 29 }), [
          'ct_bob',
          'ct_cy',
        ]);
        // Dee's click was on a transactional message: any message counts without a campaign.
        assert.deepEqual(await ids({ engagement: 'clicked' }), [
          'ct_ada',
          'ct_cy',
          'ct_dee',
          'ct_gus',
        ]);
        assert.deepEqual(await ids({ engagement: 'clicked', campaign: C1 }), ['ct_ada', 'ct_gus']);
        // Repeats count: Gus opened C1 three times.
        assert.deepEqual(await ids({ engagement: 'opened', campaign: C1, atLeast: 3 }), ['ct_gus']);
        // "Opened C1 in the last 30 days but did not click it."
        assert.deepEqual(
          await ids({
            and: [
              { engagement: 'opened', campaign: C1, withinDays: 30 },
              { not: { engagement: 'clicked', campaign: C1 } },
            ],
          }),
          ['ct_bob'],
        );
        assert.deepEqual(await ids({ not: { engagement: 'opened', campaign: C1 } }), [
          'ct_cy',
          'ct_dee',
          'ct_eve',
          'ct_fay',
        ]);
      }));

    it("gives a deleted contact's engagement to a new contact with its address", () =>
      withStore(make, async (store) => {
        await load(store);
        const opened: SegmentCondition = { engagement: 'opened', campaign: C1, atLeast: 3 };
        assert.deepEqual(await selectAll(store, opened), ['ct_gus']);
        assert.equal(await store.contacts.delete('ct_gus'), true);
        assert.deepEqual(await selectAll(store, opened), []);
        await store.contacts.upsert({ id: 'ct_gus2', email: 'gus@x.test', at: NOW });
        assert.deepEqual(await selectAll(store, opened), ['ct_gus2']);
      }));

    it('keeps hostile campaign ids inert', () =>
      withStore(make, async (store) => {
        await load(store);
        for (const campaign of [`'; DROP TABLE engagement; --`, `" OR 1=1 --`, `%`, `_`]) {
          const c: SegmentCondition = { engagement: 'opened', campaign };
          assert.equal(await store.segments.count(c, NOW), 0, campaign);
        }
        assert.equal(await store.segments.count({ engagement: 'opened' }, NOW), 5);
      }));
  });
}
