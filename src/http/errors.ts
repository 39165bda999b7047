/**
 * The one place where errors become HTTP responses.
 *
 * Every error body has one shape:
 *
 *   {"error": {"code": "ERR_…", "message": "…", "field"?: "…", "line"?: n,
 *              "column"?: n, "requestId": "…"}}
 *
 * The status comes from the catalog kind of the code (STATUS_BY_KIND),
 * never from the throw site. Fastify's own errors (schema validation, body
 * parsing, body size, media type) are translated to catalog codes here;
 * anything that is not a SluiceError and not one of those is a bug: it is
 * logged with its stack and answered with ERR_INTERNAL, its message kept
 * out of the response.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  ERROR_CATALOG,
  SluiceError,
  isSluiceError,
  type ErrorCode,
  type ErrorKind,
} from '../core/errors.js';

export const STATUS_BY_KIND = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  'too-large': 413,
  'unsupported-media-type': 415,
  unprocessable: 422,
  overloaded: 429,
  internal: 500,
  unavailable: 503,
} as const satisfies Record<ErrorKind, number>;

/**
 * Seconds a client is asked to wait when the store is unavailable: long
 * enough for a PostgreSQL failover or a busy SQLite checkpoint to pass, short
 * enough that a transactional sender's own retry loop does not give up.
 */
export const RETRY_AFTER_SECONDS = 5;

/**
 * Seconds a client is asked to wait when Sluice is overloaded: the waiting
 * writes drain within a few group commits (milliseconds each), so a short
 * pause is enough, and a longer one would only delay the client's data.
 */
export const OVERLOADED_RETRY_AFTER_SECONDS = 1;

export function statusOf(code: ErrorCode): number {
  return STATUS_BY_KIND[ERROR_CATALOG[code].kind];
}

export interface ErrorBody {
  error: {
    code: ErrorCode;
    message: string;
    field?: string;
    line?: number;
    column?: number;
    requestId: string;
  };
}

export function errorBody(error: SluiceError, requestId: string): ErrorBody {
  const { field, line, column } = error.details;
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(typeof field === 'string' ? { field } : {}),
      ...(typeof line === 'number' ? { line } : {}),
      ...(typeof column === 'number' ? { column } : {}),
      requestId,
    },
  };
}

export async function sendError(
  request: FastifyRequest,
  reply: FastifyReply,
  error: SluiceError,
): Promise<void> {
  const status = statusOf(error.code);
  if (error.kind === 'unauthorized') void reply.header('WWW-Authenticate', 'Bearer');
  if (error.kind === 'unavailable') void reply.header('Retry-After', String(RETRY_AFTER_SECONDS));
  if (error.kind === 'overloaded') {
    void reply.header('Retry-After', String(OVERLOADED_RETRY_AFTER_SECONDS));
  }
  await reply.status(status).send(errorBody(error, request.id));
}

/** Installs the error and not-found handlers on the root instance. */
export function installErrorHandlers(
  app: FastifyInstance,
  options: { bodyLimit?: number } = {},
): void {
  app.setErrorHandler(async (error: unknown, request, reply) => {
    const mapped = toSluiceError(error, options.bodyLimit);
    if (mapped?.kind === 'unavailable') {
      // The driver's reason (file paths, host names) goes to the log only.
      request.log.warn({ err: error }, mapped.message);
      return sendError(
        request,
        reply,
        new SluiceError(
          mapped.code,
          `The database is unavailable; retry after ${RETRY_AFTER_SECONDS} seconds.`,
        ),
      );
    }
    if (mapped) return sendError(request, reply, mapped);
    request.log.error({ err: error }, 'unexpected error while handling a request');
    return sendError(
      request,
      reply,
      new SluiceError(
        'ERR_INTERNAL',
        `Internal error; the server log holds the details under request id ${request.id}.`,
      ),
    );
  });

  app.setNotFoundHandler(async (request, reply) => {
    const path = (request.url.split('?')[0] ?? '').slice(0, 200);
    return sendError(
      request,
      reply,
      new SluiceError('ERR_ROUTE_NOT_FOUND', `No endpoint ${request.method} ${path}.`),
    );
  });
}

/** A catalog error for `error`, or undefined when it is a bug. */
export function toSluiceError(error: unknown, bodyLimit?: number): SluiceError | undefined {
  if (isSluiceError(error)) return error;
  if (!isFastifyError(error)) return undefined;
  if (error.validation) {
    return validationError(error.validation, error.validationContext ?? 'body');
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new SluiceError(
        'ERR_BODY_TOO_LARGE',
        bodyLimit === undefined
          ? 'The request body is too large.'
          : `The request body is larger than ${bodyLimit} bytes (http.bodyLimit).`,
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new SluiceError(
        'ERR_UNSUPPORTED_MEDIA_TYPE',
        'The request body must be JSON (Content-Type: application/json).',
      );
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new SluiceError('ERR_MALFORMED_JSON', 'The request body is not valid JSON.');
  }
  // Other client errors Fastify raises itself (a Content-Length that does
  // not match the body, a malformed URL …) carry safe, fixed messages.
  const status = error.statusCode ?? 500;
  if (error.code.startsWith('FST_') && status >= 400 && status < 500) {
    return new SluiceError('ERR_VALIDATION', error.message);
  }
  return undefined;
}

function isFastifyError(error: unknown): error is FastifyError {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
}

/** The subset of an ajv error object the mapping reads. */
interface SchemaError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

const PART_NAMES: Record<string, string> = {
  body: 'field',
  querystring: 'query parameter',
  params: 'path parameter',
  headers: 'header',
};

/**
 * Turns ajv's errors (one, or several when a union failed: one per branch
 * and a final `anyOf`) into one catalog error naming the field.
 */
export function validationError(errors: readonly SchemaError[], part: string): SluiceError {
  const picked = pickError(errors);
  if (!picked) return new SluiceError('ERR_VALIDATION', 'The request is not valid.');
  const base = fieldPath(picked.instancePath);
  const what = PART_NAMES[part] ?? part;

  if (picked.keyword === 'additionalProperties') {
    const field = join(base, String(picked.params.additionalProperty));
    return new SluiceError('ERR_UNKNOWN_FIELD', `Unknown ${what} "${field}".`, { field });
  }
  if (picked.keyword === 'required') {
    const field = join(base, String(picked.params.missingProperty));
    return new SluiceError('ERR_VALIDATION', `The ${what} "${field}" is required.`, { field });
  }
  if (base === '') {
    const reason = picked.keyword === 'type' ? 'must be a JSON object' : (picked.message ?? '');
    return new SluiceError('ERR_VALIDATION', `The ${part === 'body' ? 'body' : what} ${reason}.`);
  }
  return new SluiceError('ERR_VALIDATION', `The ${what} "${base}" ${reason(errors, picked)}.`, {
    field: base,
  });
}

function reason(errors: readonly SchemaError[], picked: SchemaError): string {
  const siblings = errors.filter(
    (e) => e.keyword === picked.keyword && e.instancePath === picked.instancePath,
  );
  if (picked.keyword === 'type') {
    // Every branch of a union failed on its type: "must be a string or an object".
    const types = [...new Set(siblings.map((e) => String(e.params.type)))];
    return `must be ${types.map(article).join(' or ')}`;
  }
  if (picked.keyword === 'const' || picked.keyword === 'enum') {
    const allowed = siblings.flatMap((e) =>
      picked.keyword === 'const' ? [e.params.allowedValue] : (e.params.allowedValues as unknown[]),
    );
    return `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  return picked.message ?? 'is invalid';
}

/**
 * The most telling error: the deepest one, and at equal depth one that is
 * not a mere type mismatch (for `to: {"email": "a@b.c", "x": 1}` the unknown
 * `x` says more than "must be string" from the string branch of the union).
 */
function pickError(errors: readonly SchemaError[]): SchemaError | undefined {
  let best: SchemaError | undefined;
  for (const error of errors) {
    if (error.keyword === 'anyOf' || error.keyword === 'oneOf') continue;
    if (!best || score(error) > score(best)) best = error;
  }
  return best ?? errors[0];
}

function score(error: SchemaError): number {
  const depth = error.instancePath === '' ? 0 : error.instancePath.split('/').length;
  const nested = error.keyword === 'required' || error.keyword === 'additionalProperties' ? 1 : 0;
  return depth * 4 + nested * 2 + (error.keyword === 'type' ? 0 : 1);
}

function article(type: string): string {
  if (type === 'null') return 'null';
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** `/to/email` → `to.email`, `/emails/3` → `emails[3]`. */
export function fieldPath(instancePath: string): string {
  if (instancePath === '') return '';
  return instancePath
    .slice(1)
    .split('/')
    .map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce(
      (path, segment) => (/^\d+$/.test(segment) ? `${path}[${segment}]` : join(path, segment)),
      '',
    );
}

function join(base: string, name: string): string {
  return base === '' ? name : `${base}.${name}`;
}
