/**
 * Warm-up schedules: a new relay (a new IP) sends at most `dailyCaps[d]`
 * messages on day `d` counted from `start` (UTC days), so receivers build a
 * reputation for it gradually. Before the start the first cap applies;
 * after the list ends there is no cap. Pure.
 */

export interface WarmupSchedule {
  /** Day 0, as `YYYY-MM-DD` (UTC). */
  start: string;
  dailyCaps: readonly number[];
}

const DAY_MS = 86_400_000;

/** The UTC day index of `now` in the schedule (negative before the start). */
export function warmupDay(schedule: WarmupSchedule, now: number): number {
  return Math.floor((now - Date.parse(`${schedule.start}T00:00:00Z`)) / DAY_MS);
}

/** Today's cap, or undefined once the schedule is over. */
export function warmupCap(schedule: WarmupSchedule, now: number): number | undefined {
  const day = Math.max(0, warmupDay(schedule, now));
  return schedule.dailyCaps[day];
}

/** The start of the next UTC day: when a capped relay takes mail again. */
export function nextUtcDay(now: number): number {
  return (Math.floor(now / DAY_MS) + 1) * DAY_MS;
}
