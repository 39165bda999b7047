/**
 * Alert rules evaluated against the node's signals at an instant given by
 * the caller (the injected Clock): pure bookkeeping, no timers, no I/O.
 *
 * One rule can watch several subjects (`relay-down` without `relay`: every
 * relay; `pool-down` without `pool`: every pool); each subject is its own
 * alert instance. State machine of one instance:
 *
 *   (none) ──condition holds──► pending(since) ──held `for`──► firing ──condition gone──► (none)
 *     ▲                            │ condition gone                           emits `resolved`
 *     └────────────────────────────┘ (nothing emitted)        emits `firing`
 *
 * With `for: 0` a condition fires at the first evaluation that sees it.
 * A subject that disappears (a relay no longer reported) counts as the
 * condition gone. Rates over a window never fire below `minEvents` in the
 * denominator, so one bounce out of two sends is not a 50 % bounce rate.
 */
import type { CircuitState } from '../core/circuit-breaker.js';
import type { AlertRuleConfig } from '../config/config.js';
import type { AlertKind } from '../config/schema.js';

export interface WindowCounts {
  delivered: number;
  deferred: number;
  bounced: number;
  complained: number;
}

export interface AlertSignals {
  relays: readonly { name: string; state: CircuitState }[];
  /** `available`: relays of the pool with a closed circuit. */
  pools: readonly { name: string; available: number; total: number }[];
  /** Outcome counts over the last `windowMs`. */
  window(windowMs: number): WindowCounts;
  /** Age of the oldest message not yet final; undefined when none (or unknown). */
  oldestPendingAgeMs?: number;
}

export interface AlertInstance {
  rule: string;
  kind: AlertKind;
  /** The relay or pool, for rules that watch several. */
  subject?: string;
  /** When the condition started to hold (epoch ms). */
  since: number;
  /** When it fired; absent while pending. */
  firedAt?: number;
  /** The measured value: a percentage, an age in ms, or 1 for a relay or pool down. */
  value: number;
  threshold?: number;
  summary: string;
}

export interface AlertTransition {
  status: 'firing' | 'resolved';
  at: number;
  alert: AlertInstance;
}

interface Observation {
  subject?: string;
  holds: boolean;
  value: number;
  threshold?: number;
  summary: string;
}

export class AlertEvaluator {
  private readonly instances = new Map<string, AlertInstance>();

  constructor(private readonly rules: readonly AlertRuleConfig[]) {}

  /** Evaluates every rule at `now`; returns what fired and what resolved, in rule order. */
  evaluate(now: number, signals: AlertSignals): AlertTransition[] {
    const transitions: AlertTransition[] = [];
    for (const rule of this.rules) {
      const seen = new Set<string>();
      for (const o of observe(rule, signals)) {
        const key = instanceKey(rule.name, o.subject);
        seen.add(key);
        const current = this.instances.get(key);
        if (!o.holds) {
          if (current) this.end(key, current, now, o, transitions);
          continue;
        }
        const instance: AlertInstance = current ?? {
          rule: rule.name,
          kind: rule.kind,
          ...(o.subject !== undefined ? { subject: o.subject } : {}),
          since: now,
          value: o.value,
          summary: o.summary,
        };
        instance.value = o.value;
        instance.summary = o.summary;
        if (o.threshold !== undefined) instance.threshold = o.threshold;
        this.instances.set(key, instance);
        if (instance.firedAt === undefined && now - instance.since >= rule.forMs) {
          instance.firedAt = now;
          transitions.push({ status: 'firing', at: now, alert: { ...instance } });
        }
      }
      for (const [key, instance] of this.instances) {
        if (instance.rule !== rule.name || seen.has(key)) continue;
        this.end(key, instance, now, undefined, transitions);
      }
    }
    return transitions;
  }

  /** Firing instances (not pending ones), in the order they fired. */
  firing(): AlertInstance[] {
    return [...this.instances.values()]
      .filter((i) => i.firedAt !== undefined)
      .sort((a, b) => (a.firedAt ?? 0) - (b.firedAt ?? 0))
      .map((i) => ({ ...i }));
  }

  /** Firing instances per rule, every configured rule present (0 when quiet). */
  firingCounts(): Map<string, number> {
    const counts = new Map(this.rules.map((r) => [r.name, 0]));
    for (const i of this.instances.values()) {
      if (i.firedAt !== undefined) counts.set(i.rule, (counts.get(i.rule) ?? 0) + 1);
    }
    return counts;
  }

  private end(
    key: string,
    instance: AlertInstance,
    now: number,
    latest: Observation | undefined,
    transitions: AlertTransition[],
  ): void {
    this.instances.delete(key);
    if (instance.firedAt === undefined) return;
    transitions.push({
      status: 'resolved',
      at: now,
      alert: {
        ...instance,
        ...(latest ? { value: latest.value, summary: latest.summary } : {}),
      },
    });
  }
}

function instanceKey(rule: string, subject: string | undefined): string {
  return subject === undefined ? rule : `${rule}\u0000${subject}`;
}

function percent(numerator: number, denominator: number): number {
  return denominator === 0 ? 0 : Math.round((numerator / denominator) * 10_000) / 100;
}

function observe(rule: AlertRuleConfig, signals: AlertSignals): Observation[] {
  switch (rule.kind) {
    case 'relay-down':
      return signals.relays
        .filter((r) => rule.relay === undefined || r.name === rule.relay)
        .map((r) => ({
          subject: r.name,
          holds: r.state !== 'closed',
          value: r.state === 'closed' ? 0 : 1,
          summary: `relay ${r.name}: circuit ${r.state}`,
        }));
    case 'pool-down':
      return signals.pools
        .filter((p) => rule.pool === undefined || p.name === rule.pool)
        .map((p) => ({
          subject: p.name,
          holds: p.total > 0 && p.available === 0,
          value: p.available === 0 ? 1 : 0,
          summary: `pool ${p.name}: ${p.available} of ${p.total} relays up`,
        }));
    case 'error-rate':
    case 'bounce-rate':
    case 'complaint-rate': {
      const c = signals.window(rule.windowMs);
      const [numerator, denominator, what] =
        rule.kind === 'error-rate'
          ? [c.deferred + c.bounced, c.delivered + c.deferred + c.bounced, 'attempts failed']
          : rule.kind === 'bounce-rate'
            ? [c.bounced, c.delivered + c.bounced, 'bounced']
            : [c.complained, c.delivered, 'complaints per delivery'];
      const value = percent(numerator, denominator);
      const threshold = rule.threshold ?? 100;
      return [
        {
          holds: denominator >= rule.minEvents && value > threshold,
          value,
          threshold,
          summary: `${value} % ${what} (${numerator} of ${denominator}) over ${Math.round(rule.windowMs / 1000)} s; threshold ${threshold} %`,
        },
      ];
    }
    case 'queue-age': {
      const age = signals.oldestPendingAgeMs;
      const maxAgeMs = rule.maxAgeMs ?? Number.POSITIVE_INFINITY;
      return [
        {
          holds: age !== undefined && age > maxAgeMs,
          value: age ?? 0,
          threshold: maxAgeMs,
          summary:
            age === undefined
              ? 'no message is waiting'
              : `the oldest waiting message is ${Math.round(age / 1000)} s old; limit ${Math.round(maxAgeMs / 1000)} s`,
        },
      ];
    }
  }
}
