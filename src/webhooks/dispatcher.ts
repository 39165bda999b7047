/**
 * The webhook dispatcher: takes due rows of the webhook outbox (written by
 * the store in the same transaction as each event's source), POSTs them,
 * and records what came of it. Runs on every node that delivers
 * (`node.role` all or worker); several nodes share the rows through the
 * store's claim (`FOR UPDATE SKIP LOCKED` on PostgreSQL).
 *
 * One round:
 *
 *   free = concurrency − in flight            (nothing to do when 0)
 *   for each enabled endpoint with due rows:  (store.webhooks.dueEndpoints)
 *     claim ≤ min(free, perEndpointConcurrency − its in flight) rows, leased
 *     for timeout + LEASE_MARGIN_MS, and start each one's POST now
 *
 * then sleeps until woken (an API enqueue; settle batches, gathered over
 * SETTLE_WAKE_DELAY_MS: wakeSoon), until a slot frees, or for `pollInterval`
 * (the backstop: engagement and other nodes' events are found by polling),
 * whichever is first.
 *
 * One POST: body `{id, type, createdAt, data}`, headers Sluice-Signature
 * (core/webhook-signature.ts; two v1 values while a rotated secret's grace
 * lasts), Sluice-Event-Id (stable across retries, for receiver dedupe) and
 * Sluice-Event-Type. A 2xx completes the row. Anything else (3xx included:
 * redirects are not followed; a timeout; a refused address) schedules the
 * next try with exponential backoff and jitter (core/retry.ts), until the
 * event is `retry.window` old: the last try is made at the window's end,
 * then the row is `failed` (given up, kept in the delivery log).
 *
 * At least once: a node that dies mid-request leaves its rows `sending`;
 * their lease runs out and any dispatcher sends them again, with the same
 * event id. Completion is guarded by the lease owner.
 */
import type { Clock } from '../core/clock.js';
import type { EventBus } from '../core/events.js';
import type { Store } from '../core/ports/store.js';
import type {
  ClaimedWebhookDelivery,
  WebhookAttemptResult,
  WebhookSecrets,
} from '../core/ports/webhook-store.js';
import { nextAttemptAt, type RetryPolicy } from '../core/retry.js';
import { webhookBody } from '../core/webhook-events.js';
import { SIGNATURE_HEADER, signWebhook } from '../core/webhook-signature.js';
import type { HttpSender, SendOutcome } from './http-sender.js';

export const EVENT_ID_HEADER = 'sluice-event-id';
export const EVENT_TYPE_HEADER = 'sluice-event-type';

/** A lease outlasts the request timeout by this much, so a slow answer is never sent twice. */
const LEASE_MARGIN_MS = 30_000;
/** Endpoints looked at per round. */
const ENDPOINTS_PER_ROUND = 100;
/**
 * Settle batches wake the dispatcher through wakeSoon(): one round for all
 * the batches of this window. A round per batch (one every few milliseconds
 * under load) queried the outbox ~300 times a second on the one event loop
 * that also sends the mail, mostly for nothing (bench/triggers: ~1 % of a
 * triggered email's CPU, with no endpoint at all); a webhook now waits at
 * most this much longer.
 */
export const SETTLE_WAKE_DELAY_MS = 50;
/** Finished rows are purged at most this often. */
const PURGE_INTERVAL_MS = 3_600_000;

export interface DispatcherConfig {
  concurrency: number;
  perEndpointConcurrency: number;
  timeoutMs: number;
  pollIntervalMs: number;
  /** `maxAgeMs` is the retry window, counted from the event. */
  retry: RetryPolicy;
  retentionMs: number;
}

export interface DispatcherLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface DispatcherOptions {
  store: Store;
  clock: Clock;
  events: EventBus;
  logger: DispatcherLogger;
  sender: HttpSender;
  nodeId: string;
  config: DispatcherConfig;
  random?: () => number;
}

/** The Sluice-Signature value: the current secret, plus the previous one while it is valid. */
export function signatureFor(secrets: WebhookSecrets, body: string, now: number): string {
  const header = signWebhook(secrets.current, body, now);
  if (secrets.previous === undefined || (secrets.previousExpiresAt ?? 0) <= now) return header;
  const previous = signWebhook(secrets.previous, body, now).split(',v1=')[1];
  return `${header},v1=${previous}`;
}

export class WebhookDispatcher {
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly inFlight = new Map<string, number>();
  private readonly sends = new Set<Promise<void>>();
  private total = 0;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private wakeTimer: NodeJS.Timeout | undefined;
  private lastPurge = 0;

  constructor(private readonly options: DispatcherOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** New rows may be due: the sleeping loop looks now. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** New rows may be due (a settle batch committed): looks within SETTLE_WAKE_DELAY_MS, once for all such calls meanwhile. */
  wakeSoon(): void {
    if (this.wakeTimer || !this.running) return;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.wake();
    }, SETTLE_WAKE_DELAY_MS);
  }

  /** Stops claiming, lets in-flight requests end (each within the timeout), closes connections. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    this.wakeUp?.();
    await this.loop;
    await Promise.allSettled([...this.sends]);
    this.options.sender.close();
  }

  /**
   * One round (see the header); returns how many requests it started.
   * Tests call it with a ManualClock, then `settled()`.
   */
  async round(): Promise<number> {
    const { store, clock, config, nodeId } = this.options;
    let free = config.concurrency - this.total;
    if (free <= 0) return 0;
    const now = clock.now();
    await this.purgeIfDue(now);
    const endpoints = await store.webhooks.dueEndpoints(now, ENDPOINTS_PER_ROUND);
    let started = 0;
    for (const endpointId of endpoints) {
      const room = Math.min(
        free,
        config.perEndpointConcurrency - (this.inFlight.get(endpointId) ?? 0),
      );
      if (room <= 0) continue;
      const claimed = await store.webhooks.claim({
        endpointId,
        limit: room,
        leaseMs: config.timeoutMs + LEASE_MARGIN_MS,
        owner: nodeId,
        now: clock.now(),
      });
      for (const delivery of claimed) this.track(delivery);
      started += claimed.length;
      free -= claimed.length;
      if (free <= 0) break;
    }
    return started;
  }

  /** Resolves when every request started so far has been recorded. */
  async settled(): Promise<void> {
    while (this.sends.size > 0) await Promise.allSettled([...this.sends]);
  }

  private async run(): Promise<void> {
    const { logger, config } = this.options;
    while (this.running) {
      this.woken = false;
      let started = 0;
      try {
        started = await this.round();
      } catch (error) {
        logger.error({ err: error }, 'webhook dispatcher: claiming failed; trying again');
      }
      if (!this.running) break;
      if (started > 0 && this.total < config.concurrency) continue;
      if (this.woken) continue;
      await this.sleep(config.pollIntervalMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = undefined;
        done();
      };
    });
  }

  private track(delivery: ClaimedWebhookDelivery): void {
    const id = delivery.endpointId;
    this.inFlight.set(id, (this.inFlight.get(id) ?? 0) + 1);
    this.total += 1;
    const send = this.deliver(delivery).finally(() => {
      const left = (this.inFlight.get(id) ?? 1) - 1;
      if (left > 0) this.inFlight.set(id, left);
      else this.inFlight.delete(id);
      this.total -= 1;
      this.sends.delete(send);
      this.wake();
    });
    this.sends.add(send);
  }

  private async deliver(delivery: ClaimedWebhookDelivery): Promise<void> {
    const { clock, sender, store, events, logger, nodeId } = this.options;
    const body = webhookBody({
      id: delivery.eventId,
      type: delivery.type,
      createdAt: delivery.createdAt,
      data: delivery.data,
    });
    const startedAt = clock.now();
    const started = performance.now();
    const outcome = await sender.post(delivery.url, body, {
      [SIGNATURE_HEADER]: signatureFor(delivery.secrets, body, startedAt),
      [EVENT_ID_HEADER]: delivery.eventId,
      [EVENT_TYPE_HEADER]: delivery.type,
    });
    const at = clock.now();
    const result = this.resultOf(delivery, outcome, at);
    events.emit('webhook:attempt', {
      endpointId: delivery.endpointId,
      type: delivery.type,
      outcome: result.outcome,
      durationMs: performance.now() - started,
      ...(result.status !== undefined ? { status: result.status } : {}),
    });
    const fields = {
      endpoint: delivery.endpointId,
      event: delivery.eventId,
      type: delivery.type,
      attempt: delivery.attempts + 1,
      ...(result.status !== undefined ? { status: result.status } : {}),
      ...(result.error !== undefined ? { error: result.error } : {}),
    };
    if (result.outcome === 'failed') logger.warn(fields, 'webhook given up');
    else logger.debug(fields, `webhook ${result.outcome}`);
    try {
      await store.webhooks.complete([result]);
    } catch (error) {
      // The lease runs out and the row is sent again: at least once.
      logger.error({ err: error, ...fields, owner: nodeId }, 'recording a webhook attempt failed');
    }
  }

  private resultOf(
    delivery: ClaimedWebhookDelivery,
    outcome: SendOutcome,
    at: number,
  ): WebhookAttemptResult {
    const base = {
      endpointId: delivery.endpointId,
      eventId: delivery.eventId,
      owner: this.options.nodeId,
      at,
      ...('status' in outcome ? { status: outcome.status } : {}),
    };
    if (outcome.kind === 'ok') return { ...base, outcome: 'delivered' };
    const { retry } = this.options.config;
    const next = nextAttemptAt(
      retry,
      delivery.attempts + 1,
      at,
      delivery.createdAt + retry.maxAgeMs,
      this.options.random,
    );
    return next === undefined
      ? { ...base, outcome: 'failed', error: outcome.error }
      : { ...base, outcome: 'retry', error: outcome.error, nextAttemptAt: next };
  }

  private async purgeIfDue(now: number): Promise<void> {
    if (now - this.lastPurge < PURGE_INTERVAL_MS) return;
    this.lastPurge = now;
    const purged = await this.options.store.webhooks.purge(now - this.options.config.retentionMs);
    if (purged > 0) this.options.logger.info({ count: purged }, 'purged old webhook deliveries');
  }
}
