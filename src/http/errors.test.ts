import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import fastify, { type FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { ERROR_CATALOG, ERROR_KINDS, SluiceError, type ErrorCode } from '../core/errors.js';
import {
  fieldPath,
  installErrorHandlers,
  statusOf,
  STATUS_BY_KIND,
  validationError,
} from './errors.js';

const API_DOC = new URL('../../../docs/api.md', import.meta.url);
const CODES = Object.keys(ERROR_CATALOG) as ErrorCode[];

describe('the error catalog and its HTTP mapping', () => {
  it('gives every kind an HTTP status', () => {
    for (const kind of ERROR_KINDS) {
      const status = STATUS_BY_KIND[kind];
      assert.ok(Number.isInteger(status) && status >= 400 && status < 600, `${kind}: ${status}`);
    }
    assert.deepEqual(Object.keys(STATUS_BY_KIND).sort(), [...ERROR_KINDS].sort());
  });

  it('documents every code in docs/api.md with its status', async () => {
    const doc = await readFile(API_DOC, 'utf8');
    const missing = CODES.filter((code) => {
      const row = new RegExp(`^\\|\\s*\`${code}\`\\s*\\|\\s*${statusOf(code)}\\s*\\|`, 'm');
      return !row.test(doc);
    });
    assert.deepEqual(
      missing,
      [],
      `codes missing from the table in docs/api.md (or with a wrong status)`,
    );
  });

  it('documents no code that the catalog does not have', async () => {
    const doc = await readFile(API_DOC, 'utf8');
    const mentioned = new Set(doc.match(/\bERR_[A-Z_]+\b/g) ?? []);
    const unknown = [...mentioned].filter((code) => !(code in ERROR_CATALOG));
    assert.deepEqual(unknown, []);
  });
});

describe('fieldPath', () => {
  it('turns JSON pointers into field paths', () => {
    assert.equal(fieldPath(''), '');
    assert.equal(fieldPath('/to/email'), 'to.email');
    assert.equal(fieldPath('/emails/3'), 'emails[3]');
    assert.equal(fieldPath('/headers/X~1Y'), 'headers.X/Y');
  });
});

describe('validationError', () => {
  it('names a missing property', () => {
    const error = validationError(
      [{ instancePath: '/to', keyword: 'required', params: { missingProperty: 'email' } }],
      'body',
    );
    assert.equal(error.code, 'ERR_VALIDATION');
    assert.equal(error.details.field, 'to.email');
  });

  it('prefers the telling branch of a failed union', () => {
    const error = validationError(
      [
        {
          instancePath: '/to',
          keyword: 'type',
          params: { type: 'string' },
          message: 'must be string',
        },
        {
          instancePath: '/to',
          keyword: 'additionalProperties',
          params: { additionalProperty: 'x' },
        },
        {
          instancePath: '/to',
          keyword: 'anyOf',
          params: {},
          message: 'must match a schema in anyOf',
        },
      ],
      'body',
    );
    assert.equal(error.code, 'ERR_UNKNOWN_FIELD');
    assert.equal(error.details.field, 'to.x');
  });

  it('lists the types a union accepts', () => {
    const error = validationError(
      [
        { instancePath: '/to', keyword: 'type', params: { type: 'string' } },
        { instancePath: '/to', keyword: 'type', params: { type: 'object' } },
        { instancePath: '/to', keyword: 'anyOf', params: {} },
      ],
      'body',
    );
    assert.equal(error.details.field, 'to');
    assert.match(error.message, /must be a string or an object/);
  });
});

describe('the error handler', () => {
  async function appThrowing(error: unknown) {
    const lines: string[] = [];
    const logger: FastifyBaseLogger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    const app = fastify({ loggerInstance: logger });
    installErrorHandlers(app);
    app.get('/boom', () => {
      throw error;
    });
    await app.ready();
    return { app, lines };
  }

  it('answers a bug with 500 ERR_INTERNAL, logs the stack and hides the message', async () => {
    const { app, lines } = await appThrowing(new Error('secret detail'));
    try {
      const response = await app.inject({ method: 'GET', url: '/boom' });
      assert.equal(response.statusCode, 500);
      const body = response.json<{ error: { code: string; message: string; requestId: string } }>();
      assert.equal(body.error.code, 'ERR_INTERNAL');
      assert.doesNotMatch(body.error.message, /secret/);
      assert.ok(body.error.requestId);
      assert.ok(lines.some((line) => line.includes('secret detail') && line.includes('"stack"')));
    } finally {
      await app.close();
    }
  });

  it('answers an unavailable store with 503 and Retry-After, without the driver message', async () => {
    const { app } = await appThrowing(
      new SluiceError('ERR_STORE_UNAVAILABLE', 'the database is unavailable: SQLITE_BUSY at /x.db'),
    );
    try {
      const response = await app.inject({ method: 'GET', url: '/boom' });
      assert.equal(response.statusCode, 503);
      assert.ok(Number(response.headers['retry-after']) > 0);
      const body = response.json<{ error: { code: string; message: string } }>();
      assert.equal(body.error.code, 'ERR_STORE_UNAVAILABLE');
      assert.doesNotMatch(body.error.message, /x\.db/);
    } finally {
      await app.close();
    }
  });

  it('answers an unknown route with 404 ERR_ROUTE_NOT_FOUND', async () => {
    const { app } = await appThrowing(new Error('unused'));
    try {
      const response = await app.inject({ method: 'GET', url: '/nowhere?x=1' });
      assert.equal(response.statusCode, 404);
      assert.equal(response.json<{ error: { code: string } }>().error.code, 'ERR_ROUTE_NOT_FOUND');
    } finally {
      await app.close();
    }
  });
});
