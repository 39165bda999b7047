import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newId } from '../../core/ids.js';
import type { EngagementEvent } from '../../core/ports/store.js';
import { DAY, newMessage, T0, withStore, type MakeStore } from './fixtures.js';

export function engagementContract(makeStore: MakeStore): void {
  describe('engagement', () => {
    it('records opens, clicks and unsubscribes per message, oldest first, repeats included', async () => {
      await withStore(makeStore, async (store) => {
        const message = newMessage();
        await store.messages.accept(message);
        const { contact } = await store.contacts.upsert({
          id: newId('contact'),
          email: 'Ada@Example.test',
          at: T0,
        });
        const base = { messageId: message.id, email: 'Ada@Example.test', contactId: contact.id };
        const events: EngagementEvent[] = [
          {
            ...base,
            id: newId('engagement'),
            kind: 'click',
            url: 'https://a.test/x?y=1',
            at: T0 + 2,
          },
          { ...base, id: newId('engagement'), kind: 'open', at: T0 + 1 },
          { ...base, id: newId('engagement'), kind: 'open', at: T0 + 3 },
          { ...base, id: newId('engagement'), kind: 'unsubscribe', at: T0 + 4 },
        ];
        for (const event of events) await store.engagement.record(event);
        const stored = await store.engagement.forMessage(message.id);
        assert.deepEqual(
          stored.map((e) => [e.kind, e.at, e.url]),
          [
            ['open', T0 + 1, undefined],
            ['click', T0 + 2, 'https://a.test/x?y=1'],
            ['open', T0 + 3, undefined],
            ['unsubscribe', T0 + 4, undefined],
          ],
        );
        assert.equal(stored[0]?.email, 'ada@example.test', 'addresses are stored lower-cased');
        assert.equal(stored[0]?.contactId, contact.id);
        assert.deepEqual(await store.engagement.forMessage('msg_other'), []);
        assert.equal(await store.engagement.countForContact(contact.id, 'open', T0), 2);
        assert.equal(await store.engagement.countForContact(contact.id, 'open', T0 + 2), 1);
        assert.equal(await store.engagement.countForContact(contact.id, 'click', T0 + DAY), 0);
      });
    });

    it('keeps the events of a deleted contact, without the contact', async () => {
      await withStore(makeStore, async (store) => {
        const { contact } = await store.contacts.upsert({
          id: newId('contact'),
          email: 'gone@example.test',
          at: T0,
        });
        await store.engagement.record({
          id: newId('engagement'),
          kind: 'open',
          messageId: 'msg_1',
          email: 'gone@example.test',
          contactId: contact.id,
          at: T0,
        });
        assert.equal(await store.contacts.delete(contact.id), true);
        const [event] = await store.engagement.forMessage('msg_1');
        assert.equal(event?.email, 'gone@example.test');
        assert.equal(event?.contactId, undefined);
      });
    });
  });
}
