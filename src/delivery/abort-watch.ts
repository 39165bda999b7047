/**
 * Many waiters on one AbortSignal through one 'abort' listener.
 *
 * The worker aborts one signal at shutdown, and every message waiting on
 * the way to a relay (a throttle's queue or sleep, a relay's connection
 * queue) must then come back `released`. One listener per waiting message
 * is costly: Node's EventTarget compares a new listener with every listener
 * already on the signal, and removing one walks them too, so with ~1,000
 * messages waiting (bench/campaign) each paid ~4 µs of CPU for its listener.
 * An AbortWatch adds one listener per signal and keeps its waiters in a
 * Set; they are told in the order they came, as their own listeners were.
 */
export interface AbortWaiter {
  /** The signal aborted while this waiter was watched; it is no longer watched. */
  onAbort(): void;
}

/** A signal's waiters and its one 'abort' listener. */
interface Watched {
  waiters: Set<AbortWaiter>;
  listener: () => void;
}

export class AbortWatch {
  private readonly watched = new Map<AbortSignal, Watched>();

  /** Calls `waiter.onAbort()` once when `signal` aborts, unless `unwatch` comes first. */
  watch(signal: AbortSignal, waiter: AbortWaiter): void {
    let watched = this.watched.get(signal);
    if (!watched) {
      const waiters = new Set<AbortWaiter>();
      const listener = (): void => {
        this.watched.delete(signal);
        for (const w of waiters) w.onAbort();
      };
      watched = { waiters, listener };
      this.watched.set(signal, watched);
      signal.addEventListener('abort', listener, { once: true });
    }
    watched.waiters.add(waiter);
  }

  /** Stops watching for `waiter`; the signal's listener goes with its last waiter. */
  unwatch(signal: AbortSignal, waiter: AbortWaiter): void {
    const watched = this.watched.get(signal);
    if (!watched) return;
    watched.waiters.delete(waiter);
    if (watched.waiters.size > 0) return;
    this.watched.delete(signal);
    signal.removeEventListener('abort', watched.listener);
  }

  /** Resolves true after `ms`, or false at once when `signal` aborts (the timer is cleared). */
  sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (!signal) return new Promise((resolve) => setTimeout(() => resolve(true), ms));
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: AbortWaiter = {
        onAbort: () => {
          clearTimeout(timer);
          resolve(false);
        },
      };
      const timer = setTimeout(() => {
        this.unwatch(signal, waiter);
        resolve(true);
      }, ms);
      this.watch(signal, waiter);
    });
  }
}
