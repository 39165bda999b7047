/**
 * Runs the alert rules of one node: every `evaluateInterval` it gathers the
 * signals (relay circuits and pool availability from the delivery worker,
 * outcome counts from the live stats, the oldest waiting message from the
 * store), lets the evaluator decide what fired and resolved, and for each
 * transition logs a line, keeps it in a short history for the dashboard,
 * updates `sluice_alerts_firing` (through the `alert:state` event) and
 * notifies the webhooks.
 *
 * Each node evaluates what it sees: relay health is per node (each has its
 * own connections and circuits), and the rates are of the node's own sends.
 * With several nodes, a relay that is down for all of them is reported by
 * each; the notification names its node.
 */
import type { AlertsConfig } from '../config/config.js';
import type { Clock } from '../core/clock.js';
import type { EventBus } from '../core/events.js';
import type { Store } from '../core/ports/store.js';
import type { DeliveryView } from '../delivery/delivery-snapshot.js';
import type { LiveStats } from '../observability/live-stats.js';
import {
  AlertEvaluator,
  type AlertInstance,
  type AlertSignals,
  type AlertTransition,
} from './alert-evaluator.js';
import { AlertNotifier, type NotifierLogger } from './alert-notifier.js';

/** Transitions kept for the dashboard. */
const HISTORY = 200;

export interface AlertManagerOptions {
  config: AlertsConfig;
  clock: Clock;
  events: EventBus;
  store: Store;
  stats: LiveStats;
  delivery?: DeliveryView;
  logger: NotifierLogger & { error(fields: Record<string, unknown>, message: string): void };
  nodeId: string;
  /** Passed to the notifier (tests shorten the retry delays). */
  retryDelayMs?: (n: number) => number;
}

export interface AlertNotification {
  type: 'alert.firing' | 'alert.resolved';
  alert: {
    rule: string;
    kind: string;
    subject: string | null;
    summary: string;
    value: number;
    threshold: number | null;
    since: string;
    firedAt: string | null;
    resolvedAt: string | null;
  };
  node: string;
  sentAt: string;
}

export class AlertManager {
  private readonly evaluator: AlertEvaluator;
  readonly notifier: AlertNotifier;
  private readonly transitions: AlertTransition[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly needsQueueAge: boolean;

  constructor(private readonly options: AlertManagerOptions) {
    const { config } = options;
    this.evaluator = new AlertEvaluator(config.rules);
    this.needsQueueAge = config.rules.some((r) => r.kind === 'queue-age');
    this.notifier = new AlertNotifier({
      webhooks: config.webhooks,
      retries: config.retries,
      timeoutMs: config.timeoutMs,
      clock: options.clock,
      logger: options.logger,
      ...(options.retryDelayMs ? { retryDelayMs: options.retryDelayMs } : {}),
    });
    for (const [rule, firing] of this.evaluator.firingCounts()) {
      options.events.emit('alert:state', { rule, firing });
    }
  }

  get rules(): AlertsConfig['rules'] {
    return this.options.config.rules;
  }

  start(): void {
    if (this.timer || this.options.config.rules.length === 0) return;
    this.timer = setInterval(() => {
      this.running ??= this.evaluate()
        .then(() => undefined)
        .catch((error: unknown) =>
          this.options.logger.error({ err: error }, 'evaluating the alert rules failed'),
        )
        .finally(() => (this.running = undefined));
    }, this.options.config.evaluateIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    await this.notifier.close();
  }

  /** One evaluation now (the timer calls it; tests call it with a fake clock). */
  async evaluate(): Promise<AlertTransition[]> {
    const { clock, store, stats, delivery, events, logger } = this.options;
    const now = clock.now();
    const snapshot = delivery?.snapshot();
    const closed = new Set(snapshot?.relays.filter((r) => r.state === 'closed').map((r) => r.name));
    let oldestPendingAgeMs: number | undefined;
    if (this.needsQueueAge) {
      const oldest = await store.dashboard.oldestPendingAt();
      if (oldest !== undefined) oldestPendingAgeMs = Math.max(0, now - oldest);
    }
    const signals: AlertSignals = {
      relays: snapshot?.relays ?? [],
      // A pool is down when none of its relays has a closed circuit. Not the
      // pool's own `available`: a half-open relay counts there (it takes the
      // probe), and a relay that stays down would make the alert flap with
      // every cool-down.
      pools:
        snapshot?.pools.map((p) => ({
          name: p.name,
          available: p.relays.filter((name) => closed.has(name)).length,
          total: p.relays.length,
        })) ?? [],
      window: (windowMs) => stats.window(windowMs),
      ...(oldestPendingAgeMs !== undefined ? { oldestPendingAgeMs } : {}),
    };
    const transitions = this.evaluator.evaluate(now, signals);
    if (transitions.length === 0) return transitions;
    for (const t of transitions) {
      this.transitions.push(t);
      const fields = { rule: t.alert.rule, subject: t.alert.subject, summary: t.alert.summary };
      if (t.status === 'firing') logger.warn(fields, 'alert firing');
      else logger.info(fields, 'alert resolved');
      this.notifier.notify(this.notification(t));
    }
    if (this.transitions.length > HISTORY) {
      this.transitions.splice(0, this.transitions.length - HISTORY);
    }
    for (const [rule, firing] of this.evaluator.firingCounts()) {
      events.emit('alert:state', { rule, firing });
    }
    return transitions;
  }

  firing(): AlertInstance[] {
    return this.evaluator.firing();
  }

  /** Latest transitions, newest first. */
  history(): AlertTransition[] {
    return [...this.transitions].reverse();
  }

  private notification(t: AlertTransition): AlertNotification {
    const a = t.alert;
    const iso = (ms: number) => new Date(ms).toISOString();
    return {
      type: t.status === 'firing' ? 'alert.firing' : 'alert.resolved',
      alert: {
        rule: a.rule,
        kind: a.kind,
        subject: a.subject ?? null,
        summary: a.summary,
        value: a.value,
        threshold: a.threshold ?? null,
        since: iso(a.since),
        firedAt: a.firedAt !== undefined ? iso(a.firedAt) : null,
        resolvedAt: t.status === 'resolved' ? iso(t.at) : null,
      },
      node: this.options.nodeId,
      sentAt: iso(t.at),
    };
  }
}
