import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newId } from '../../core/ids.js';
import type { NewEvent, StoredEvent } from '../../core/ports/store.js';
import { DAY, MINUTE, rejectsWith, T0, withStore, type MakeStore } from './fixtures.js';

function newEvent(overrides: Partial<NewEvent> = {}): NewEvent {
  return {
    id: newId('event'),
    contact: { email: 'ada@example.test' },
    newContactId: newId('contact'),
    name: 'page.viewed',
    properties: { path: '/pricing', nested: { n: [1, 2] } },
    occurredAt: T0,
    receivedAt: T0 + 5,
    ...overrides,
  };
}

export function eventsContract(make: MakeStore): void {
  describe('events', () => {
    it('stores an event, creating the contact of a new email', () =>
      withStore(make, async (store) => {
        const event = newEvent({ key: 'k1' });
        const [result] = await store.events.append([event]);
        assert.deepEqual(result, {
          kind: 'stored',
          id: event.id,
          contactId: event.newContactId,
          name: 'page.viewed',
          occurredAt: T0,
        });
        const contact = await store.contacts.getByEmail('ada@example.test');
        assert.equal(contact?.id, event.newContactId);
        assert.deepEqual(contact?.attributes, {});
        const page = await store.events.listForContact(event.newContactId, { limit: 10 });
        const expected: StoredEvent = {
          id: event.id,
          key: 'k1',
          contactId: event.newContactId,
          name: 'page.viewed',
          properties: { path: '/pricing', nested: { n: [1, 2] } },
          occurredAt: T0,
          receivedAt: T0 + 5,
        };
        assert.deepEqual(page, { items: [expected] });
      }));

    it('stores each key once: within one call, across calls, and under concurrency', () =>
      withStore(make, async (store) => {
        const a = newEvent({ key: 'dup' });
        const b = newEvent({ key: 'dup', name: 'other' });
        const c = newEvent();
        const results = await store.events.append([a, b, c]);
        assert.deepEqual(
          results.map((r) => [r.kind, r.id]),
          [
            ['stored', a.id],
            ['duplicate', a.id],
            ['stored', c.id],
          ],
        );
        const [again] = await store.events.append([newEvent({ key: 'dup' })]);
        assert.deepEqual(again, { ...results[0], kind: 'duplicate' });
        const racing = await Promise.all(
          Array.from({ length: 8 }, () => store.events.append([newEvent({ key: 'race' })])),
        );
        const kinds = racing.map(([r]) => r?.kind);
        assert.equal(kinds.filter((k) => k === 'stored').length, 1);
        assert.equal(new Set(racing.map(([r]) => r?.id)).size, 1, 'all name the stored event');
        const contactId = results[0]?.contactId ?? '';
        const page = await store.events.listForContact(contactId, { limit: 100 });
        assert.equal(page.items.length, 3);
      }));

    it('commits concurrent appends together; a call naming an unknown contact fails alone', () =>
      withStore(make, async (store) => {
        const { contact } = await store.contacts.upsert({
          id: 'ct_known',
          email: 'known@example.test',
          at: T0,
        });
        const calls = Array.from({ length: 20 }, (_, i) =>
          store.events.append([
            newEvent({ contact: { id: contact.id }, name: 'tick', occurredAt: T0 + i }),
            newEvent({ contact: { email: `new${i}@example.test` }, name: 'tick' }),
          ]),
        );
        const bad = store.events.append([
          newEvent({ contact: { id: contact.id }, key: 'bad-1' }),
          newEvent({ contact: { id: 'ct_missing' }, key: 'bad-2' }),
        ]);
        const error = await rejectsWith(bad, 'ERR_CONTACT_NOT_FOUND');
        assert.equal(error.details.index, 1);
        const results = await Promise.all(calls);
        assert.ok(results.every((r) => r.every((e) => e.kind === 'stored')));
        assert.equal(await store.events.countForContact(contact.id, 'tick', 0), 20);
        const [retry] = await store.events.append([
          newEvent({ contact: { id: contact.id }, key: 'bad-1' }),
        ]);
        assert.equal(retry?.kind, 'stored', 'nothing of the failed call was written');
        assert.equal(await store.contacts.getByEmail('new19@example.test').then(Boolean), true);
      }));

    it('onCommitted hears of each committed call once, before its promise resolves; a call that fails or whose onCommitted throws fails alone', () =>
      withStore(make, async (store) => {
        const heard: string[][] = [];
        const hear = (results: { kind: string; id: string }[]): void =>
          void heard.push(results.map((r) => `${r.kind} ${r.id}`));
        const first = newEvent({ key: 'k-heard' });
        const again = newEvent({ key: 'k-heard' });
        let resolvedBeforeHeard = false;
        const good = store.events.append([first, again], { onCommitted: hear }).then((results) => {
          resolvedBeforeHeard = heard.length === 0;
          return results;
        });
        const missing = rejectsWith(
          store.events.append([newEvent({ contact: { id: 'ct_missing' } })], {
            onCommitted: hear,
          }),
          'ERR_CONTACT_NOT_FOUND',
        );
        const throwing = assert.rejects(
          store.events.append([newEvent({ key: 'k-throws' })], {
            onCommitted: () => {
              throw new Error('listener failed');
            },
          }),
          /listener failed/,
        );
        const results = await good;
        assert.equal(resolvedBeforeHeard, false, 'heard of before the promise resolved');
        assert.deepEqual(heard, [[`stored ${first.id}`, `duplicate ${first.id}`]]);
        assert.deepEqual(
          results.map((r) => r.kind),
          ['stored', 'duplicate'],
        );
        await missing;
        await throwing;
        assert.equal(heard.length, 1, 'the failed call was not announced');
        const [stored] = await store.events.append([newEvent({ key: 'k-throws' })]);
        assert.equal(stored?.kind, 'duplicate', 'the call whose listener threw was committed');
      }));

    it('identify: merges attributes in event order; a duplicate changes nothing', () =>
      withStore(make, async (store) => {
        await store.contacts.upsert({
          id: 'ct_1',
          email: 'ada@example.test',
          attributes: { plan: 'free', city: 'Oslo' },
          at: T0,
        });
        await store.events.append([
          newEvent({ key: 'e1', attributes: { plan: 'pro', city: null }, receivedAt: T0 + MINUTE }),
          newEvent({ contact: { id: 'ct_1' }, attributes: { vip: true, plan: 'team' } }),
          newEvent({ contact: { email: 'bob@example.test' }, attributes: { a: 1 } }),
          newEvent({ contact: { email: 'bob@example.test' }, attributes: { a: null, b: 2 } }),
        ]);
        const ada = await store.contacts.get('ct_1');
        assert.deepEqual(ada?.attributes, { plan: 'team', vip: true });
        assert.equal(ada?.createdAt, T0);
        const bob = await store.contacts.getByEmail('bob@example.test');
        assert.deepEqual(bob?.attributes, { b: 2 });
        await store.events.append([newEvent({ key: 'e1', attributes: { plan: 'free' } })]);
        assert.deepEqual((await store.contacts.get('ct_1'))?.attributes, {
          plan: 'team',
          vip: true,
        });
      }));

    it('counts a name in a window and pages newest first', () =>
      withStore(make, async (store) => {
        const { contact } = await store.contacts.upsert({
          id: 'ct_1',
          email: 'ada@example.test',
          at: T0,
        });
        const ref = { id: contact.id };
        const events = [0, 1, 2, 3, 4].map((d) =>
          newEvent({ contact: ref, name: 'order.placed', occurredAt: T0 - d * DAY }),
        );
        // Two at the same instant: the id breaks the tie.
        events.push(newEvent({ contact: ref, name: 'other', occurredAt: T0 }));
        await store.events.append(events);
        assert.equal(
          await store.events.countForContact(contact.id, 'order.placed', T0 - 2 * DAY),
          3,
        );
        assert.equal(await store.events.countForContact(contact.id, 'order.placed', T0 + 1), 0);
        assert.equal(await store.events.countForContact(contact.id, 'nothing', 0), 0);
        assert.equal(await store.events.countForContact('ct_other', 'order.placed', 0), 0);

        const seen: StoredEvent[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await store.events.listForContact(
            contact.id,
            after === undefined ? { limit: 4 } : { limit: 4, after },
          );
          assert.ok(page.items.length <= 4);
          seen.push(...page.items);
          if (page.next === undefined) break;
          after = page.next;
        }
        const expected = [...events].sort(
          (x, y) => y.occurredAt - x.occurredAt || (y.id < x.id ? -1 : 1),
        );
        assert.deepEqual(
          seen.map((e) => e.id),
          expected.map((e) => e.id),
        );
        await rejectsWith(
          store.events.listForContact(contact.id, { limit: 4, after: 'nonsense' }),
          'ERR_VALIDATION',
          'after',
        );
      }));

    it('deletes a contact with its events', () =>
      withStore(make, async (store) => {
        const [result] = await store.events.append([newEvent()]);
        const contactId = result?.contactId ?? '';
        assert.equal(await store.contacts.delete(contactId), true);
        assert.deepEqual(await store.events.listForContact(contactId, { limit: 10 }), {
          items: [],
        });
      }));
  });
}
