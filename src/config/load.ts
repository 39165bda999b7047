/**
 * Loads the configuration: the JSON file (when there is one), then SLUICE_*
 * environment overrides, validated against the one schema, checked for
 * cross-references, converted to internal units and frozen.
 *
 * This module is the only place that reads `process.env` (callers pass it in).
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type {
  AlertRuleConfig,
  AlertsConfig,
  DashboardConfig,
  DkimKeyConfig,
  JourneysConfig,
  PoolConfig,
  RelayConfig,
  SluiceConfig,
  TrackingConfig,
} from './config.js';
import type { BounceRule } from '../core/bounce.js';
import { isTimeZone } from '../core/quiet-hours.js';
import { readBounceRulesFile } from './bounce-rules-file.js';
import { readDkimKey } from './dkim-keys.js';
import {
  ConfigSchema,
  DKIM_DEFAULT_HEADERS,
  NODE_ROLES,
  type ConfigInput,
  type NodeRole,
} from './schema.js';
import { envVariables, parseEnvValue } from './env.js';
import { parseDuration, parseSize } from './units.js';

export const DEFAULT_CONFIG_FILE = 'sluice.config.json';

/** A configuration that cannot be used; the message names the key and what was expected. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadOptions {
  /** An explicit `--config` path: it must exist. */
  file?: string;
  env: Record<string, string | undefined>;
  cwd?: string;
}

export function loadConfig(options: LoadOptions): Readonly<SluiceConfig> {
  const cwd = options.cwd ?? process.cwd();
  const { raw, file } = readConfigFile(options.file, cwd);
  const envUsed = applyEnv(raw, options.env);
  const input = validate(raw, file);
  return deepFreeze(resolveConfig(input, { ...(file ? { file } : {}), env: envUsed }, cwd));
}

function readConfigFile(
  explicit: string | undefined,
  cwd: string,
): { raw: Record<string, unknown>; file?: string } {
  const path = explicit ? resolve(cwd, explicit) : resolve(cwd, DEFAULT_CONFIG_FILE);
  if (!existsSync(path)) {
    if (explicit) throw new ConfigError(`config file ${path} does not exist`);
    return { raw: {} };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  }
  return { raw: parsed as Record<string, unknown>, file: path };
}

/** Writes each SLUICE_* variable into `raw` at its key path; returns the names used. */
function applyEnv(raw: Record<string, unknown>, env: Record<string, string | undefined>): string[] {
  const known = envVariables();
  const used: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('SLUICE_') || value === undefined) continue;
    // Test-suite settings share the prefix but are not configuration.
    if (name.startsWith('SLUICE_TEST_')) continue;
    const target = known.get(name);
    if (!target) {
      throw new ConfigError(
        `environment variable ${name} is not a Sluice setting (see docs/configuration.md for the SLUICE_* names)`,
      );
    }
    let node = raw;
    for (const key of target.path.slice(0, -1)) {
      const next = node[key];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[target.path.at(-1) as string] = parseEnvValue(
      name,
      value,
      target.schema,
      (m) => new ConfigError(m),
    );
    used.push(name);
  }
  return used.sort();
}

function validate(raw: Record<string, unknown>, file: string | undefined): ConfigInput {
  const withDefaults = Value.Default(ConfigSchema, Value.Clone(raw));
  const first = Value.Errors(ConfigSchema, withDefaults).First();
  if (first) {
    const key = pathToKey(first.path);
    const where = file ? ` (in ${file} or its SLUICE_* override)` : '';
    if (first.message === 'Unexpected property') {
      const parentSchema = schemaAt(ConfigSchema, first.path.split('/').slice(1, -1));
      const allowed = parentSchema?.properties
        ? Object.keys(parentSchema.properties as object).join(', ')
        : '';
      throw new ConfigError(`config key "${key}" is unknown${where}; expected one of: ${allowed}`);
    }
    const schema = first.schema;
    throw new ConfigError(
      `config key "${key}"${where}: expected ${describeExpected(schema)}, got ${JSON.stringify(first.value)}`,
    );
  }
  return withDefaults as ConfigInput;
}

function pathToKey(path: string): string {
  return path
    .split('/')
    .slice(1)
    .map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : i === 0 ? part : `.${part}`))
    .join('');
}

function schemaAt(schema: TSchema, parts: string[]): TSchema | undefined {
  let node: TSchema | undefined = schema;
  for (const part of parts) {
    if (!node) return undefined;
    if (node.type === 'array') node = node.items as TSchema;
    else node = (node.properties as Record<string, TSchema> | undefined)?.[part];
  }
  return node;
}

/** Words for what a schema accepts, for error messages. */
export function describeExpected(schema: TSchema): string {
  if (Array.isArray(schema.anyOf)) {
    const options = schema.anyOf as TSchema[];
    if (options.every((o) => o.const !== undefined)) {
      return 'one of ' + options.map((o) => JSON.stringify(o.const)).join(', ');
    }
    if (typeof schema.description === 'string' && /A (duration|size):/.test(schema.description)) {
      return schema.description.slice(schema.description.search(/A (duration|size):/));
    }
    return options.map(describeExpected).join(' or ');
  }
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  const bounds: string[] = [];
  if (typeof schema.minimum === 'number') bounds.push(`at least ${schema.minimum}`);
  if (typeof schema.maximum === 'number') bounds.push(`at most ${schema.maximum}`);
  if (typeof schema.minLength === 'number' && schema.minLength > 1)
    bounds.push(`at least ${schema.minLength} characters`);
  if (typeof schema.minItems === 'number') bounds.push(`at least ${schema.minItems} item(s)`);
  if (typeof schema.pattern === 'string') bounds.push(`matching ${schema.pattern}`);
  if (schema.format === 'uri') bounds.push('a URL');
  const type =
    schema.type === 'integer'
      ? 'an integer'
      : `a${/^[aeiou]/.test(String(schema.type)) ? 'n' : ''} ${String(schema.type)}`;
  return bounds.length ? `${type} (${bounds.join(', ')})` : type;
}

function resolveConfig(
  input: ConfigInput,
  source: SluiceConfig['source'],
  cwd: string,
): SluiceConfig {
  const sinkEnabled =
    input.sink.enabled === 'auto' ? input.relays.length === 0 : input.sink.enabled;
  const relays: RelayConfig[] = input.relays.map((r) => ({
    name: r.name,
    host: r.host,
    port: r.port,
    weight: r.weight,
    maxConnections: r.maxConnections,
    pipelining: r.pipelining,
    tls: {
      mode: r.tls.mode,
      rejectUnauthorized: r.tls.rejectUnauthorized,
      ...(r.tls.servername ? { servername: r.tls.servername } : {}),
    },
    ...(r.auth ? { auth: { user: r.auth.user, pass: r.auth.pass } } : {}),
    ...(r.rate ? { rate: { ...r.rate } } : {}),
    ...(r.health
      ? {
          health: {
            ...(r.health.failureThreshold !== undefined
              ? { failureThreshold: r.health.failureThreshold }
              : {}),
            ...(r.health.cooldown !== undefined
              ? { cooldownMs: parseDuration(r.health.cooldown) }
              : {}),
          },
        }
      : {}),
    ...(r.warmup ? { warmup: { start: r.warmup.start, dailyCaps: [...r.warmup.dailyCaps] } } : {}),
  }));
  if (relays.length === 0) {
    if (!sinkEnabled) {
      throw new ConfigError(
        'config key "relays": expected at least one relay when "sink.enabled" is false',
      );
    }
    relays.push(sinkRelay(input.sink.host, input.sink.port));
  }
  checkUnique(
    relays.map((r) => r.name),
    'relays',
  );
  const relayNames = new Set(relays.map((r) => r.name));
  const pools: PoolConfig[] = input.pools.length
    ? input.pools.map((p) => ({
        name: p.name,
        relays: [...p.relays],
        strategy: p.strategy,
        ...(p.rate ? { rate: { ...p.rate } } : {}),
      }))
    : [{ name: 'default', relays: relays.map((r) => r.name), strategy: 'round-robin' }];
  checkUnique(
    pools.map((p) => p.name),
    'pools',
  );
  pools.forEach((pool, i) =>
    pool.relays.forEach((name, j) => {
      if (!relayNames.has(name)) {
        throw new ConfigError(`config key "pools[${i}].relays[${j}]": no relay is named "${name}"`);
      }
    }),
  );
  const poolNames = new Set(pools.map((p) => p.name));
  const firstPool = (pools[0] as PoolConfig).name;
  const routing = {
    transactional: input.routing.transactional ?? firstPool,
    bulk: input.routing.bulk ?? firstPool,
  };
  for (const [stream, pool] of Object.entries(routing)) {
    if (!poolNames.has(pool))
      throw new ConfigError(`config key "routing.${stream}": no pool is named "${pool}"`);
  }
  input.routing.rules.forEach((rule, i) => {
    if (!poolNames.has(rule.pool))
      throw new ConfigError(
        `config key "routing.rules[${i}].pool": no pool is named "${rule.pool}"`,
      );
  });
  for (const relay of input.relays) {
    if (relay.warmup && Number.isNaN(Date.parse(`${relay.warmup.start}T00:00:00Z`)))
      throw new ConfigError(
        `config key "relays.warmup.start" of relay "${relay.name}": "${relay.warmup.start}" is not a date`,
      );
  }
  checkUnique(
    input.throttles.domainGroups.map((g) => g.name),
    'throttles.domainGroups',
  );
  const role = resolveRole(input.node.role, input.database.url);
  const t = input.throttles;
  const h = input.health;
  const d = input.delivery;
  return {
    http: {
      host: input.http.host,
      port: input.http.port,
      bodyLimit: parseSize(input.http.bodyLimit),
      importLimit: parseSize(input.http.importLimit),
      ...(input.http.publicUrl ? { publicUrl: input.http.publicUrl } : {}),
    },
    database: { url: input.database.url, poolSize: input.database.poolSize },
    node: { role, heapGrowthPercent: input.node.heapGrowthPercent },
    dataDir: input.dataDir,
    auth: input.auth.adminApiKey ? { adminApiKey: input.auth.adminApiKey } : {},
    relays,
    pools,
    routing: {
      ...routing,
      rules: input.routing.rules.map((rule) => ({ match: { ...rule.match }, pool: rule.pool })),
    },
    health: {
      failureThreshold: h.failureThreshold,
      cooldownMs: parseDuration(h.cooldown),
      maxCooldownMs: parseDuration(h.maxCooldown),
      ...(h.probeInterval !== undefined ? { probeIntervalMs: parseDuration(h.probeInterval) } : {}),
    },
    throttles: {
      ...(t.global ? { global: { ...t.global } } : {}),
      maxWaitMs: parseDuration(t.maxWait),
      domainGroups: t.domainGroups.map((g) => ({
        ...g,
        domains: g.domains.map((d) => d.toLowerCase()),
      })),
      domainDefaults: { ...t.domainDefaults },
      adaptive: {
        enabled: t.adaptive.enabled,
        cooldownMs: parseDuration(t.adaptive.cooldown),
        restoreIntervalMs: parseDuration(t.adaptive.restoreInterval),
        restoreStep: t.adaptive.restoreStep,
        minFactor: t.adaptive.minFactor,
      },
    },
    sink: {
      enabled: sinkEnabled,
      host: input.sink.host,
      port: input.sink.port,
      keep: input.sink.keep,
    },
    delivery: {
      enabled: d.enabled,
      concurrency: d.concurrency,
      claimBatch: d.claimBatch,
      leaseMs: parseDuration(d.lease),
      pollIntervalMs: parseDuration(d.pollInterval),
      ...(d.heloName ? { heloName: d.heloName } : {}),
      ...(d.messageIdDomain ? { messageIdDomain: d.messageIdDomain } : {}),
      connectionTimeoutMs: parseDuration(d.connectionTimeout),
      greetingTimeoutMs: parseDuration(d.greetingTimeout),
      socketTimeoutMs: parseDuration(d.socketTimeout),
      idleTimeoutMs: parseDuration(d.idleTimeout),
      retry: {
        initialDelayMs: parseDuration(d.retry.initialDelay),
        multiplier: d.retry.multiplier,
        maxDelayMs: parseDuration(d.retry.maxDelay),
        jitter: d.retry.jitter,
        maxAgeMs: parseDuration(d.retry.maxAge),
      },
    },
    templates: {
      strict: input.templates.strict,
      renderTimeoutMs: parseDuration(input.templates.renderTimeout),
    },
    events: { maxPending: input.events.maxPending },
    log: { level: input.log.level as SluiceConfig['log']['level'] },
    shutdownTimeoutMs: parseDuration(input.shutdownTimeout),
    dkim: resolveDkim(input.dkim, cwd),
    bounces: {
      ...(input.bounces.returnPathDomain
        ? { returnPathDomain: input.bounces.returnPathDomain.toLowerCase() }
        : {}),
      ...resolveBounceRules(input.bounces.rulesFile, cwd),
    },
    tracking: resolveTracking(input.tracking),
    journeys: resolveJourneys(input.journeys),
    webhooks: {
      allowPrivateNetworks: input.webhooks.allowPrivateNetworks,
      timeoutMs: parseDuration(input.webhooks.timeout),
      concurrency: input.webhooks.concurrency,
      perEndpointConcurrency: input.webhooks.perEndpointConcurrency,
      pollIntervalMs: parseDuration(input.webhooks.pollInterval),
      retry: {
        initialDelayMs: parseDuration(input.webhooks.retry.initialDelay),
        multiplier: input.webhooks.retry.multiplier,
        maxDelayMs: parseDuration(input.webhooks.retry.maxDelay),
        jitter: input.webhooks.retry.jitter,
        windowMs: parseDuration(input.webhooks.retry.window),
      },
      retentionMs: parseDuration(input.webhooks.retention),
    },
    campaigns: {
      batchSize: input.campaigns.batchSize,
      pollIntervalMs: parseDuration(input.campaigns.pollInterval),
      leaseMs: parseDuration(input.campaigns.lease),
      guard: { ...input.campaigns.guard },
    },
    dashboard: resolveDashboard(input.dashboard),
    alerts: resolveAlerts(input.alerts, relays, pools),
    source,
    cluster: {
      leaderCheckIntervalMs: parseDuration(input.cluster.leaderCheckInterval),
      throttleChunkMs: parseDuration(input.cluster.throttleChunk),
    },
    retention: {
      ...(input.retention.messages !== undefined
        ? { messagesMs: parseDuration(input.retention.messages) }
        : {}),
      intervalMs: parseDuration(input.retention.interval),
    },
  };
}

/** The relay that points at the built-in capture relay. */
export function sinkRelay(host: string, port: number): RelayConfig {
  return {
    name: 'sink',
    host,
    port,
    weight: 1,
    maxConnections: 10,
    tls: { mode: 'none', rejectUnauthorized: true },
  };
}

/**
 * The configuration once the capture relay listens: when it was asked for
 * port 0, the `sink` relay learns the real port.
 */
export function withSinkPort(config: Readonly<SluiceConfig>, port: number): Readonly<SluiceConfig> {
  if (config.sink.port === port) return config;
  const relays = config.relays.map((r) =>
    r.name === 'sink' && r.port === config.sink.port ? { ...r, port } : r,
  );
  return deepFreeze({ ...config, sink: { ...config.sink, port }, relays });
}

/** Journeys: durations parsed, the default time zone checked against the runtime's zone data. */
function resolveJourneys(input: ConfigInput['journeys']): JourneysConfig {
  if (!isTimeZone(input.defaultTimeZone)) {
    throw new ConfigError(
      `config key "journeys.defaultTimeZone": "${input.defaultTimeZone}" is not an IANA time zone this runtime knows`,
    );
  }
  return {
    enabled: input.enabled,
    pollIntervalMs: parseDuration(input.pollInterval),
    leaseMs: parseDuration(input.lease),
    claimBatch: input.claimBatch,
    backstopDelayMs: parseDuration(input.backstopDelay),
    backstopIntervalMs: parseDuration(input.backstopInterval),
    refreshIntervalMs: parseDuration(input.refreshInterval),
    frequencyCaps: input.frequencyCaps.map((c) => ({
      messages: c.messages,
      perMs: parseDuration(c.per),
    })),
    ...(input.quietHours ? { quietHours: { ...input.quietHours } } : {}),
    defaultTimeZone: input.defaultTimeZone,
  };
}

function resolveDashboard(input: ConfigInput['dashboard']): DashboardConfig {
  const sampleIntervalMs = parseDuration(input.sampleInterval);
  if (sampleIntervalMs < 500 || sampleIntervalMs > 60_000)
    throw new ConfigError('config key "dashboard.sampleInterval": must be between 500ms and 1m');
  return {
    enabled: input.enabled,
    ...(input.sessionSecret !== undefined ? { sessionSecret: input.sessionSecret } : {}),
    sessionTtlMs: parseDuration(input.sessionTtl),
    sampleIntervalMs,
  };
}

const RATE_ALERTS: readonly string[] = ['error-rate', 'bounce-rate', 'complaint-rate'];

/** Rules name what they watch: thresholds where a rate needs one, relays and pools that exist. */
function resolveAlerts(
  input: ConfigInput['alerts'],
  relays: readonly RelayConfig[],
  pools: readonly PoolConfig[],
): AlertsConfig {
  checkUnique(
    input.rules.map((r) => r.name),
    'alerts.rules',
  );
  const rules = input.rules.map((rule, i): AlertRuleConfig => {
    const key = (field: string) => `config key "alerts.rules[${i}].${field}"`;
    if (RATE_ALERTS.includes(rule.kind) && rule.threshold === undefined)
      throw new ConfigError(`${key('threshold')}: required for kind "${rule.kind}"`);
    if (rule.kind === 'queue-age' && rule.maxAge === undefined)
      throw new ConfigError(`${key('maxAge')}: required for kind "queue-age"`);
    if (rule.relay !== undefined && rule.kind !== 'relay-down')
      throw new ConfigError(`${key('relay')}: only for kind "relay-down"`);
    if (rule.pool !== undefined && rule.kind !== 'pool-down')
      throw new ConfigError(`${key('pool')}: only for kind "pool-down"`);
    if (rule.relay !== undefined && !relays.some((r) => r.name === rule.relay))
      throw new ConfigError(`${key('relay')}: no relay is named "${rule.relay}"`);
    if (rule.pool !== undefined && !pools.some((p) => p.name === rule.pool))
      throw new ConfigError(`${key('pool')}: no pool is named "${rule.pool}"`);
    const windowMs = parseDuration(rule.window);
    if (windowMs < 1000) throw new ConfigError(`${key('window')}: at least 1s`);
    return {
      name: rule.name,
      kind: rule.kind,
      ...(rule.relay !== undefined ? { relay: rule.relay } : {}),
      ...(rule.pool !== undefined ? { pool: rule.pool } : {}),
      forMs: parseDuration(rule.for),
      ...(rule.threshold !== undefined ? { threshold: rule.threshold } : {}),
      windowMs,
      minEvents: rule.minEvents,
      ...(rule.maxAge !== undefined ? { maxAgeMs: parseDuration(rule.maxAge) } : {}),
    };
  });
  return {
    rules,
    webhooks: input.webhooks.map((w) => ({ ...w })),
    evaluateIntervalMs: Math.max(100, parseDuration(input.evaluateInterval)),
    retries: input.retries,
    timeoutMs: Math.max(100, parseDuration(input.timeout)),
  };
}

/** Both `publicUrl` and `secret`, or neither: a link that cannot be verified must not be sent. */
function resolveTracking(input: ConfigInput['tracking']): TrackingConfig {
  if (input.publicUrl !== undefined && input.secret === undefined)
    throw new ConfigError(
      'config key "tracking.secret": required when "tracking.publicUrl" is set',
    );
  if (input.secret !== undefined && input.publicUrl === undefined)
    throw new ConfigError(
      'config key "tracking.publicUrl": required when "tracking.secret" is set',
    );
  if ((input.opens || input.clicks) && input.publicUrl === undefined)
    throw new ConfigError(
      'config key "tracking.publicUrl": required for "tracking.opens" and "tracking.clicks"',
    );
  return {
    ...(input.publicUrl !== undefined ? { publicUrl: input.publicUrl.replace(/\/+$/, '') } : {}),
    ...(input.secret !== undefined ? { secret: input.secret } : {}),
    opens: input.opens,
    clicks: input.clicks,
    transactional: input.transactional,
    ...(input.unsubscribeMailto !== undefined
      ? { unsubscribeMailto: input.unsubscribeMailto }
      : {}),
  };
}

/**
 * `api` and `worker` only make sense when several processes share the
 * database; a SQLite file has one writer, so a worker-only node would have
 * nobody accepting and an api-only node nobody delivering.
 */
function resolveRole(role: string, databaseUrl: string): NodeRole {
  const known = NODE_ROLES.find((r) => r === role) ?? 'all';
  if (known !== 'all' && databaseUrl.startsWith('sqlite:')) {
    throw new ConfigError(
      `config key "node.role": "${known}" needs PostgreSQL (SQLite is single-process; use PostgreSQL to split roles, or "all")`,
    );
  }
  return known;
}

/** Reads and checks the operator's bounce rules now, so a bad one stops the start naming it. */
function resolveBounceRules(
  file: string | undefined,
  cwd: string,
): { rulesFile?: string; rules?: BounceRule[] } {
  if (file === undefined) return {};
  const rulesFile = resolve(cwd, file);
  const result = readBounceRulesFile(rulesFile);
  if (!result.ok) throw new ConfigError(`config key "bounces.rulesFile": ${result.problem}`);
  return { rulesFile, rules: result.rules };
}

/** Reads and checks every DKIM key now, so a bad one stops the start naming it. */
function resolveDkim(entries: ConfigInput['dkim'], cwd: string): DkimKeyConfig[] {
  return entries.map((entry, i) => {
    const headers = entry.headers ? [...entry.headers] : [...DKIM_DEFAULT_HEADERS];
    const privateKeyFile = resolve(cwd, entry.privateKeyFile);
    const result = readDkimKey({ ...entry, headers, privateKeyFile });
    if (!result.ok)
      throw new ConfigError(`config key "dkim[${i}].${result.field}": ${result.problem}`);
    return {
      domain: result.key.domain,
      selector: entry.selector,
      privateKeyFile,
      algorithm: result.key.algorithm,
      headers,
    };
  });
}

function checkUnique(names: string[], key: string): void {
  const seen = new Set<string>();
  names.forEach((name, i) => {
    if (seen.has(name))
      throw new ConfigError(`config key "${key}[${i}].name": "${name}" is used twice`);
    seen.add(name);
  });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
