/**
 * Leadership for singleton duties: work that one node of a cluster must do
 * at a time (retention, campaign scheduling, journey timers). A node
 * campaigns for a named duty and is told when it becomes the leader and
 * when it stops being one (its database session died, it gave up).
 *
 * Leadership is a hint that keeps duties from running twice, not a fence:
 * between a leader losing its database session and noticing (at most one
 * check interval) another node may already lead. So every duty must be safe
 * to run twice at once for a moment (idempotent statements, row locks, or
 * leases on the rows it works on); leadership only keeps that rare.
 */
export interface LeadershipListener {
  /** This node leads the duty now. */
  onElected(): void;
  /** This node no longer leads (connection lost, or it stopped campaigning while leading). */
  onDeposed(reason: string): void;
}

export interface Leadership {
  /** Whether several processes compete (false: a single process always leads). */
  readonly shared: boolean;
  /**
   * Campaigns for `duty` until the returned function is called (which gives
   * leadership up, calling onDeposed when it was held). One campaign per duty
   * and process.
   */
  campaign(duty: string, listener: LeadershipListener): () => Promise<void>;
}

/** A store with one process (SQLite): that process leads every duty from the start. */
export const soleLeadership: Leadership = Object.freeze({
  shared: false,
  campaign(_duty: string, listener: LeadershipListener): () => Promise<void> {
    let state: 'waiting' | 'leading' | 'stopped' = 'waiting';
    queueMicrotask(() => {
      if (state !== 'waiting') return;
      state = 'leading';
      listener.onElected();
    });
    return () => {
      const wasLeading = state === 'leading';
      state = 'stopped';
      if (wasLeading) listener.onDeposed('stopped');
      return Promise.resolve();
    };
  },
});
