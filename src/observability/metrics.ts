/**
 * Prometheus metrics. They are fed by the typed event bus (core and delivery
 * never import prom-client) and, for queue depth, read from the store at
 * scrape time. Each Sluice instance has its own registry (no global state),
 * so tests can run several in one process.
 */
import client from 'prom-client';
import { systemClock, type Clock } from '../core/clock.js';
import type { EventBus } from '../core/events.js';
import { CIRCUIT_STATES } from '../core/circuit-breaker.js';
import { MESSAGE_STATUSES } from '../core/message.js';
import type { Store } from '../core/ports/store.js';
import { WEBHOOK_DELIVERY_STATUSES } from '../core/ports/webhook-store.js';

export interface Metrics {
  readonly contentType: string;
  render(): Promise<string>;
  /** Stops listening to the event bus. */
  close(): void;
}

const LATENCY_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600,
];

export function createMetrics(events: EventBus, store: Store, clock: Clock = systemClock): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'sluice_process_' });

  const accepted = new client.Counter({
    name: 'sluice_messages_accepted_total',
    help: 'Messages durably accepted, by stream.',
    labelNames: ['stream'],
    registers: [registry],
  });
  // By endpoint, not by event name: names are chosen by clients, and one
  // label value per name could grow the series without bound.
  const eventsIngested = new client.Counter({
    name: 'sluice_events_ingested_total',
    help: 'Events durably stored, by endpoint (single, batch).',
    labelNames: ['endpoint'],
    registers: [registry],
  });
  const eventsDuplicates = new client.Counter({
    name: 'sluice_events_duplicates_total',
    help: 'Events not stored again because their id was stored before, by endpoint.',
    labelNames: ['endpoint'],
    registers: [registry],
  });
  const eventsOverloaded = new client.Counter({
    name: 'sluice_events_overloaded_total',
    help: 'Events refused with 429 because events.maxPending were waiting, by endpoint.',
    labelNames: ['endpoint'],
    registers: [registry],
  });
  const delivered = new client.Counter({
    name: 'sluice_messages_delivered_total',
    help: 'Messages a relay accepted with 250, by relay.',
    labelNames: ['relay'],
    registers: [registry],
  });
  const deferred = new client.Counter({
    name: 'sluice_messages_deferred_total',
    help: 'Temporary failures (4xx, connection problems) that scheduled a retry, by relay.',
    labelNames: ['relay'],
    registers: [registry],
  });
  const bounced = new client.Counter({
    name: 'sluice_messages_bounced_total',
    help: 'Permanent failures (5xx), by relay and bounce category (docs/bounces.md).',
    labelNames: ['relay', 'category'],
    registers: [registry],
  });
  const expired = new client.Counter({
    name: 'sluice_messages_expired_total',
    help: 'Messages given up after delivery.retry.maxAge.',
    registers: [registry],
  });
  const suppressed = new client.Counter({
    name: 'sluice_messages_suppressed_total',
    help: 'Messages not sent because the recipient is on the suppression list.',
    registers: [registry],
  });
  const failed = new client.Counter({
    name: 'sluice_messages_failed_total',
    help: 'Messages that could not be rendered or built.',
    registers: [registry],
  });
  const connectionErrors = new client.Counter({
    name: 'sluice_relay_connection_errors_total',
    help: 'Connections to a relay that failed to open or broke, by relay.',
    labelNames: ['relay'],
    registers: [registry],
  });
  const sendLatency = new client.Histogram({
    name: 'sluice_send_duration_seconds',
    help: 'Time of one successful SMTP transaction, by relay.',
    labelNames: ['relay'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const acceptToDelivery = new client.Histogram({
    name: 'sluice_accept_to_delivery_seconds',
    help: 'Time from the accept (202) to the 250 of the relay.',
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  new client.Gauge({
    name: 'sluice_queue_depth',
    help: 'Messages in the outbox by state (read from the database at scrape time).',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const counts = await store.messages.countByStatus();
      for (const status of MESSAGE_STATUSES) this.set({ status }, counts[status]);
    },
  });

  new client.Gauge({
    name: 'sluice_queue_oldest_age_seconds',
    help: 'Age of the oldest message not yet final (queued, deferred, sending); 0 when none (read at scrape time).',
    registers: [registry],
    async collect() {
      const oldest = await store.dashboard.oldestPendingAt();
      this.set(oldest === undefined ? 0 : Math.max(0, clock.now() - oldest) / 1000);
    },
  });

  const relayUp = new client.Gauge({
    name: 'sluice_relay_up',
    help: 'Whether a relay takes traffic (1: circuit closed; 0: open or half-open), by relay.',
    labelNames: ['relay'],
    registers: [registry],
  });
  const circuit = new client.Gauge({
    name: 'sluice_relay_circuit_state',
    help: 'Circuit breaker state of a relay: 1 for the current state, 0 for the others.',
    labelNames: ['relay', 'state'],
    registers: [registry],
  });
  const relayInFlight = new client.Gauge({
    name: 'sluice_relay_in_flight',
    help: 'Messages assigned to a relay (waiting for or using a connection), by relay.',
    labelNames: ['relay'],
    registers: [registry],
  });
  const poolAvailable = new client.Gauge({
    name: 'sluice_pool_available_relays',
    help: 'Relays of a pool that take traffic now; 0 means its messages wait in the queue.',
    labelNames: ['pool'],
    registers: [registry],
  });
  const poolRelays = new client.Gauge({
    name: 'sluice_pool_relays',
    help: 'Relays configured in a pool.',
    labelNames: ['pool'],
    registers: [registry],
  });
  const throttleWaits = new client.Counter({
    name: 'sluice_throttle_waits_total',
    help: 'Messages that waited for a throttle, by scope (rate, connections) and domain group.',
    labelNames: ['scope', 'group'],
    registers: [registry],
  });
  const throttleWaitSeconds = new client.Counter({
    name: 'sluice_throttle_wait_seconds_total',
    help: 'Time messages spent waiting for throttles, by scope and domain group.',
    labelNames: ['scope', 'group'],
    registers: [registry],
  });
  const throttleDeferrals = new client.Counter({
    name: 'sluice_throttle_deferrals_total',
    help: 'Messages sent back to the queue by a throttle (no attempt counted), by scope and group.',
    labelNames: ['scope', 'group'],
    registers: [registry],
  });
  const rateFactor = new client.Gauge({
    name: 'sluice_domain_rate_factor',
    help: 'Share of its configured limits a domain group may use now (adaptive backoff; 1 = all).',
    labelNames: ['group'],
    registers: [registry],
  });
  const ratePerSecond = new client.Gauge({
    name: 'sluice_domain_rate_per_second',
    help: 'Messages per second a domain group may receive now (configured rate times the factor).',
    labelNames: ['group'],
    registers: [registry],
  });

  const wakeups = new client.Counter({
    name: 'sluice_wakeups_total',
    help: 'Times the delivery worker was woken for new work, by source (local accept, NOTIFY from a node).',
    labelNames: ['source'],
    registers: [registry],
  });

  const webhookDeliveries = new client.Counter({
    name: 'sluice_webhook_deliveries_total',
    help: 'Webhook requests by outcome: delivered (2xx), retry (failed, tried again later), failed (given up after webhooks.retry.window).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const webhookDuration = new client.Histogram({
    name: 'sluice_webhook_request_duration_seconds',
    help: 'Time of one webhook request, whatever its outcome.',
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  new client.Gauge({
    name: 'sluice_webhook_queue',
    help: 'Webhook deliveries by state (pending, sending, delivered, failed), read from the database at scrape time.',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const counts = await store.webhooks.countByStatus();
      for (const status of WEBHOOK_DELIVERY_STATUSES) this.set({ status }, counts[status]);
    },
  });
  const alertsFiring = new client.Gauge({
    name: 'sluice_alerts_firing',
    help: 'Alert instances firing now, by rule (docs/alerts.md); 0 for a configured rule that is quiet.',
    labelNames: ['rule'],
    registers: [registry],
  });
  const complaints = new client.Counter({
    name: 'sluice_complaints_total',
    help: 'Complaints (spam reports) recorded for sent messages.',
    registers: [registry],
  });

  const campaignMessages = new client.Counter({
    name: 'sluice_campaign_messages_total',
    help: 'Messages written by campaign fan-outs (duplicates of a resumed fan-out not counted).',
    registers: [registry],
  });
  const campaignSkipped = new client.Counter({
    name: 'sluice_campaign_skipped_total',
    help: 'Active contacts a campaign fan-out left out because their address is suppressed.',
    registers: [registry],
  });
  const campaignBatchSeconds = new client.Histogram({
    name: 'sluice_campaign_batch_seconds',
    help: 'Time to read, filter and write one fan-out batch.',
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const campaignTransitions = new client.Counter({
    name: 'sluice_campaign_transitions_total',
    help: 'Campaign state changes, by new status and by who made them (api, scheduler, fan-out, guard).',
    labelNames: ['status', 'by'],
    registers: [registry],
  });
  // Triggered mail, event received → relay 250. Finer low buckets than
  // LATENCY_BUCKETS: the target is tens of milliseconds (docs/journeys.md).
  const eventToDelivery = new client.Histogram({
    name: 'sluice_event_to_delivery_seconds',
    help: 'Triggered messages: from the API receiving the triggering event to the relay answering 250.',
    buckets: [
      0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5,
      10, 30, 60,
    ],
    registers: [registry],
  });
  const journeyEntries = new client.Counter({
    name: 'sluice_journey_entries_total',
    help: 'Journey triggers, by outcome: entered (a run started), duplicate (the trigger was seen before), refused (re-entry policy).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const journeySends = new client.Counter({
    name: 'sluice_journey_sends_total',
    help: 'Journey send steps, by outcome: sent, replayed (after a crash), capped, postponed (quiet hours), skipped.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const journeyRunsEnded = new client.Counter({
    name: 'sluice_journey_runs_ended_total',
    help: 'Journey runs that ended, by status (completed, exited, failed).',
    labelNames: ['status'],
    registers: [registry],
  });
  const journeyHookDropped = new client.Counter({
    name: 'sluice_journey_hook_dropped_total',
    help: 'Events the in-process journey hook dropped as too many were queued; the backstop scan handles them.',
    registers: [registry],
  });

  const unsubscribe = [
    events.on('webhook:attempt', (e) => {
      webhookDeliveries.inc({ outcome: e.outcome });
      webhookDuration.observe(e.durationMs / 1000);
    }),
    events.on('campaign:batch', (e) => {
      campaignMessages.inc(e.created);
      campaignSkipped.inc(e.suppressed);
      campaignBatchSeconds.observe(e.durationMs / 1000);
    }),
    events.on('campaign:status', (e) => campaignTransitions.inc({ status: e.status, by: e.by })),
    events.on('worker:wake', (e) => wakeups.inc({ source: e.source })),
    events.on('relay:state', (e) => {
      relayUp.set({ relay: e.relay }, e.state === 'closed' ? 1 : 0);
      for (const state of CIRCUIT_STATES) {
        circuit.set({ relay: e.relay, state }, state === e.state ? 1 : 0);
      }
    }),
    events.on('relay:in-flight', (e) => relayInFlight.set({ relay: e.relay }, e.inFlight)),
    events.on('pool:availability', (e) => {
      poolAvailable.set({ pool: e.pool }, e.available);
      poolRelays.set({ pool: e.pool }, e.total);
    }),
    events.on('throttle:wait', (e) => {
      throttleWaits.inc({ scope: e.scope, group: e.key });
      throttleWaitSeconds.inc({ scope: e.scope, group: e.key }, e.waitMs / 1000);
    }),
    events.on('throttle:deferred', (e) => throttleDeferrals.inc({ scope: e.scope, group: e.key })),
    events.on('throttle:rate', (e) => {
      rateFactor.set({ group: e.group }, e.factor);
      if (e.perSecond !== undefined) ratePerSecond.set({ group: e.group }, e.perSecond);
    }),
    events.on('message:accepted', (e) => accepted.inc({ stream: e.stream })),
    events.on('events:accepted', (e) => {
      eventsIngested.inc({ endpoint: e.endpoint }, e.stored);
      eventsDuplicates.inc({ endpoint: e.endpoint }, e.duplicates);
    }),
    events.on('events:overloaded', (e) => eventsOverloaded.inc({ endpoint: e.endpoint }, e.events)),
    events.on('send:delivered', (e) => {
      delivered.inc({ relay: e.relay });
      sendLatency.observe({ relay: e.relay }, e.latencyMs / 1000);
      acceptToDelivery.observe(e.sinceAcceptMs / 1000);
      if (e.sinceEventMs !== undefined) eventToDelivery.observe(e.sinceEventMs / 1000);
    }),
    events.on('journey:entry', (e) => journeyEntries.inc({ outcome: e.outcome })),
    events.on('journey:send', (e) => journeySends.inc({ outcome: e.outcome })),
    events.on('journey:run-ended', (e) => journeyRunsEnded.inc({ status: e.status })),
    events.on('journey:hook-dropped', (e) => journeyHookDropped.inc(e.count)),
    events.on('send:deferred', (e) => deferred.inc({ relay: e.relay ?? 'none' })),
    events.on('send:bounced', (e) => bounced.inc({ relay: e.relay, category: e.category })),
    events.on('message:suppressed', () => suppressed.inc()),
    events.on('message:expired', () => expired.inc()),
    events.on('message:failed', () => failed.inc()),
    events.on('relay:connection-error', (e) => connectionErrors.inc({ relay: e.relay })),
    ...clusterMetrics(registry, events),
    events.on('alert:state', (e) => alertsFiring.set({ rule: e.rule }, e.firing)),
    events.on('message:complained', () => complaints.inc()),
  ];

  return {
    contentType: registry.contentType,
    render: () => registry.metrics(),
    close: () => unsubscribe.forEach((off) => off()),
  };
}

/** Leadership of singleton duties (src/cluster/); returns the unsubscribes. */
function clusterMetrics(registry: client.Registry, events: EventBus): (() => void)[] {
  const leader = new client.Gauge({
    name: 'sluice_leader',
    help: 'Whether this node leads a singleton duty (1) or not (0), by duty.',
    labelNames: ['duty'],
    registers: [registry],
  });
  const dutyRuns = new client.Counter({
    name: 'sluice_duty_runs_total',
    help: 'Runs of a singleton duty on this node, by duty.',
    labelNames: ['duty'],
    registers: [registry],
  });
  const dutySeconds = new client.Counter({
    name: 'sluice_duty_seconds_total',
    help: 'Time spent running a singleton duty on this node, by duty.',
    labelNames: ['duty'],
    registers: [registry],
  });
  return [
    events.on('leader:change', (e) => leader.set({ duty: e.duty }, e.leading ? 1 : 0)),
    events.on('leader:duty-run', (e) => {
      dutyRuns.inc({ duty: e.duty });
      dutySeconds.inc({ duty: e.duty }, e.durationMs / 1000);
    }),
  ];
}
