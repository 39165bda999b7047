import type { Clock } from '../core/clock.js';

/**
 * The claim loop's one sleep at a time, and the ways to end it early.
 *
 * - `idle`: nothing is due. Ends on interrupt() (wake, stop) or, when a
 *   retry is scheduled before the sleep would end, at that retry (dueAt).
 * - `full`: no free slot. Ends when messages settle (slotsFreed).
 *
 * Times are on the injected clock; the timer itself is real, so a test
 * with a ManualClock moves the clock and calls wake().
 */
export type SleepKind = 'idle' | 'full';

interface Sleeper {
  kind: SleepKind;
  until: number;
  timer: NodeJS.Timeout;
  end(): void;
}

export class LoopSleep {
  private current: Sleeper | undefined;

  constructor(private readonly clock: Clock) {}

  sleep(kind: SleepKind, ms: number): Promise<void> {
    this.current?.end();
    return new Promise<void>((resolve) => {
      const sleeper: Sleeper = {
        kind,
        until: this.clock.now() + ms,
        timer: setTimeout(() => sleeper.end(), ms),
        end: () => {
          clearTimeout(sleeper.timer);
          if (this.current === sleeper) this.current = undefined;
          resolve();
        },
      };
      this.current = sleeper;
    });
  }

  /** Ends any sleep now. */
  interrupt(): void {
    this.current?.end();
  }

  /** Messages settled: a loop waiting for slots looks again. */
  slotsFreed(): void {
    if (this.current?.kind === 'full') this.current.end();
  }

  /** A retry is due at `at`: an idle sleep that would end later ends then. */
  dueAt(at: number): void {
    const sleeper = this.current;
    if (!sleeper || sleeper.kind !== 'idle' || at >= sleeper.until) return;
    clearTimeout(sleeper.timer);
    sleeper.until = at;
    sleeper.timer = setTimeout(() => sleeper.end(), Math.max(0, at - this.clock.now()));
  }
}
