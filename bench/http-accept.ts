/**
 * HTTP accept: POST /v1/messages with a client keeping `concurrency`
 * requests open, against a Sluice node on a fresh SQLite file with delivery
 * off (so only the accept path is measured: validation, strict render, a
 * durable commit with synchronous=FULL, the 202). The baseline, in the same
 * run and with the same client, is a bare Fastify route that parses the same
 * JSON and answers 202 without storing anything: the HTTP ceiling.
 * The client runs in this process and takes CPU from the server: both
 * figures pay that cost alike.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { Pool } from 'undici';
import { loadConfig } from '../src/config/load.js';
import { startSluice } from '../src/main.js';
import { createLogger } from '../src/observability/logger.js';
import { makeTempDir, TEST_ADMIN_KEY } from '../test/helpers/sluice.js';

function body(i: number): string {
  return JSON.stringify({
    from: 'app@example.test',
    to: `user${i}@example.test`,
    subject: 'Your code {{ code }}',
    text: 'Hello, your code is {{ code }}.',
    variables: { code: String(100000 + i) },
  });
}

/**
 * The client: undici's Pool with one keep-alive connection per open request
 * (Node's global fetch costs several times more CPU per request, and that
 * CPU would be taken from the server on a 2-core machine).
 */
async function drive(baseUrl: string, count: number, concurrency: number): Promise<number> {
  const pool = new Pool(baseUrl, { connections: concurrency, pipelining: 1 });
  let next = 0;
  const started = process.hrtime.bigint();
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const i = next++;
          const response = await pool.request({
            method: 'POST',
            path: '/v1/messages',
            headers: {
              authorization: `Bearer ${TEST_ADMIN_KEY}`,
              'content-type': 'application/json',
            },
            body: body(i),
          });
          await response.body.dump();
          if (response.statusCode !== 202) throw new Error(`unexpected ${response.statusCode}`);
        }
      }),
    );
    return count / (Number(process.hrtime.bigint() - started) / 1e9);
  } finally {
    await pool.close();
  }
}

export async function bareFastifyAccept(count: number, concurrency: number): Promise<number> {
  const app = Fastify({ logger: false });
  app.post('/v1/messages', (_request, reply) =>
    reply.code(202).send({ id: 'x', status: 'queued' }),
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  try {
    return await drive(`http://127.0.0.1:${port}`, count, concurrency);
  } finally {
    await app.close();
  }
}

export async function sluiceAccept(count: number, concurrency: number): Promise<number> {
  const dir = makeTempDir('sluice-bench-');
  const file = join(dir, 'sluice.config.json');
  writeFileSync(
    file,
    JSON.stringify({
      http: { port: 0 },
      database: { url: `sqlite:${join(dir, 'bench.db')}` },
      dataDir: dir,
      auth: { adminApiKey: TEST_ADMIN_KEY },
      delivery: { enabled: false },
      sink: { enabled: false },
      relays: [{ name: 'unused', host: '127.0.0.1', port: 9 }],
    }),
  );
  const sluice = await startSluice(loadConfig({ file, env: {} }), { logger: createLogger('warn') });
  try {
    return await drive(sluice.url, count, concurrency);
  } finally {
    await sluice.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
