import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { fastify, LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { createLogger } from '../observability/logger.js';
import { lazyRequestLogger } from './request-logger.js';

/** An app on a real pino logger that writes to memory, counting the children it makes. */
function appWithLogger(): { app: FastifyInstance; lines: string[]; made: () => number } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      callback();
    },
  });
  const logger = createLogger('info', destination);
  const child = logger.child.bind(logger);
  let children = 0;
  logger.child = ((...args: Parameters<typeof child>) => {
    children += 1;
    return child(...args);
  }) as typeof logger.child;
  // As the app has it (app.ts): requests themselves are not logged at info.
  const loggerInstance: FastifyBaseLogger = logger;
  const app = fastify({
    loggerInstance,
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyRequestLogger,
  });
  app.get('/quiet', (request, reply) => {
    request.log.debug('below the level: nothing');
    void reply.send({ ok: true });
  });
  app.get('/loud', (request, reply) => {
    request.log.info({ apiKey: 'sk_live_secret' }, 'hello');
    void reply.send({ ok: true });
  });
  return { app, lines, made: () => children };
}

describe('request loggers', () => {
  it('makes no child logger for a request that logs nothing at an enabled level', async () => {
    const { app, lines, made } = appWithLogger();
    try {
      await app.ready(); // Fastify makes loggers of its own as it starts
      const before = made();
      const response = await app.inject({ method: 'GET', url: '/quiet' });
      assert.equal(response.statusCode, 200);
      assert.equal(made() - before, 0);
      assert.equal(lines.filter((line) => line.includes('below the level')).length, 0);
    } finally {
      await app.close();
    }
  });

  it('logs with the request id and redaction once a line is logged', async () => {
    const { app, lines, made } = appWithLogger();
    try {
      await app.ready();
      const before = made();
      const response = await app.inject({ method: 'GET', url: '/loud' });
      assert.equal(response.statusCode, 200);
      assert.equal(made() - before, 1);
      const line = lines
        .map((text) => JSON.parse(text) as Record<string, unknown>)
        .find((entry) => entry.msg === 'hello');
      assert.ok(line, 'the line was logged');
      assert.match(String(line.reqId), /^req-/);
      assert.equal(line.apiKey, '[redacted]');
    } finally {
      await app.close();
    }
  });
});
