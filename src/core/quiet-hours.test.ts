import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTimeZone, localTimeOfDayMs, quietHoursEnd } from './quiet-hours.js';

const at = (iso: string) => Date.parse(iso);
const NIGHT = { start: '21:00', end: '08:00' };
const LUNCH = { start: '12:00', end: '13:30' };

describe('quiet hours', () => {
  it('knows IANA zones and refuses the rest', () => {
    assert.ok(isTimeZone('Europe/Paris'));
    assert.ok(isTimeZone('UTC'));
    assert.ok(!isTimeZone('Mars/Olympus'));
    assert.ok(!isTimeZone(42));
    assert.ok(!isTimeZone(''));
  });

  it('reads the local time of day in a zone', () => {
    assert.equal(
      localTimeOfDayMs(at('2026-01-15T12:34:56.789Z'), 'UTC'),
      ((12 * 60 + 34) * 60 + 56) * 1000 + 789,
    );
    assert.equal(
      localTimeOfDayMs(at('2026-01-15T12:00:00Z'), 'Asia/Kolkata'),
      (17 * 60 + 30) * 60_000,
    );
  });

  it('is outside a window that crosses midnight during the day', () => {
    assert.equal(quietHoursEnd(at('2026-01-15T10:00:00Z'), 'UTC', NIGHT), undefined);
    assert.equal(quietHoursEnd(at('2026-01-15T20:59:59Z'), 'UTC', NIGHT), undefined);
    assert.equal(
      quietHoursEnd(at('2026-01-15T08:00:00Z'), 'UTC', NIGHT),
      undefined,
      'the end is exclusive',
    );
  });

  it('ends at the next local end, before and after midnight', () => {
    assert.equal(
      quietHoursEnd(at('2026-01-15T21:00:00Z'), 'UTC', NIGHT),
      at('2026-01-16T08:00:00Z'),
    );
    assert.equal(
      quietHoursEnd(at('2026-01-16T03:10:20.500Z'), 'UTC', NIGHT),
      at('2026-01-16T08:00:00Z'),
    );
  });

  it('uses the contact’s zone', () => {
    // 22:00 in New York (UTC−5 in January) is 03:00 UTC; quiet until 08:00 New York = 13:00 UTC.
    assert.equal(
      quietHoursEnd(at('2026-01-16T03:00:00Z'), 'America/New_York', NIGHT),
      at('2026-01-16T13:00:00Z'),
    );
    // The same instant is 04:00 in Paris: also quiet, until 08:00 Paris = 07:00 UTC.
    assert.equal(
      quietHoursEnd(at('2026-01-16T03:00:00Z'), 'Europe/Paris', NIGHT),
      at('2026-01-16T07:00:00Z'),
    );
    assert.equal(quietHoursEnd(at('2026-01-16T03:00:00Z'), 'Asia/Tokyo', NIGHT), undefined);
  });

  it('handles a window within one day', () => {
    assert.equal(
      quietHoursEnd(at('2026-01-15T12:15:00Z'), 'UTC', LUNCH),
      at('2026-01-15T13:30:00Z'),
    );
    assert.equal(quietHoursEnd(at('2026-01-15T13:30:00Z'), 'UTC', LUNCH), undefined);
  });

  it('lands on the local end across a daylight-saving change', () => {
    // Paris springs forward on 2026-03-29 at 02:00 (UTC+1 → UTC+2): quiet from
    // 23:00 on the 28th (22:00 UTC) until 08:00 local on the 29th = 06:00 UTC.
    assert.equal(
      quietHoursEnd(at('2026-03-28T22:00:00Z'), 'Europe/Paris', { start: '22:00', end: '08:00' }),
      at('2026-03-29T06:00:00Z'),
    );
    // New York falls back on 2026-11-01 at 02:00 (UTC−4 → UTC−5): from 23:00
    // local on Oct 31 (03:00 UTC) until 08:00 local = 13:00 UTC.
    assert.equal(
      quietHoursEnd(at('2026-11-01T03:00:00Z'), 'America/New_York', NIGHT),
      at('2026-11-01T13:00:00Z'),
    );
  });
});
