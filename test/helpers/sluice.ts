/**
 * Runs a real Sluice node for an end-to-end test: a fresh SQLite file in a
 * temporary folder, the HTTP API on a free port, the configuration loaded by
 * the real loader from a real file. `close()` stops it and removes the folder.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { FINAL_STATUSES } from '../../src/core/message.js';
import { startSluice, type RunningSluice } from '../../src/main.js';
import { createLogger } from '../../src/observability/logger.js';

export const TEST_ADMIN_KEY = 'sk_test_0123456789abcdefghijklmnop';

export interface TestSluice {
  readonly sluice: RunningSluice;
  readonly dir: string;
  /** fetch against the API with the admin key; JSON in, parsed JSON out. */
  api<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<ApiReply<T>>;
  close(): Promise<void>;
}

export interface ApiReply<T> {
  status: number;
  body: T;
  headers: Headers;
}

/** A relay entry for the configuration file. */
export function relayAt(
  port: number,
  name = 'relay',
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { name, host: '127.0.0.1', port, ...extra };
}

export function makeTempDir(prefix = 'sluice-e2e-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * `config` is the JSON configuration file's content; the database, the data
 * folder, the HTTP port and the admin key are filled in unless given.
 */
export async function startTestSluice(config: Record<string, unknown> = {}): Promise<TestSluice> {
  const dir = makeTempDir();
  const file = join(dir, 'sluice.config.json');
  writeFileSync(
    file,
    JSON.stringify({
      http: { port: 0 },
      database: { url: `sqlite:${join(dir, 'sluice.db')}` },
      dataDir: dir,
      auth: { adminApiKey: TEST_ADMIN_KEY },
      ...config,
    }),
  );
  const loaded = loadConfig({ file, env: {} });
  const logger = createLogger(process.env.SLUICE_TEST_LOG ?? 'silent');
  let sluice: RunningSluice;
  try {
    sluice = await startSluice(loaded, { logger });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    sluice,
    dir,
    api: (method, path, body, headers) => callApi(sluice.url, method, path, body, headers),
    async close() {
      await sluice.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function callApi<T>(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  key = TEST_ADMIN_KEY,
): Promise<ApiReply<T>> {
  const response = await fetch(baseUrl + path, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: (text ? JSON.parse(text) : undefined) as T,
    headers: response.headers,
  };
}

/**
 * Polls `check` until it returns a value other than undefined, every
 * `intervalMs`, for at most `timeoutMs`; then fails with `what`. Bounded:
 * it always stops by itself.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: Error | undefined;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error instanceof Error ? error : new Error(String(error));
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`,
  );
}

/** Sends a plain inline message through the API; fails unless it is accepted (202). */
export async function sendTestMessage(
  t: TestSluice,
  to: string,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const reply = await t.api<{ id: string }>('POST', '/v1/messages', {
    from: 'app@example.com',
    to,
    subject: 'Test',
    text: 'Body',
    ...extra,
  });
  if (reply.status !== 202)
    throw new Error(`POST /v1/messages answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  return reply.body.id;
}

/** Waits (bounded) until the message is in a final state, and returns its view. */
export function finalView<T extends { status: string }>(
  t: TestSluice,
  id: string,
  timeoutMs = 20_000,
): Promise<T> {
  return waitFor(
    `message ${id} to reach a final state`,
    async () => {
      const reply = await t.api<T>('GET', `/v1/messages/${id}`);
      return (FINAL_STATUSES as readonly string[]).includes(reply.body.status)
        ? reply.body
        : undefined;
    },
    timeoutMs,
  );
}
