/**
 * For the HTTP tests: the app on a real SQLite store in a temporary folder,
 * listening on a free port, with one API key, and a small `api()` helper
 * that talks real HTTP.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { generateApiKey, hashApiKey, apiKeyDisplayPrefix } from '../core/api-keys.js';
import { ManualClock } from '../core/clock.js';
import { EventBus } from '../core/events.js';
import { newId } from '../core/ids.js';
import type { Store } from '../core/ports/store.js';
import type { SluiceConfig } from '../config/config.js';
import { TemplateEngine } from '../render/liquid.js';
import { openStore } from '../store/open-store.js';
import { buildApp, type AppDeps } from './app.js';
import type { ErrorBody } from './errors.js';

export function testConfig(overrides: Partial<SluiceConfig> = {}): SluiceConfig {
  return {
    http: { host: '127.0.0.1', port: 0, bodyLimit: 64 * 1024, importLimit: 64 * 1024 * 1024 },
    database: { url: 'sqlite::memory:', poolSize: 1 },
    dataDir: '.',
    auth: {},
    relays: [],
    pools: [],
    routing: { transactional: 'default', bulk: 'default', rules: [] },
    health: { failureThreshold: 3, cooldownMs: 10_000, maxCooldownMs: 300_000 },
    throttles: {
      maxWaitMs: 1_000,
      domainGroups: [],
      domainDefaults: {},
      adaptive: {
        enabled: true,
        cooldownMs: 300_000,
        restoreIntervalMs: 60_000,
        restoreStep: 0.25,
        minFactor: 0.125,
      },
    },
    sink: { enabled: false, host: '127.0.0.1', port: 0, keep: 100 },
    delivery: {
      enabled: false,
      concurrency: 10,
      claimBatch: 10,
      leaseMs: 60_000,
      pollIntervalMs: 1000,
      connectionTimeoutMs: 1000,
      greetingTimeoutMs: 1000,
      socketTimeoutMs: 1000,
      idleTimeoutMs: 1000,
      retry: {
        initialDelayMs: 60_000,
        multiplier: 2,
        maxDelayMs: 3_600_000,
        jitter: 0,
        maxAgeMs: 3 * 24 * 3_600_000,
      },
    },
    templates: { strict: true, renderTimeoutMs: 1000 },
    log: { level: 'silent' },
    shutdownTimeoutMs: 1000,
    source: { env: [] },
    ...overrides,
  };
}

export interface TestApp {
  app: FastifyInstance;
  store: Store;
  clock: ManualClock;
  events: EventBus;
  /** A valid API key and its id. */
  key: string;
  keyId: string;
  baseUrl: string;
  /** How many times onAccepted was called. */
  accepted: () => number;
  /** `T` is what the test expects the JSON body to be; nothing checks it. */
  api<T = JsonObject>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<ApiResponse<T>>;
  close(): Promise<void>;
}

export type JsonObject = Record<string, unknown>;

export interface ApiResponse<T> {
  status: number;
  headers: Headers;
  /** The parsed JSON body (undefined when empty). */
  body: T;
  text: string;
}

/** The `error` object of an error response. */
export function errorOf(response: ApiResponse<unknown>): ErrorBody['error'] {
  return (response.body as ErrorBody).error;
}

export async function startTestApp(
  options: { config?: SluiceConfig; logger?: Logger; sink?: AppDeps['sink'] } = {},
): Promise<TestApp> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-http-'));
  const store = await openStore('sqlite:' + join(dir, 'sluice.db'));
  await store.migrate();
  const clock = new ManualClock();
  const key = generateApiKey();
  const keyId = newId('apiKey');
  await store.apiKeys.create({
    id: keyId,
    name: 'test',
    hash: hashApiKey(key),
    prefix: apiKeyDisplayPrefix(key),
    createdAt: clock.now(),
  });
  const config = options.config ?? testConfig();
  const events = new EventBus();
  let acceptedCount = 0;
  const app = await buildApp({
    store,
    config,
    clock,
    events,
    logger: options.logger ?? pino({ level: 'silent' }),
    templates: new TemplateEngine({
      strict: config.templates.strict,
      renderTimeoutMs: config.templates.renderTimeoutMs,
    }),
    metrics: {
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      render: () => Promise.resolve('sluice_up 1\n'),
    },
    ...(options.sink ? { sink: options.sink } : {}),
    readiness: async () => {
      try {
        await store.ping();
        return { ready: true, checks: { database: 'ok' } };
      } catch {
        return { ready: false, checks: { database: 'unreachable' } };
      }
    },
    onAccepted: () => {
      acceptedCount += 1;
    },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const baseUrl = `http://127.0.0.1:${port}`;

  async function api<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> {
    const init: RequestInit = {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined
        ? { body: typeof body === 'string' ? body : JSON.stringify(body) }
        : {}),
    };
    const response = await fetch(baseUrl + path, init);
    const text = await response.text();
    const isJson = response.headers.get('content-type')?.includes('json') && text !== '';
    const parsed = (isJson ? JSON.parse(text) : undefined) as T;
    return { status: response.status, headers: response.headers, body: parsed, text };
  }

  return {
    app,
    store,
    clock,
    events,
    key,
    keyId,
    baseUrl,
    accepted: () => acceptedCount,
    api,
    async close() {
      await app.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
