/**
 * The typed event map through which the core and delivery report what
 * happens. Observability (metrics, logs) subscribes; nothing here knows about
 * Prometheus.
 */
export interface SluiceEventMap {
  'message:accepted': { id: string; stream: string };
  /**
   * One event stored (not a duplicate): the wake-up for triggers and
   * journeys, emitted right after the commit, in request order; on SQLite
   * before the fdatasync that makes it durable (AppendOptions.onCommitted).
   */
  'event:ingested': {
    id: string;
    contactId: string;
    name: string;
    occurredAt: number;
    /** When the API received it (journeys carry it to the delivery metrics). */
    receivedAt?: number;
    properties?: Record<string, unknown>;
  };
  /** One events request committed (`endpoint`: single or batch). */
  'events:accepted': { endpoint: 'single' | 'batch'; stored: number; duplicates: number };
  /** An events request refused because too many event writes wait (429). */
  'events:overloaded': { endpoint: 'single' | 'batch'; events: number };
  'message:claimed': { count: number };
  'send:delivered': {
    id: string;
    relay: string;
    latencyMs: number;
    sinceAcceptMs: number;
    /** Triggered mail: from the triggering event's receipt to the relay's 250. */
    sinceEventMs?: number;
  };
  'send:deferred': { id: string; relay?: string; reason: string };
  'send:bounced': { id: string; relay: string; code: number; reason: string; category: string };
  /** Not sent: the recipient is on the suppression list. */
  'message:suppressed': { id: string };
  'message:expired': { id: string };
  'message:failed': { id: string; reason: string };
  'relay:connection-error': { relay: string; error: string };
  'worker:settle-batch': { size: number; durationMs: number };
  /** The worker was told there is new work: by an accept in this process, or by a NOTIFY from another. */
  'worker:wake': { source: 'local' | 'notify' };
  /** Claimed messages handed back unsent (graceful shutdown). */
  'message:released': { count: number };
  /** A relay's circuit changed state (closed, open, half-open). */
  'relay:state': { relay: string; state: 'closed' | 'open' | 'half-open'; reason: string };
  /** Messages assigned to a relay (waiting for or using a connection) changed. */
  'relay:in-flight': { relay: string; inFlight: number };
  /** Relays of a pool that take traffic now, out of all its relays. */
  'pool:availability': { pool: string; available: number; total: number };
  /** A message waited for a throttle (`scope`: domain, relay, pool, global, connections). */
  'throttle:wait': { scope: string; key: string; waitMs: number };
  /** A message went back to the queue because a throttle would make it wait too long. */
  'throttle:deferred': { scope: string; key: string };
  /** A domain group's limits changed by adaptive backoff (factor 1 = as configured). */
  'throttle:rate': { group: string; factor: number; perSecond?: number };
  /** A trigger reached a journey: a run started, or not (a duplicate trigger, the re-entry policy). */
  'journey:entry': { outcome: 'entered' | 'duplicate' | 'refused' };
  /** A journey's send step: queued, replayed after a crash, capped, postponed (quiet hours) or skipped (contact not active, bulk). */
  'journey:send': { outcome: 'sent' | 'replayed' | 'capped' | 'postponed' | 'skipped' };
  'journey:run-ended': { status: 'completed' | 'exited' | 'failed' | 'active' };
  /** Ingested events the in-process hook dropped because too many were queued (the backstop scan takes them). */
  'journey:hook-dropped': { count: number };
  /** One webhook request ended: delivered (2xx), retry scheduled, or failed (given up). */
  'webhook:attempt': {
    endpointId: string;
    type: string;
    outcome: 'delivered' | 'retry' | 'failed';
    status?: number;
    durationMs: number;
  };
  /** A campaign changed state (`by`: the API, the scheduler, the fan-out or the guard rails). */
  'campaign:status': {
    id: string;
    status: string;
    by: 'api' | 'scheduler' | 'fan-out' | 'guard';
    reason?: string;
  };
  /** A fan-out batch committed: messages created, and active contacts skipped as suppressed. */
  'campaign:batch': { id: string; created: number; suppressed: number; durationMs: number };
  /** An A/B test was decided: the winning variant's index. */
  'campaign:winner': { id: string; variant: number; metric: string };
  /** This node started or stopped leading a singleton duty (src/cluster/). */
  'leader:change': { duty: string; leading: boolean };
  /** One run of a singleton duty ended (also after an error, which is logged). */
  'leader:duty-run': { duty: string; durationMs: number };
  /**
   * A recipient reported a message as spam (a feedback-loop report or a
   * complaint recorded through the API), counted by the complaint-rate alert.
   */
  'message:complained': { id?: string; email: string };
  /** An alert rule's firing instances changed (src/alerts/): how many fire now. */
  'alert:state': { rule: string; firing: number };
}

type Listener<T> = (payload: T) => void;

export class EventBus<M extends object = SluiceEventMap> {
  private readonly listeners = new Map<keyof M, Set<Listener<never>>>();

  on<K extends keyof M>(event: K, listener: Listener<M[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  emit<K extends keyof M>(event: K, payload: M[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of set) (listener as Listener<M[K]>)(payload);
  }
}
