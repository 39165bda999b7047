/**
 * The configuration after loading: defaults applied, durations in
 * milliseconds, sizes in bytes, relays and pools resolved, frozen.
 */
import type { BounceRule } from '../core/bounce.js';
import type { AlertKind, DkimAlgorithm, NodeRole, Strategy } from './schema.js';

export interface RelayConfig {
  name: string;
  host: string;
  port: number;
  weight: number;
  maxConnections: number;
  tls: { mode: 'none' | 'starttls' | 'implicit'; rejectUnauthorized: boolean; servername?: string };
  auth?: { user: string; pass: string };
  rate?: RateConfig;
  /** Per-relay overrides of `health`. */
  health?: { failureThreshold?: number; cooldownMs?: number };
  warmup?: { start: string; dailyCaps: number[] };
  /**
   * How far Sluice pipelines (RFC 2920) when the relay offers PIPELINING:
   * `full` (absent) also writes the next message's MAIL/RCPT/DATA with a
   * body; `envelope` pipelines one message's MAIL/RCPT/DATA only; `off`
   * sends one command at a time.
   */
  pipelining?: PipeliningMode;
}

export type PipeliningMode = 'full' | 'envelope' | 'off';

/** Messages per second and/or per hour. */
export interface RateConfig {
  perSecond?: number;
  perHour?: number;
}

export interface DomainLimitsConfig extends RateConfig {
  /** Most SMTP transactions in flight at once towards the group, over all relays. */
  maxConnections?: number;
}

export interface DomainGroupConfig extends DomainLimitsConfig {
  name: string;
  domains: string[];
}

export interface PoolConfig {
  name: string;
  relays: string[];
  strategy: Strategy;
  rate?: RateConfig;
}

export interface RoutingRuleConfig {
  match: { senderDomain?: string; recipientDomain?: string; campaign?: string };
  pool: string;
}

export interface HealthConfig {
  failureThreshold: number;
  cooldownMs: number;
  maxCooldownMs: number;
  /** Active probe period; absent: no active probes. */
  probeIntervalMs?: number;
}

export interface ThrottlesConfig {
  global?: RateConfig;
  maxWaitMs: number;
  domainGroups: DomainGroupConfig[];
  domainDefaults: DomainLimitsConfig;
  adaptive: {
    enabled: boolean;
    cooldownMs: number;
    restoreIntervalMs: number;
    restoreStep: number;
    minFactor: number;
  };
}

/** One DKIM key as configured; the key itself is read by `readDkimKey` (dkim-keys.ts). */
export interface DkimKeyConfig {
  /** Lower case. */
  domain: string;
  selector: string;
  /** Absolute path. */
  privateKeyFile: string;
  /** Given, or derived from the key at load. */
  algorithm: DkimAlgorithm;
  headers: string[];
}

/** Tracking is on when `publicUrl` and `secret` are set (the loader requires both or neither). */
export interface TrackingConfig {
  /** Without a trailing slash. */
  publicUrl?: string;
  secret?: string;
  opens: boolean;
  clicks: boolean;
  /** Also add List-Unsubscribe (and opens/clicks) to transactional messages. */
  transactional?: boolean;
  unsubscribeMailto?: string;
}

export interface JourneysConfig {
  enabled: boolean;
  pollIntervalMs: number;
  leaseMs: number;
  claimBatch: number;
  backstopDelayMs: number;
  backstopIntervalMs: number;
  refreshIntervalMs: number;
  frequencyCaps: { messages: number; perMs: number }[];
  quietHours?: { start: string; end: string };
  defaultTimeZone: string;
}

/** Outgoing webhooks (docs/webhooks.md). */
export interface WebhooksConfig {
  allowPrivateNetworks: boolean;
  timeoutMs: number;
  concurrency: number;
  perEndpointConcurrency: number;
  pollIntervalMs: number;
  retry: {
    initialDelayMs: number;
    multiplier: number;
    maxDelayMs: number;
    jitter: number;
    windowMs: number;
  };
  retentionMs: number;
}

/** What applies when a hand-built configuration (tests) has no `webhooks`: the schema's defaults. */
export const DEFAULT_WEBHOOKS: WebhooksConfig = {
  allowPrivateNetworks: false,
  timeoutMs: 10_000,
  concurrency: 16,
  perEndpointConcurrency: 4,
  pollIntervalMs: 1000,
  retry: {
    initialDelayMs: 30_000,
    multiplier: 2,
    maxDelayMs: 3_600_000,
    jitter: 0.2,
    windowMs: 86_400_000,
  },
  retentionMs: 7 * 86_400_000,
};
export interface AlertRuleConfig {
  name: string;
  kind: AlertKind;
  relay?: string;
  pool?: string;
  forMs: number;
  /** Rate rules: percent. */
  threshold?: number;
  windowMs: number;
  minEvents: number;
  /** queue-age. */
  maxAgeMs?: number;
}

export interface AlertWebhookConfig {
  url: string;
  secret: string;
  allowPrivate: boolean;
}

export interface AlertsConfig {
  rules: AlertRuleConfig[];
  webhooks: AlertWebhookConfig[];
  evaluateIntervalMs: number;
  retries: number;
  timeoutMs: number;
}

export interface DashboardConfig {
  enabled: boolean;
  sessionSecret?: string;
  sessionTtlMs: number;
  sampleIntervalMs: number;
}

export interface SluiceConfig {
  http: { host: string; port: number; bodyLimit: number; importLimit: number; publicUrl?: string };
  database: { url: string; poolSize: number };
  /** Absent in hand-built configurations (tests): role `all`. */
  node?: {
    role: NodeRole;
    /** V8's heap growing factor as a percentage; 0: V8's own (main.ts applies it). */
    heapGrowthPercent: number;
  };
  dataDir: string;
  auth: { adminApiKey?: string };
  /** Never empty after loading: when none is configured and the sink runs, one relay named `sink` points at it. */
  relays: RelayConfig[];
  /** Never empty after loading: when none is configured, one pool `default` of all relays. */
  pools: PoolConfig[];
  routing: { transactional: string; bulk: string; rules: RoutingRuleConfig[] };
  health: HealthConfig;
  throttles: ThrottlesConfig;
  sink: { enabled: boolean; host: string; port: number; keep: number };
  delivery: {
    enabled: boolean;
    concurrency: number;
    claimBatch: number;
    leaseMs: number;
    pollIntervalMs: number;
    heloName?: string;
    messageIdDomain?: string;
    connectionTimeoutMs: number;
    greetingTimeoutMs: number;
    socketTimeoutMs: number;
    idleTimeoutMs: number;
    retry: {
      initialDelayMs: number;
      multiplier: number;
      maxDelayMs: number;
      jitter: number;
      maxAgeMs: number;
    };
  };
  templates: { strict: boolean; renderTimeoutMs: number };
  /** Absent in hand-built configurations (tests): the defaults of the schema apply. */
  events?: { maxPending: number };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  shutdownTimeoutMs: number;
  /** Empty when absent (hand-built configurations in tests may leave it out). */
  dkim?: DkimKeyConfig[];
  bounces?: {
    returnPathDomain?: string;
    /** Absolute path of the operator's bounce rules, when configured. */
    rulesFile?: string;
    /** The operator's rules (read from `rulesFile` at load), tried before the built-in ones. */
    rules?: BounceRule[];
  };
  /** Absent in hand-built configurations (tests): no tracking. */
  tracking?: TrackingConfig;
  /** Absent in hand-built configurations (tests): journeys do not run. */
  journeys?: JourneysConfig;
  /** Absent in hand-built configurations (tests): DEFAULT_WEBHOOKS applies. */
  webhooks?: WebhooksConfig;
  /** Absent in hand-built configurations (tests): the defaults (DEFAULT_CAMPAIGNS_CONFIG). */
  campaigns?: CampaignsConfig;
  /** Absent in hand-built configurations (tests): the dashboard is not served. */
  dashboard?: DashboardConfig;
  /** Absent in hand-built configurations (tests): no alert rules. */
  alerts?: AlertsConfig;
  /** Where the configuration came from, for the start banner. */
  source: { file?: string; env: string[] };
  /** Absent in hand-built configurations (tests): the defaults of the schema apply. */
  cluster?: { leaderCheckIntervalMs: number; throttleChunkMs: number };
  /** Absent in hand-built configurations (tests): nothing is deleted. */
  retention?: { messagesMs?: number; intervalMs: number };
}

export interface CampaignsConfig {
  batchSize: number;
  pollIntervalMs: number;
  leaseMs: number;
  guard: { maxBounceRate: number; maxComplaintRate: number; minSample: number };
}

/** The schema's defaults, for configurations built by hand. */
export const DEFAULT_CAMPAIGNS_CONFIG: CampaignsConfig = {
  batchSize: 1000,
  pollIntervalMs: 1000,
  leaseMs: 30_000,
  guard: { maxBounceRate: 0.1, maxComplaintRate: 0.005, minSample: 200 },
};
