import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { systemClock } from '../core/clock.js';
import { EventBus } from '../core/events.js';
import {
  soleLeadership,
  type Leadership,
  type LeadershipListener,
} from '../core/ports/leadership.js';
import { LeaderDuties } from './leader-duties.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A leadership the test elects and deposes by hand. */
function manualLeadership(): Leadership & { listener?: LeadershipListener } {
  const manual: Leadership & { listener?: LeadershipListener } = {
    shared: true,
    campaign(_duty, listener) {
      manual.listener = listener;
      return () => {
        listener.onDeposed('stopped');
        return Promise.resolve();
      };
    },
  };
  return manual;
}

function waitUntil(check: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (check()) resolve();
      else if (Date.now() > deadline) reject(new Error('timed out'));
      else setTimeout(poll, 5);
    };
    poll();
  });
}

describe('LeaderDuties', () => {
  it('with sole leadership (SQLite) runs a duty at once and then every interval, until stopped', async () => {
    const events = new EventBus();
    const changes: boolean[] = [];
    events.on('leader:change', (e) => changes.push(e.leading));
    const duties = new LeaderDuties({
      leadership: soleLeadership,
      events,
      logger: quiet,
      clock: systemClock,
    });
    let runs = 0;
    duties.add({ name: 'tick', intervalMs: 10, run: () => Promise.resolve(void runs++) });
    await waitUntil(() => runs >= 3);
    assert.ok(duties.leads('tick'));
    await duties.stop();
    const after = runs;
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(runs, after, 'no run after stop');
    assert.deepEqual(changes, [true, false]);
  });

  it('stops running when deposed (the run in progress sees its signal abort) and resumes when elected again', async () => {
    const leadership = manualLeadership();
    const duties = new LeaderDuties({
      leadership,
      events: new EventBus(),
      logger: quiet,
      clock: systemClock,
    });
    let runs = 0;
    let aborted = 0;
    let release: () => void = () => undefined;
    duties.add({
      name: 'slow',
      intervalMs: 1,
      run: (signal) =>
        new Promise<void>((resolve) => {
          runs++;
          release = resolve;
          signal.addEventListener('abort', () => {
            aborted++;
            resolve();
          });
        }),
    });
    assert.equal(runs, 0, 'nothing runs before the election');
    leadership.listener?.onElected();
    await waitUntil(() => runs === 1);
    leadership.listener?.onDeposed('the leadership connection was lost');
    assert.equal(aborted, 1);
    assert.equal(duties.leads('slow'), false);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(runs, 1, 'no new run while deposed');
    leadership.listener?.onElected();
    await waitUntil(() => runs === 2);
    release();
    await duties.stop();
  });
});
