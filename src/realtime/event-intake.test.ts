import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSluiceError } from '../core/errors.js';
import { EventAdmission, MAX_FUTURE_MS, prepareEvents } from './event-intake.js';

const NOW = 1_700_000_000_000;

describe('EventAdmission', () => {
  it('admits up to the bound, refuses beyond it, and frees the room when a write settles', async () => {
    const admission = new EventAdmission(5);
    let release: () => void = () => undefined;
    const held = admission.run(4, () => new Promise<string>((r) => (release = () => r('done'))));
    assert.equal(admission.waiting, 4);
    await assert.rejects(
      admission.run(2, () => Promise.resolve('never')),
      (e: unknown) => isSluiceError(e) && e.code === 'ERR_OVERLOADED',
    );
    assert.equal(await admission.run(1, () => Promise.resolve('fits')), 'fits');
    release();
    assert.equal(await held, 'done');
    assert.equal(admission.waiting, 0);
    await assert.rejects(admission.run(5, () => Promise.reject(new Error('db down'))));
    assert.equal(admission.waiting, 0, 'a failed write frees its room too');
  });
});

describe('prepareEvents', () => {
  it('defaults the time to now, keeps the client id as the key, lower-cases the domain', () => {
    const [event] = prepareEvents(
      [{ contact: { email: 'Ann@EXAMPLE.com' }, name: 'signup', id: 'client-1' }],
      NOW,
      '',
    );
    assert.equal(event?.occurredAt, NOW);
    assert.equal(event?.receivedAt, NOW);
    assert.equal(event?.key, 'client-1');
    assert.deepEqual(event?.contact, { email: 'Ann@example.com' });
    assert.deepEqual(event?.properties, {});
    assert.match(event?.id ?? '', /^evt_/);
  });

  it('names the event and field of a bad timestamp', () => {
    const good = { contact: { id: 'ct_1' }, name: 'x' };
    for (const timestamp of [
      '2023-11-14',
      '2023-11-14T22:13:20',
      '2023-13-40T22:13:20Z',
      new Date(NOW + MAX_FUTURE_MS + 1).toISOString(),
    ]) {
      assert.throws(
        () => prepareEvents([good, { ...good, timestamp }], NOW, 'events'),
        (e: unknown) => isSluiceError(e) && e.details.field === 'events[1].timestamp',
        timestamp,
      );
    }
    const [event] = prepareEvents([{ ...good, timestamp: '2023-11-14T22:13:20.5+01:00' }], NOW, '');
    assert.equal(event?.occurredAt, Date.parse('2023-11-14T21:13:20.5Z'));
  });
});
