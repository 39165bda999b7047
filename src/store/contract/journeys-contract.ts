import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CapRule } from '../../core/frequency-cap.js';
import { newId } from '../../core/ids.js';
import type { JourneyDefinition } from '../../core/journey.js';
import type { Journey, RunEntry, Store } from '../../core/ports/store.js';
import { DAY, MINUTE, newMessage, T0, withStore, type MakeStore } from './fixtures.js';

const DEFINITION: JourneyDefinition = {
  entry: { event: 'signup' },
  from: 'hello@example.test',
  steps: [{ type: 'send', template: 'tpl_1' }],
};

function journey(overrides: Partial<Journey> = {}): Journey {
  return {
    id: newId('journey'),
    name: `journey ${newId('journey')}`,
    status: 'active',
    version: 1,
    definition: DEFINITION,
    activatedAt: T0,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

async function contact(store: Store, email = 'ada@example.test'): Promise<string> {
  const { contact } = await store.contacts.upsert({ id: newId('contact'), email, at: T0 });
  return contact.id;
}

function entry(j: Journey, contactId: string, patch: Partial<RunEntry> = {}): RunEntry {
  const triggerKey = patch.triggerKey ?? `evt:${newId('event')}`;
  return {
    id: newId('event').replace('evt', 'run'),
    journeyId: j.id,
    version: j.version,
    contactId,
    triggerKey,
    trigger: { eventId: 'evt_1', name: 'signup', properties: { plan: 'pro' }, receivedAt: T0 },
    at: T0,
    cooldownMs: Number.POSITIVE_INFINITY,
    owner: 'node-a',
    leaseUntil: T0 + MINUTE,
    ...patch,
  };
}

export function journeysContract(makeStore: MakeStore): void {
  describe('journeys', () => {
    it('stores journeys and one version per definition change', async () => {
      await withStore(makeStore, async (store) => {
        const { activatedAt: _unused, ...draft } = journey({ status: 'draft' });
        const j = await store.journeys.create(draft);
        assert.deepEqual(await store.journeys.get(j.id), j);
        assert.deepEqual(await store.journeys.listActive(), []);
        const renamed = await store.journeys.update(j.id, { name: 'Welcome', at: T0 + 1 });
        assert.equal(renamed?.version, 1);
        const active = await store.journeys.update(j.id, { status: 'active', at: T0 + 2 });
        assert.equal(active?.activatedAt, T0 + 2);
        const second: JourneyDefinition = { ...DEFINITION, reentry: 'always' };
        const changed = await store.journeys.update(j.id, { definition: second, at: T0 + 3 });
        assert.equal(changed?.version, 2);
        assert.equal(changed?.activatedAt, T0 + 2, 'still active since then');
        assert.deepEqual(await store.journeys.definition(j.id, 1), DEFINITION);
        assert.deepEqual(await store.journeys.definition(j.id, 2), second);
        assert.deepEqual(
          (await store.journeys.listActive()).map((x) => x.name),
          ['Welcome'],
        );
        assert.equal((await store.journeys.list({ limit: 10 })).items.length, 1);
        await assert.rejects(
          store.journeys.create(journey({ name: 'Welcome' })),
          /ERR_CONFLICT|already/,
        );
        assert.equal(await store.journeys.delete(j.id), true);
        assert.equal(await store.journeys.get(j.id), undefined);
        assert.equal(await store.journeys.definition(j.id, 1), undefined);
        assert.equal(await store.journeys.delete(j.id), false);
      });
    });

    it('enters once per trigger key and applies the re-entry policy', async () => {
      await withStore(makeStore, async (store) => {
        const j = await store.journeys.create(journey());
        const c = await contact(store);
        const first = entry(j, c, { triggerKey: 'evt:a' });
        const entered = await store.journeys.enter(first);
        assert.equal(entered.kind, 'entered');
        if (entered.kind !== 'entered') return;
        assert.equal(entered.run.pc, 0);
        assert.equal(entered.run.status, 'active');
        assert.equal(entered.run.leaseOwner, 'node-a');
        assert.deepEqual(entered.run.trigger.properties, { plan: 'pro' });
        assert.equal((await store.journeys.enter({ ...first, id: 'run_other' })).kind, 'duplicate');
        // once: a new trigger, any time later, is refused.
        const again = entry(j, c, { triggerKey: 'evt:b', at: T0 + 365 * DAY });
        assert.equal((await store.journeys.enter(again)).kind, 'refused');
        // cool-down of a day: refused within it, entered after it.
        const soon = entry(j, c, { triggerKey: 'evt:c', at: T0 + DAY - 1, cooldownMs: DAY });
        assert.equal((await store.journeys.enter(soon)).kind, 'refused');
        const later = entry(j, c, { triggerKey: 'evt:d', at: T0 + DAY, cooldownMs: DAY });
        assert.equal((await store.journeys.enter(later)).kind, 'entered');
        // always: every new trigger, even an older one.
        const old = entry(j, c, { triggerKey: 'evt:e', at: T0 - DAY, cooldownMs: 0 });
        assert.equal((await store.journeys.enter(old)).kind, 'entered');
        assert.equal((await store.journeys.enter({ ...old, id: 'run_x' })).kind, 'duplicate');
        const counts = await store.journeys.countRuns(j.id);
        assert.deepEqual(counts, { active: 3, completed: 0, exited: 0, failed: 0 });
        const mine = await store.journeys.listRuns(j.id, { limit: 10, contactId: c });
        assert.equal(mine.items.length, 3);
        assert.equal(
          (await store.journeys.listRuns(j.id, { limit: 10, contactId: 'ct_x' })).items.length,
          0,
        );
      });
    });

    it('claims due runs with a lease, once, and saves only under the lease', async () => {
      await withStore(makeStore, async (store) => {
        const j = await store.journeys.create(journey());
        const c = await contact(store);
        const e = await store.journeys.enter(entry(j, c));
        assert.equal(e.kind, 'entered');
        if (e.kind !== 'entered') return;
        const run = e.run;
        const claim = { limit: 10, leaseMs: MINUTE, owner: 'node-b' };
        assert.deepEqual(
          await store.journeys.claimDue({ ...claim, now: T0 }),
          [],
          'leased by its entrant',
        );
        // The entrant saves a one-day wait.
        assert.equal(
          await store.journeys.saveRun({
            id: run.id,
            owner: 'node-a',
            status: 'active',
            pc: 1,
            nextAt: T0 + DAY,
            at: T0,
          }),
          true,
        );
        assert.equal(
          await store.journeys.saveRun({
            id: run.id,
            owner: 'node-a',
            status: 'active',
            pc: 9,
            nextAt: T0,
            at: T0,
          }),
          false,
          'the lease was given up with the save',
        );
        assert.deepEqual(await store.journeys.claimDue({ ...claim, now: T0 + DAY - 1 }), []);
        const [due] = await store.journeys.claimDue({ ...claim, now: T0 + DAY });
        assert.equal(due?.id, run.id);
        assert.equal(due?.pc, 1);
        assert.equal(due?.leaseOwner, 'node-b');
        assert.equal(due?.nextAt, T0 + DAY + MINUTE);
        assert.deepEqual(
          await store.journeys.claimDue({ ...claim, owner: 'node-c', now: T0 + DAY }),
          [],
        );
        // node-b dies: after the lease, node-c takes the run over.
        const [taken] = await store.journeys.claimDue({
          ...claim,
          owner: 'node-c',
          now: T0 + DAY + MINUTE,
        });
        assert.equal(taken?.leaseOwner, 'node-c');
        assert.equal(
          await store.journeys.saveRun({
            id: run.id,
            owner: 'node-b',
            status: 'completed',
            pc: 2,
            nextAt: T0,
            at: T0,
          }),
          false,
          'node-b lost the lease',
        );
        assert.equal(
          await store.journeys.saveRun({
            id: run.id,
            owner: 'node-c',
            status: 'completed',
            pc: 2,
            nextAt: T0,
            at: T0,
          }),
          true,
        );
        assert.deepEqual(
          await store.journeys.claimDue({ ...claim, now: T0 + 10 * DAY }),
          [],
          'completed runs are never due',
        );
        assert.equal((await store.journeys.getRun(run.id))?.status, 'completed');
      });
    });

    it('moves a run waiting for an event past its wait-for when the event comes', async () => {
      await withStore(makeStore, async (store) => {
        const j = await store.journeys.create(journey());
        const c = await contact(store);
        const e = await store.journeys.enter(entry(j, c));
        if (e.kind !== 'entered') throw new Error('not entered');
        await store.journeys.saveRun({
          id: e.run.id,
          owner: 'node-a',
          status: 'active',
          pc: 3,
          nextAt: T0 + DAY,
          waitEvent: 'purchase',
          waitingSince: T0 + 10,
          at: T0 + 10,
        });
        const waiting = { contactId: c, owner: 'node-a', now: T0 + 20, leaseMs: MINUTE };
        assert.deepEqual(
          await store.journeys.claimWaiting({ ...waiting, event: 'other', receivedAt: T0 + 20 }),
          [],
        );
        assert.deepEqual(
          await store.journeys.claimWaiting({ ...waiting, event: 'purchase', receivedAt: T0 + 5 }),
          [],
          'an event from before the wait does not count',
        );
        const [woken] = await store.journeys.claimWaiting({
          ...waiting,
          event: 'purchase',
          receivedAt: T0 + 20,
        });
        assert.equal(woken?.pc, 4);
        assert.equal(woken?.waitEvent, undefined);
        assert.equal(woken?.leaseOwner, 'node-a');
        assert.deepEqual(
          await store.journeys.claimWaiting({ ...waiting, event: 'purchase', receivedAt: T0 + 20 }),
          [],
        );
      });
    });

    it('logs sends once and holds frequency caps across journeys', async () => {
      await withStore(makeStore, async (store) => {
        const a = await store.journeys.create(journey());
        const b = await store.journeys.create(journey());
        const c = await contact(store);
        const caps: CapRule[] = [{ scope: 'all', limit: 2, windowMs: DAY }];
        const send = (journeyId: string, messageId: string, at: number, own = caps) =>
          store.journeys.recordSend({
            messageId,
            runId: `run_${journeyId}`,
            journeyId,
            contactId: c,
            pc: 0,
            at,
            caps: own,
          });
        assert.equal(await send(a.id, 'msg_1', T0), 'recorded');
        assert.equal(await send(a.id, 'msg_1', T0 + 1), 'duplicate');
        assert.equal(await send(b.id, 'msg_2', T0 + 2), 'recorded');
        assert.equal(await send(b.id, 'msg_3', T0 + 3), 'capped', 'two in a day, across journeys');
        assert.equal(
          await send(b.id, 'msg_3', T0 + DAY + 1),
          'recorded',
          'the first left the window',
        );
        const perJourney: CapRule[] = [{ scope: { journeyId: a.id }, limit: 1, windowMs: DAY }];
        assert.equal(
          await send(a.id, 'msg_4', T0 + DAY + 2, perJourney),
          'recorded',
          'a has none in the last day',
        );
        assert.equal(await send(a.id, 'msg_5', T0 + DAY + 3, perJourney), 'capped');
        const message = newMessage({ id: 'msg_1', eventReceivedAt: T0 - 5 });
        await store.messages.accept(message);
        assert.equal((await store.messages.get('msg_1'))?.eventReceivedAt, T0 - 5);
        await store.engagement.record({
          id: newId('engagement'),
          kind: 'open',
          messageId: 'msg_1',
          email: 'ada@example.test',
          contactId: c,
          at: T0 + 9,
        });
        assert.equal(await store.journeys.runEngagement(`run_${a.id}`, 'open'), 1);
        assert.equal(await store.journeys.runEngagement(`run_${a.id}`, 'open', 'msg_1'), 1);
        assert.equal(await store.journeys.runEngagement(`run_${a.id}`, 'open', 'msg_4'), 0);
        assert.equal(await store.journeys.runEngagement(`run_${a.id}`, 'click'), 0);
        assert.equal(await store.journeys.runEngagement(`run_${b.id}`, 'open'), 0);
      });
    });

    it('leases the backstop cursor to one node and reads events after it', async () => {
      await withStore(makeStore, async (store) => {
        assert.deepEqual(await store.journeys.claimCursor('j', 'node-a', T0, MINUTE), {
          receivedAt: T0,
          eventId: '',
        });
        assert.equal(await store.journeys.claimCursor('j', 'node-b', T0 + 1, MINUTE), undefined);
        const events = [0, 1, 1, 2].map((offset, i) => ({
          id: `evt_${i}`,
          contact: { email: 'ada@example.test' },
          newContactId: newId('contact'),
          name: 'signup',
          properties: { i },
          occurredAt: T0,
          receivedAt: T0 + offset,
        }));
        await store.events.append(events);
        const first = await store.journeys.eventsAfter({ receivedAt: T0, eventId: '' }, T0 + 1, 2);
        assert.deepEqual(
          first.map((e) => e.id),
          ['evt_0', 'evt_1'],
        );
        assert.equal(
          await store.journeys.moveCursor('j', 'node-b', { receivedAt: T0 + 1, eventId: 'evt_1' }),
          false,
        );
        assert.equal(
          await store.journeys.moveCursor('j', 'node-a', { receivedAt: T0 + 1, eventId: 'evt_1' }),
          true,
        );
        const cursor = await store.journeys.claimCursor('j', 'node-a', T0 + 2, MINUTE);
        assert.deepEqual(cursor, { receivedAt: T0 + 1, eventId: 'evt_1' });
        const rest = await store.journeys.eventsAfter(
          cursor ?? { receivedAt: 0, eventId: '' },
          T0 + 1,
          10,
        );
        assert.deepEqual(
          rest.map((e) => e.id),
          ['evt_2'],
          'not after `until`',
        );
        assert.deepEqual(rest[0]?.properties, { i: 2 });
        // node-a stops renewing: node-b takes the cursor where it was.
        assert.deepEqual(await store.journeys.claimCursor('j', 'node-b', T0 + 2 + MINUTE, MINUTE), {
          receivedAt: T0 + 1,
          eventId: 'evt_1',
        });
      });
    });

    it('evaluates a segment for one contact and keeps its membership', async () => {
      await withStore(makeStore, async (store) => {
        const ada = await contact(store, 'ada@example.test');
        const bob = await contact(store, 'bob@example.test');
        await store.contacts.upsert({
          id: 'x',
          email: 'ada@example.test',
          attributes: { plan: 'pro' },
          at: T0,
        });
        const pro = { attribute: 'plan', op: 'eq' as const, value: 'pro' };
        assert.equal(await store.journeys.contactMatches(pro, ada, T0), true);
        assert.equal(await store.journeys.contactMatches(pro, bob, T0), false);
        const buyer = { event: 'purchase', atLeast: 2 };
        assert.equal(await store.journeys.contactMatches(buyer, ada, T0), false);
        const seg = await store.segments.create({
          id: newId('segment'),
          name: 'pro',
          conditions: pro,
          createdAt: T0,
          updatedAt: T0,
        });
        assert.equal(await store.journeys.setMembership(seg.id, ada, true, T0), 'entered');
        assert.equal(await store.journeys.setMembership(seg.id, ada, true, T0 + 1), 'unchanged');
        assert.equal(await store.journeys.setMembership(seg.id, bob, false, T0), 'unchanged');
        assert.equal(await store.journeys.setMembership(seg.id, ada, false, T0 + 2), 'left');
        assert.equal(await store.journeys.setMembership(seg.id, ada, true, T0 + 3), 'entered');
      });
    });
  });
}
