/**
 * Quiet hours: a daily window of local time (in the contact's time zone)
 * during which a journey does not send; a send that falls inside waits for
 * the window's end. Time zones are IANA names read through the Intl API
 * (no zone database of our own), so daylight-saving changes follow the
 * runtime's ICU data.
 *
 * A window may cross midnight: 21:00–08:00 is quiet from 21:00 to 23:59 and
 * from 00:00 to 07:59. The end is exclusive.
 */
import { clockMinutes, type QuietHours } from './journey.js';

const DAY_MS = 86_400_000;

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Whether `zone` is an IANA time zone this runtime knows. */
export function isTimeZone(zone: unknown): boolean {
  if (typeof zone !== 'string' || zone.length === 0 || zone.length > 64) return false;
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    // A bounded cache: one formatter per zone actually seen (a few hundred exist).
    if (formatters.size < 1000) formatters.set(zone, f);
  }
  return f;
}

/** Local wall-clock time of `at` in `zone`, in milliseconds after local midnight. */
export function localTimeOfDayMs(at: number, zone: string): number {
  const parts = formatter(zone).formatToParts(new Date(at));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return ((get('hour') * 60 + get('minute')) * 60 + get('second')) * 1000 + (at % 1000);
}

function inWindow(minutes: number, start: number, end: number): boolean {
  return start < end ? minutes >= start && minutes < end : minutes >= start || minutes < end;
}

/**
 * When the quiet hours holding `now` end (epoch ms), or undefined when `now`
 * is outside them. Steps forward by the local time left until the end, then
 * corrects by the difference between the local time reached and the end: a
 * daylight-saving change inside the wait moves the local clock by an hour.
 * When the end does not exist that day (it falls in the skipped hour), the
 * first instant after the skip is used.
 */
export function quietHoursEnd(now: number, zone: string, window: QuietHours): number | undefined {
  const start = clockMinutes(window.start);
  const end = clockMinutes(window.end);
  if (start === undefined || end === undefined || start === end) return undefined;
  const local = localTimeOfDayMs(now, zone);
  if (!inWindow(Math.floor(local / 60_000), start, end)) return undefined;
  const endMs = end * 60_000;
  const guess = now + ((endMs - local + DAY_MS) % DAY_MS);
  let offBy = endMs - localTimeOfDayMs(guess, zone);
  if (offBy > DAY_MS / 2) offBy -= DAY_MS;
  if (offBy < -DAY_MS / 2) offBy += DAY_MS;
  const corrected = guess + offBy;
  return localTimeOfDayMs(corrected, zone) === endMs && corrected > now ? corrected : guess;
}
