/**
 * Live figures of this node for the dashboard's charts and the alert rules:
 * counters fed by the event bus, sampled every `intervalMs` into a ring
 * buffer of per-interval deltas. The dashboard polls the buffer (so a chart
 * needs no history of its own and every viewer sees the same points), and
 * the alert rules sum the samples of their window.
 *
 * Per sample: messages accepted, delivered, deferred, bounced, failed,
 * expired, suppressed and complained in the interval, per relay too; the
 * accept-to-delivery latency p50/p99 of the deliveries of the interval (from
 * at most LATENCY_RESERVOIR of them); the process CPU share and memory; and,
 * from the store, the oldest waiting message and (only while someone watches:
 * it counts every row by status) the queue depth.
 *
 * Figures are this node's: with several nodes, each dashboard shows the node
 * that serves it, and Prometheus (docs/grafana-dashboard.json) sums them.
 */
import type { Clock } from '../core/clock.js';
import type { EventBus } from '../core/events.js';
import type { StatusCounts, Store } from '../core/ports/store.js';

/** Latencies kept per interval for the percentiles; beyond it, a uniform sample (reservoir). */
const LATENCY_RESERVOIR = 4_096;
/** How long after the last poll the queue depth is still counted at every sample. */
const VIEWER_TTL_MS = 30_000;

export const COUNTED = [
  'accepted',
  'delivered',
  'deferred',
  'bounced',
  'failed',
  'expired',
  'suppressed',
  'complained',
] as const;
export type Counted = (typeof COUNTED)[number];
export type Counts = Record<Counted, number>;

export interface RelayCounts {
  delivered: number;
  deferred: number;
  bounced: number;
  connectionErrors: number;
}

export interface LiveSample {
  /** End of the interval (epoch ms). */
  at: number;
  intervalMs: number;
  counts: Counts;
  relays: Record<string, RelayCounts>;
  bounceCategories: Record<string, number>;
  latencyP50Ms?: number;
  latencyP99Ms?: number;
  /** Process CPU time over wall time in the interval, in % of one core. */
  cpuPercent: number;
  rssBytes: number;
  heapUsedBytes: number;
  /** Age of the oldest message not yet final; absent when the queue is empty. */
  oldestPendingAgeMs?: number;
  /** Messages by status, when someone watched recently. */
  queue?: StatusCounts;
}

export interface LiveStatsOptions {
  events: EventBus;
  store: Store;
  clock: Clock;
  intervalMs: number;
  /** Samples kept: the longest window anyone (an alert rule) sums over, in samples. */
  capacity: number;
  /** Logs a failed store read (the sample is kept without the store figures). */
  onError?: (error: unknown) => void;
}

function zeroCounts(): Counts {
  return {
    accepted: 0,
    delivered: 0,
    deferred: 0,
    bounced: 0,
    failed: 0,
    expired: 0,
    suppressed: 0,
    complained: 0,
  };
}

export class LiveStats {
  private samples: LiveSample[] = [];
  private counts = zeroCounts();
  private readonly sums = zeroCounts();
  private relays: Record<string, RelayCounts> = {};
  private categories: Record<string, number> = {};
  private latencies: number[] = [];
  private latencySeen = 0;
  private lastAt: number;
  private lastCpu = process.cpuUsage();
  private lastViewedAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;
  private readonly unsubscribe: (() => void)[];

  constructor(private readonly options: LiveStatsOptions) {
    this.lastAt = options.clock.now();
    const { events } = options;
    const relay = (name: string): RelayCounts =>
      (this.relays[name] ??= { delivered: 0, deferred: 0, bounced: 0, connectionErrors: 0 });
    this.unsubscribe = [
      events.on('message:accepted', () => this.counts.accepted++),
      events.on('send:delivered', (e) => {
        this.counts.delivered++;
        relay(e.relay).delivered++;
        this.observeLatency(e.sinceAcceptMs);
      }),
      events.on('send:deferred', (e) => {
        this.counts.deferred++;
        if (e.relay !== undefined) relay(e.relay).deferred++;
      }),
      events.on('send:bounced', (e) => {
        this.counts.bounced++;
        relay(e.relay).bounced++;
        this.categories[e.category] = (this.categories[e.category] ?? 0) + 1;
      }),
      events.on('message:failed', () => this.counts.failed++),
      events.on('message:expired', () => this.counts.expired++),
      events.on('message:suppressed', () => this.counts.suppressed++),
      events.on('message:complained', () => this.counts.complained++),
      events.on('relay:connection-error', (e) => relay(e.relay).connectionErrors++),
    ];
  }

  get intervalMs(): number {
    return this.options.intervalMs;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.sampling ??= this.sample().then(
        () => {
          this.sampling = undefined;
        },
        (error: unknown) => {
          this.sampling = undefined;
          this.options.onError?.(error);
        },
      );
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe.forEach((off) => off());
    await this.sampling;
  }

  /** A viewer is polling: count the queue depth at the next samples. */
  viewed(): void {
    this.lastViewedAt = this.options.clock.now();
  }

  /** Closes the current interval and appends its sample (the timer calls it; tests call it directly). */
  async sample(): Promise<LiveSample> {
    const { clock, store } = this.options;
    const at = clock.now();
    const intervalMs = Math.max(1, at - this.lastAt);
    const cpu = process.cpuUsage(this.lastCpu);
    this.lastCpu = process.cpuUsage();
    const latencies = this.latencies.sort((a, b) => a - b);
    const memory = process.memoryUsage();
    const sample: LiveSample = {
      at,
      intervalMs,
      counts: this.counts,
      relays: this.relays,
      bounceCategories: this.categories,
      ...(latencies.length > 0
        ? { latencyP50Ms: percentile(latencies, 0.5), latencyP99Ms: percentile(latencies, 0.99) }
        : {}),
      cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / intervalMs) * 1000) / 10,
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
    };
    for (const key of COUNTED) this.sums[key] += this.counts[key];
    this.counts = zeroCounts();
    this.relays = {};
    this.categories = {};
    this.latencies = [];
    this.latencySeen = 0;
    this.lastAt = at;
    try {
      const oldest = await store.dashboard.oldestPendingAt();
      if (oldest !== undefined) sample.oldestPendingAgeMs = Math.max(0, at - oldest);
      if (at - this.lastViewedAt <= VIEWER_TTL_MS) {
        sample.queue = await store.messages.countByStatus();
      }
    } catch (error) {
      this.options.onError?.(error);
    }
    this.samples.push(sample);
    if (this.samples.length > this.options.capacity) {
      this.samples.splice(0, this.samples.length - this.options.capacity);
    }
    return sample;
  }

  /** Samples newer than `since` (epoch ms), oldest first. */
  since(since: number): LiveSample[] {
    return this.samples.filter((s) => s.at > since);
  }

  /** Counts since this node started, up to the latest sample. */
  totals(): Counts {
    return { ...this.sums };
  }

  /** The latest sample, if any. */
  latest(): LiveSample | undefined {
    return this.samples[this.samples.length - 1];
  }

  /** Counts summed over the samples that ended within `windowMs` of now. */
  window(windowMs: number): Counts {
    const from = this.options.clock.now() - windowMs;
    const total = zeroCounts();
    for (const s of this.samples) {
      if (s.at <= from) continue;
      for (const key of COUNTED) total[key] += s.counts[key];
    }
    return total;
  }

  private observeLatency(ms: number): void {
    this.latencySeen++;
    if (this.latencies.length < LATENCY_RESERVOIR) {
      this.latencies.push(ms);
      return;
    }
    // Reservoir sampling: every delivery of the interval equally likely to be kept.
    const slot = Math.floor(Math.random() * this.latencySeen);
    if (slot < LATENCY_RESERVOIR) this.latencies[slot] = ms;
  }
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank] ?? 0;
}
