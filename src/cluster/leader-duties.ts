/**
 * Singleton duties: periodic work that one node of the cluster does at a
 * time, under the store's leadership (core/ports/leadership.ts). On SQLite
 * the one process always leads; on PostgreSQL the node holding the duty's
 * advisory lock does, and another takes over when it dies.
 *
 * Per duty:
 *
 *   campaigning ──elected──► leading: run now, then every intervalMs
 *        ▲                      │  (a run in progress is awaited, never overlapped)
 *        └──────deposed─────────┘  the run's signal is aborted, the timer cleared
 *
 * Adding a duty (campaign scheduling, journey timers, …): give it a name and
 * a `run(signal)` that does one round of work and returns, and add it in
 * src/main.ts. A run must be safe if another node runs it at the same
 * moment (leadership is a hint, not a fence: see the port), and should stop
 * early when its signal aborts.
 */
import type { Clock } from '../core/clock.js';
import type { EventBus, SluiceEventMap } from '../core/events.js';
import type { Leadership } from '../core/ports/leadership.js';

export interface Duty {
  /** Unique; names the advisory lock and the metric label. */
  name: string;
  intervalMs: number;
  run(signal: AbortSignal): Promise<void>;
}

export interface DutyLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface LeaderDutiesOptions {
  leadership: Leadership;
  events: EventBus<SluiceEventMap>;
  logger: DutyLogger;
  clock: Clock;
}

interface Running {
  duty: Duty;
  leading: boolean;
  abort: AbortController | undefined;
  timer: NodeJS.Timeout | undefined;
  run: Promise<void> | undefined;
  resign: (() => Promise<void>) | undefined;
}

export class LeaderDuties {
  private readonly duties = new Map<string, Running>();
  private stopped = false;

  constructor(private readonly options: LeaderDutiesOptions) {}

  add(duty: Duty): void {
    if (this.stopped) throw new Error('leader duties are stopped');
    if (this.duties.has(duty.name)) throw new Error(`duty ${duty.name} is already added`);
    const running: Running = {
      duty,
      leading: false,
      abort: undefined,
      timer: undefined,
      run: undefined,
      resign: undefined,
    };
    this.duties.set(duty.name, running);
    running.resign = this.options.leadership.campaign(duty.name, {
      onElected: () => this.elected(running),
      onDeposed: (reason) => this.deposed(running, reason),
    });
  }

  /** Whether this node leads `name` now. */
  leads(name: string): boolean {
    return this.duties.get(name)?.leading ?? false;
  }

  /** Gives every duty up; waits for runs in progress (their signals aborted). */
  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.duties.values()];
    this.duties.clear();
    await Promise.all(all.map((r) => (r.resign ? r.resign() : Promise.resolve())));
    for (const running of all) this.halt(running);
    await Promise.all(all.map((r) => r.run ?? Promise.resolve()));
  }

  private elected(running: Running): void {
    if (this.stopped || running.leading) return;
    running.leading = true;
    running.abort = new AbortController();
    this.options.events.emit('leader:change', { duty: running.duty.name, leading: true });
    this.options.logger.info({ duty: running.duty.name }, 'leading a singleton duty');
    this.runNow(running, running.abort.signal);
  }

  private deposed(running: Running, reason: string): void {
    if (!running.leading) return;
    this.halt(running);
    this.options.events.emit('leader:change', { duty: running.duty.name, leading: false });
    const log = reason === 'stopped' ? 'info' : 'warn';
    this.options.logger[log]({ duty: running.duty.name, reason }, 'no longer leading a duty');
  }

  private halt(running: Running): void {
    running.leading = false;
    running.abort?.abort();
    running.abort = undefined;
    clearTimeout(running.timer);
    running.timer = undefined;
  }

  private runNow(running: Running, signal: AbortSignal): void {
    const { duty } = running;
    const previous = running.run ?? Promise.resolve();
    const work = previous.then(async () => {
      if (signal.aborted) return;
      const started = this.options.clock.now();
      try {
        await duty.run(signal);
      } catch (error) {
        this.options.logger.error({ err: error, duty: duty.name }, 'a singleton duty failed');
      }
      this.options.events.emit('leader:duty-run', {
        duty: duty.name,
        durationMs: this.options.clock.now() - started,
      });
      if (signal.aborted || !running.leading) return;
      running.timer = setTimeout(() => {
        running.timer = undefined;
        if (running.leading && !signal.aborted) this.runNow(running, signal);
      }, duty.intervalMs);
    });
    running.run = work;
  }
}
