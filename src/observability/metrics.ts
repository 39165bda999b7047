/**
 * Prometheus metrics. They are fed by the typed event bus (core and delivery
 * never import prom-client) and, for queue depth, read from the store at
 * scrape time. Each Sluice instance has its own registry (no global state),
 * so tests can run several in one process.
 */
import client from 'prom-client';
import type { EventBus } from '../core/events.js';
import { MESSAGE_STATUSES } from '../core/message.js';
import type { Store } from '../core/ports/store.js';

export interface Metrics {
  readonly contentType: string;
  render(): Promise<string>;
  /** Stops listening to the event bus. */
  close(): void;
}

const LATENCY_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600,
];

export function createMetrics(events: EventBus, store: Store): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'sluice_process_' });

  const accepted = new client.Counter({
    name: 'sluice_messages_accepted_total',
    help: 'Messages durably accepted, by stream.',
    labelNames: ['stream'],
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
    help: 'Permanent failures (5xx), by relay.',
    labelNames: ['relay'],
    registers: [registry],
  });
  const expired = new client.Counter({
    name: 'sluice_messages_expired_total',
    help: 'Messages given up after delivery.retry.maxAge.',
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

  const unsubscribe = [
    events.on('message:accepted', (e) => accepted.inc({ stream: e.stream })),
    events.on('send:delivered', (e) => {
      delivered.inc({ relay: e.relay });
      sendLatency.observe({ relay: e.relay }, e.latencyMs / 1000);
      acceptToDelivery.observe(e.sinceAcceptMs / 1000);
    }),
    events.on('send:deferred', (e) => deferred.inc({ relay: e.relay ?? 'none' })),
    events.on('send:bounced', (e) => bounced.inc({ relay: e.relay })),
    events.on('message:expired', () => expired.inc()),
    events.on('message:failed', () => failed.inc()),
    events.on('relay:connection-error', (e) => connectionErrors.inc({ relay: e.relay })),
  ];

  return {
    contentType: registry.contentType,
    render: () => registry.metrics(),
    close: () => unsubscribe.forEach((off) => off()),
  };
}
