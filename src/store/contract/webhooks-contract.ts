import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newId } from '../../core/ids.js';
import type { Store } from '../../core/ports/store.js';
import type { WebhookEventType } from '../../core/webhook-events.js';
import { newWebhookEventId } from '../../core/webhook-events.js';
import {
  DAY,
  MINUTE,
  T0,
  deferred,
  delivered,
  newMessage,
  withStore,
  type MakeStore,
} from './fixtures.js';

async function endpoint(
  store: Store,
  events: WebhookEventType[],
  overrides: { enabled?: boolean; url?: string } = {},
) {
  return store.webhooks.createEndpoint({
    id: `wh_${newId('event').slice(4)}`,
    url: overrides.url ?? 'https://hooks.example.test/sluice',
    events,
    description: 'test',
    enabled: overrides.enabled ?? true,
    secret: 'whsec_first',
    at: T0,
  });
}

/** Accepts, claims and settles one message with `settle`, returning its id. */
async function settleOne(
  store: Store,
  settle: (id: string) => Parameters<Store['messages']['settle']>[0][number],
  to = 'Rcpt@Example.test',
): Promise<string> {
  const message = newMessage({ to: { email: to } });
  await store.messages.accept(message);
  const [claimed] = await store.messages.claim({ limit: 1, leaseMs: MINUTE, owner: 'w', now: T0 });
  assert.equal(claimed?.id, message.id);
  assert.deepEqual(await store.messages.settle([settle(message.id)]), [message.id]);
  return message.id;
}

export function webhooksContract(makeStore: MakeStore): void {
  describe('webhooks', () => {
    it('creates, reads, lists, updates, rotates and deletes endpoints', async () => {
      await withStore(makeStore, async (store) => {
        const a = await endpoint(store, ['delivered', 'bounced']);
        const b = await endpoint(store, ['opened'], { enabled: false });
        assert.deepEqual(a.events, ['delivered', 'bounced']);
        assert.equal(a.enabled, true);
        assert.equal(b.enabled, false);
        assert.deepEqual(await store.webhooks.getEndpoint(a.id), a);
        const page = await store.webhooks.listEndpoints({ limit: 1 });
        assert.equal(page.items.length, 1);
        const rest = await store.webhooks.listEndpoints({ limit: 5, after: page.next ?? '' });
        assert.deepEqual(
          [...page.items, ...rest.items].map((e) => e.id).sort(),
          [a.id, b.id].sort(),
        );
        const updated = await store.webhooks.updateEndpoint(a.id, {
          events: ['clicked'],
          enabled: false,
          at: T0 + 1,
        });
        assert.deepEqual(updated?.events, ['clicked']);
        assert.equal(updated?.enabled, false);
        assert.equal(updated?.url, a.url, 'absent fields are kept');
        assert.equal(updated?.updatedAt, T0 + 1);
        const rotated = await store.webhooks.rotateSecret(a.id, {
          secret: 'whsec_second',
          previousExpiresAt: T0 + DAY,
          at: T0 + 2,
        });
        assert.equal(rotated?.secretRotatedAt, T0 + 2);
        assert.equal(await store.webhooks.updateEndpoint('wh_none', { at: T0 }), undefined);
        assert.equal(await store.webhooks.deleteEndpoint(a.id), true);
        assert.equal(await store.webhooks.deleteEndpoint(a.id), false);
        assert.equal(await store.webhooks.getEndpoint(a.id), undefined);
      });
    });

    it('adds one delivery per subscribed, enabled endpoint in the settle transaction', async () => {
      await withStore(makeStore, async (store) => {
        const sub = await endpoint(store, ['delivered', 'deferred']);
        const other = await endpoint(store, ['bounced']);
        const off = await endpoint(store, ['delivered'], { enabled: false });
        const id = await settleOne(store, (id) => delivered(id, 'w', T0 + 5));
        const [row] = (await store.webhooks.listDeliveries(sub.id, { limit: 10 })).items;
        assert.ok(row);
        assert.match(row.eventId, /^whe_[0-9a-f]{28}$/);
        assert.equal(row.type, 'delivered');
        assert.equal(row.status, 'pending');
        assert.equal(row.attempts, 0);
        assert.equal(row.createdAt, T0 + 5);
        assert.equal(row.nextAttemptAt, T0 + 5);
        assert.deepEqual(row.data, {
          messageId: id,
          recipient: 'Rcpt@Example.test',
          stream: 'transactional',
          attempt: 1,
          relay: 'relay-a',
          code: 250,
          reply: '250 2.0.0 OK queued',
        });
        assert.deepEqual((await store.webhooks.listDeliveries(other.id, { limit: 10 })).items, []);
        assert.deepEqual((await store.webhooks.listDeliveries(off.id, { limit: 10 })).items, []);

        // A deferral with an attempt is an event; its data says when the next try is.
        const deferredId = await settleOne(store, (id) => deferred(id, 'w', T0 + 6, T0 + DAY));
        const page = await store.webhooks.listDeliveries(sub.id, { limit: 10 });
        assert.deepEqual(
          page.items.map((d) => d.type),
          ['deferred', 'delivered'],
          'newest first',
        );
        assert.deepEqual(page.items[0]?.data, {
          messageId: deferredId,
          recipient: 'Rcpt@Example.test',
          stream: 'transactional',
          attempt: 1,
          relay: 'relay-a',
          code: 451,
          enhancedCode: '4.3.0',
          reply: '451 4.3.0 try later',
          retryAt: new Date(T0 + DAY).toISOString(),
        });
        // A postponement without an attempt is not an event; a suppressed message is.
        await settleOne(store, (id) => ({
          id,
          leaseOwner: 'w',
          status: 'deferred',
          dueAt: T0 + MINUTE,
          lastError: 'throttled',
          at: T0 + 7,
        }));
        const all = await endpoint(store, ['suppressed']);
        const suppressedId = await settleOne(store, (id) => ({
          id,
          leaseOwner: 'w',
          status: 'suppressed',
          lastError: 'on the list',
          at: T0 + 8,
        }));
        assert.equal((await store.webhooks.listDeliveries(sub.id, { limit: 10 })).items.length, 2);
        assert.deepEqual(
          (await store.webhooks.listDeliveries(all.id, { limit: 10 })).items[0]?.data,
          {
            messageId: suppressedId,
            recipient: 'Rcpt@Example.test',
            stream: 'transactional',
            reason: 'on the list',
          },
        );
        // A settlement that does not apply (lease lost) adds nothing.
        assert.deepEqual(await store.messages.settle([delivered(id, 'w', T0 + 9)]), []);
        assert.equal((await store.webhooks.listDeliveries(sub.id, { limit: 10 })).items.length, 2);
        const counts = await store.webhooks.countByStatus();
        assert.deepEqual(counts, { pending: 3, sending: 0, delivered: 0, failed: 0 });
      });
    });

    it('adds engagement and complaint events with their source, and marks the complaint', async () => {
      await withStore(makeStore, async (store) => {
        const hook = await endpoint(store, ['opened', 'clicked', 'unsubscribed', 'complained']);
        const { contact } = await store.contacts.upsert({
          id: newId('contact'),
          email: 'reader@example.test',
          at: T0,
        });
        const base = { messageId: 'msg_1', email: 'reader@example.test', contactId: contact.id };
        await store.engagement.record({
          ...base,
          id: newId('engagement'),
          kind: 'open',
          at: T0 + 1,
        });
        await store.engagement.record({
          ...base,
          id: newId('engagement'),
          kind: 'click',
          url: 'https://a.test/x',
          at: T0 + 2,
        });
        const complaint = await store.complaints.record({
          email: 'reader@example.test',
          messageId: 'msg_1',
          source: 'arf',
          feedbackType: 'abuse',
          at: T0 + 3,
        });
        assert.equal(complaint.contactId, contact.id);
        const items = (await store.webhooks.listDeliveries(hook.id, { limit: 10 })).items;
        assert.deepEqual(
          items.map((d) => [d.type, d.data]),
          [
            [
              'complained',
              {
                recipient: 'reader@example.test',
                messageId: 'msg_1',
                contactId: contact.id,
                source: 'arf',
                feedbackType: 'abuse',
              },
            ],
            [
              'clicked',
              {
                messageId: 'msg_1',
                recipient: 'reader@example.test',
                contactId: contact.id,
                url: 'https://a.test/x',
              },
            ],
            [
              'opened',
              { messageId: 'msg_1', recipient: 'reader@example.test', contactId: contact.id },
            ],
          ],
        );
        assert.equal(items[0]?.eventId, complaint.eventId);
        assert.equal((await store.contacts.get(contact.id))?.status, 'complained');
        assert.equal((await store.suppressions.get('READER@example.test'))?.reason, 'complaint');
        // Without a contact: still suppressed, no contactId.
        const second = await store.complaints.record({
          email: 'nobody@example.test',
          source: 'api',
          at: T0 + 4,
        });
        assert.equal(second.contactId, undefined);
        assert.equal((await store.suppressions.get('nobody@example.test'))?.reason, 'complaint');
      });
    });

    it('claims due deliveries with a lease, completes them by owner, retries and gives up', async () => {
      await withStore(makeStore, async (store) => {
        const hook = await endpoint(store, ['delivered']);
        const events = [1, 2, 3].map((i) => ({
          id: newWebhookEventId(T0 + i),
          type: 'test' as const,
          createdAt: T0 + i,
          data: { n: i },
        }));
        for (const event of events) await store.webhooks.enqueue(hook.id, event);
        assert.deepEqual(await store.webhooks.dueEndpoints(T0, 10), []);
        assert.deepEqual(await store.webhooks.dueEndpoints(T0 + 3, 10), [hook.id]);
        assert.equal(await store.webhooks.nextDueAt(), T0 + 1);

        const first = await store.webhooks.claim({
          endpointId: hook.id,
          limit: 2,
          leaseMs: MINUTE,
          owner: 'a',
          now: T0 + 10,
        });
        assert.deepEqual(
          first.map((d) => d.eventId),
          [events[0]?.id, events[1]?.id],
        );
        assert.equal(first[0]?.url, hook.url);
        assert.deepEqual(first[0]?.secrets, { current: 'whsec_first' });
        assert.equal(first[0]?.status, 'sending');
        // Another node sees only the third; the leased ones wait for their lease.
        const second = await store.webhooks.claim({
          endpointId: hook.id,
          limit: 5,
          leaseMs: MINUTE,
          owner: 'b',
          now: T0 + 10,
        });
        assert.deepEqual(
          second.map((d) => d.eventId),
          [events[2]?.id],
        );
        const [d0, d1] = first;
        assert.ok(d0 && d1);
        const applied = await store.webhooks.complete([
          {
            endpointId: hook.id,
            eventId: d0.eventId,
            owner: 'a',
            at: T0 + 11,
            outcome: 'delivered',
            status: 200,
          },
          {
            endpointId: hook.id,
            eventId: d1.eventId,
            owner: 'a',
            at: T0 + 11,
            outcome: 'retry',
            status: 500,
            error: 'HTTP 500',
            nextAttemptAt: T0 + MINUTE * 5,
          },
          // Not the owner: ignored.
          {
            endpointId: hook.id,
            eventId: events[2]?.id ?? '',
            owner: 'a',
            at: T0 + 11,
            outcome: 'delivered',
          },
        ]);
        assert.equal(applied, 2);
        const log = new Map(
          (await store.webhooks.listDeliveries(hook.id, { limit: 10 })).items.map((d) => [
            d.eventId,
            d,
          ]),
        );
        assert.deepEqual(log.get(d0.eventId), {
          ...log.get(d0.eventId),
          status: 'delivered',
          attempts: 1,
          lastStatus: 200,
          lastAttemptAt: T0 + 11,
          finishedAt: T0 + 11,
        });
        assert.equal(log.get(d0.eventId)?.nextAttemptAt, undefined);
        assert.equal(log.get(d1.eventId)?.status, 'pending');
        assert.equal(log.get(d1.eventId)?.lastStatus, 500);
        assert.equal(log.get(d1.eventId)?.lastError, 'HTTP 500');
        assert.equal(log.get(d1.eventId)?.nextAttemptAt, T0 + MINUTE * 5);
        assert.equal(log.get(events[2]?.id ?? '')?.status, 'sending');

        // b's lease runs out: a claims the third again; then gives up on it.
        const again = await store.webhooks.claim({
          endpointId: hook.id,
          limit: 5,
          leaseMs: MINUTE,
          owner: 'a',
          now: T0 + MINUTE * 2,
        });
        assert.deepEqual(
          again.map((d) => d.eventId),
          [events[2]?.id],
        );
        await store.webhooks.complete([
          {
            endpointId: hook.id,
            eventId: events[2]?.id ?? '',
            owner: 'a',
            at: T0 + MINUTE * 2,
            outcome: 'failed',
            error: 'timeout',
          },
        ]);
        assert.deepEqual(await store.webhooks.countByStatus(), {
          pending: 1,
          sending: 0,
          delivered: 1,
          failed: 1,
        });
        // A disabled endpoint's deliveries wait.
        await store.webhooks.updateEndpoint(hook.id, { enabled: false, at: T0 });
        assert.deepEqual(await store.webhooks.dueEndpoints(T0 + DAY, 10), []);
        assert.equal(await store.webhooks.nextDueAt(), undefined);
        assert.deepEqual(
          await store.webhooks.claim({
            endpointId: hook.id,
            limit: 5,
            leaseMs: MINUTE,
            owner: 'a',
            now: T0 + DAY,
          }),
          [],
        );
        // Purge drops finished rows older than the horizon.
        assert.equal(await store.webhooks.purge(T0 + MINUTE * 2), 1);
        assert.equal(await store.webhooks.purge(T0 + MINUTE * 3), 1);
        assert.equal((await store.webhooks.listDeliveries(hook.id, { limit: 10 })).items.length, 1);
        // Deleting the endpoint removes its deliveries.
        await store.webhooks.deleteEndpoint(hook.id);
        assert.deepEqual(await store.webhooks.countByStatus(), {
          pending: 0,
          sending: 0,
          delivered: 0,
          failed: 0,
        });
      });
    });

    it('signs with the previous secret until it expires, after a rotation', async () => {
      await withStore(makeStore, async (store) => {
        const hook = await endpoint(store, ['delivered']);
        await store.webhooks.rotateSecret(hook.id, {
          secret: 'whsec_second',
          previousExpiresAt: T0 + DAY,
          at: T0,
        });
        await store.webhooks.enqueue(hook.id, {
          id: newWebhookEventId(T0),
          type: 'test',
          createdAt: T0,
          data: {},
        });
        const [claimed] = await store.webhooks.claim({
          endpointId: hook.id,
          limit: 1,
          leaseMs: MINUTE,
          owner: 'a',
          now: T0,
        });
        assert.deepEqual(claimed?.secrets, {
          current: 'whsec_second',
          previous: 'whsec_first',
          previousExpiresAt: T0 + DAY,
        });
      });
    });
  });
}
