/**
 * A literal, resolved SluiceConfig for delivery tests: one relay per port
 * given, one pool of them, fast timeouts and retries. Built by hand rather
 * than by the loader so delivery tests depend only on the config's shape.
 */
import type { RelayConfig, SluiceConfig } from '../../src/config/config.js';
import type { RelayStrategy } from '../../src/core/relay-selection.js';

export function testRelay(port: number, patch: Partial<RelayConfig> = {}): RelayConfig {
  return {
    name: `relay-${port}`,
    host: '127.0.0.1',
    port,
    weight: 1,
    maxConnections: 4,
    tls: { mode: 'none', rejectUnauthorized: true },
    ...patch,
  };
}

export interface TestConfigOptions {
  relays: RelayConfig[];
  strategy?: RelayStrategy;
  delivery?: Partial<Omit<SluiceConfig['delivery'], 'retry'>>;
  retry?: Partial<SluiceConfig['delivery']['retry']>;
  health?: Partial<SluiceConfig['health']>;
  throttles?: Partial<SluiceConfig['throttles']>;
  pools?: SluiceConfig['pools'];
  routing?: Partial<SluiceConfig['routing']>;
}

export function testConfig(options: TestConfigOptions): SluiceConfig {
  return {
    http: { host: '127.0.0.1', port: 0, bodyLimit: 1024 * 1024, importLimit: 1024 * 1024 * 1024 },
    database: { url: 'sqlite::memory:', poolSize: 1 },
    dataDir: '.',
    auth: {},
    relays: options.relays,
    pools: options.pools ?? [
      {
        name: 'default',
        relays: options.relays.map((r) => r.name),
        strategy: options.strategy ?? 'round-robin',
      },
    ],
    routing: { transactional: 'default', bulk: 'default', rules: [], ...options.routing },
    health: { failureThreshold: 3, cooldownMs: 10_000, maxCooldownMs: 60_000, ...options.health },
    throttles: {
      maxWaitMs: 1_000,
      domainGroups: [],
      domainDefaults: {},
      adaptive: {
        enabled: true,
        cooldownMs: 60_000,
        restoreIntervalMs: 10_000,
        restoreStep: 0.25,
        minFactor: 0.125,
      },
      ...options.throttles,
    },
    sink: { enabled: false, host: '127.0.0.1', port: 0, keep: 100 },
    delivery: {
      enabled: true,
      concurrency: 50,
      claimBatch: 50,
      leaseMs: 60_000,
      pollIntervalMs: 200,
      heloName: 'sluice.test',
      connectionTimeoutMs: 2_000,
      greetingTimeoutMs: 2_000,
      socketTimeoutMs: 5_000,
      idleTimeoutMs: 5_000,
      ...options.delivery,
      retry: {
        initialDelayMs: 20,
        multiplier: 2,
        maxDelayMs: 200,
        jitter: 0,
        maxAgeMs: 60_000,
        ...options.retry,
      },
    },
    templates: { strict: true, renderTimeoutMs: 100 },
    log: { level: 'silent' },
    shutdownTimeoutMs: 5_000,
    source: { env: [] },
  };
}
