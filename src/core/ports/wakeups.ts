/**
 * Wake-ups across processes: a node that accepts mail tells the workers of
 * every node that there is work, so an idle worker claims at once instead
 * of at its next poll. A wake-up carries no data and may be lost (a
 * listener's connection is down); polling stays the backstop, so a lost
 * wake-up costs latency, never mail.
 */
export const WAKEUP_CHANNELS = ['outbox'] as const;
export type WakeupChannel = (typeof WAKEUP_CHANNELS)[number];

/** The listening connection's state changes, for the log. */
export type WakeupState =
  { state: 'listening' } | { state: 'lost'; error: unknown; retryInMs: number };

export interface WakeupListener {
  /** Something may be waiting on the channel; also called once each time listening (re)starts. */
  onWake(): void;
  onState?(change: WakeupState): void;
}

export interface Wakeups {
  /** Whether wake-ups reach other processes (false: a no-op for a single process). */
  readonly crossProcess: boolean;
  /** Wakes the listeners of every node (inside a transaction: on its commit). */
  notify(channel: WakeupChannel): Promise<void>;
  /** Returns the unsubscribe; the last one ends the listening connection. */
  listen(channel: WakeupChannel, listener: WakeupListener): () => Promise<void>;
}

/** For a store with one process: the in-process wake after an accept is all there is. */
export const noWakeups: Wakeups = Object.freeze({
  crossProcess: false,
  notify: () => Promise.resolve(),
  listen: () => () => Promise.resolve(),
});
