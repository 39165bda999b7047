/**
 * The error catalog: every error Sluice reports to a client or an operator
 * has a stable code here, a kind, and a one-line description that the API
 * reference lists (a test fails if a code is missing from docs/api.md).
 *
 * The HTTP status is assigned from the kind in one place
 * (src/http/errors.ts), never at the throw site.
 */

export const ERROR_KINDS = [
  'invalid', // the request is malformed or breaks a rule: 400
  'unprocessable', // well-formed but cannot be done as asked (template errors): 422
  'unauthorized', // no or bad credentials: 401
  'forbidden', // authenticated, but the request is refused (a dashboard form without its CSRF token): 403
  'not-found', // 404
  'conflict', // 409
  'too-large', // 413
  'unsupported-media-type', // the body is not in a format the endpoint reads: 415
  'overloaded', // too much work is waiting; retry after Retry-After: 429
  'unavailable', // the store cannot take writes now: 503
  'internal', // a bug: 500
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

export const ERROR_CATALOG = {
  ERR_VALIDATION: {
    kind: 'invalid',
    description: 'A field is missing, has the wrong type or breaks a rule; `field` names it.',
  },
  ERR_UNKNOWN_FIELD: {
    kind: 'invalid',
    description: 'The body holds a field the endpoint does not know; `field` names it.',
  },
  ERR_MALFORMED_JSON: { kind: 'invalid', description: 'The body is not valid JSON.' },
  ERR_UNSUPPORTED_MEDIA_TYPE: {
    kind: 'unsupported-media-type',
    description: 'The body is not `application/json`.',
  },
  ERR_BODY_TOO_LARGE: {
    kind: 'too-large',
    description: 'The body is larger than `http.bodyLimit` (`http.importLimit` for imports).',
  },
  ERR_IMPORT_HEADER: {
    kind: 'invalid',
    description:
      'The header row of a CSV import cannot be used (no `email` column, an unnamed or repeated column).',
  },
  ERR_IMPORT_FORMAT: {
    kind: 'invalid',
    description:
      'An import or export names no format Sluice reads: `format=csv|ndjson`, or `Content-Type: text/csv` / `application/x-ndjson`.',
  },
  ERR_ADDRESS_INVALID: {
    kind: 'invalid',
    description: 'An email address is not valid; the message says why.',
  },
  ERR_HEADER_INJECTION: {
    kind: 'invalid',
    description: 'A header value (subject, names, reply-to, custom headers) holds CR or LF.',
  },
  ERR_MESSAGE_CONTENT_MISSING: {
    kind: 'invalid',
    description:
      'A message needs a `templateId`, or an inline `subject` with `html` or `text`, not both.',
  },
  ERR_TEMPLATE_SYNTAX: {
    kind: 'unprocessable',
    description: 'A Liquid template does not parse; `line` and `column` say where.',
  },
  ERR_TEMPLATE_RENDER: {
    kind: 'unprocessable',
    description:
      'A template fails to render with the given data (in strict mode: an unknown variable).',
  },
  ERR_TEMPLATE_NOT_FOUND: {
    kind: 'unprocessable',
    description: 'The `templateId` of a message names no template.',
  },
  ERR_SEGMENT_INVALID: {
    kind: 'invalid',
    description:
      'A segment condition breaks the language (docs/segments.md); `field` names its JSON path, e.g. `conditions.and[2].op`.',
  },
  ERR_NOT_FOUND: { kind: 'not-found', description: 'The resource does not exist.' },
  ERR_CAMPAIGN_STATE: {
    kind: 'conflict',
    description:
      "The campaign's status does not allow the action (e.g. editing a campaign that is sending).",
  },
  ERR_ROUTE_NOT_FOUND: { kind: 'not-found', description: 'No endpoint has this method and path.' },
  ERR_CONFLICT: {
    kind: 'conflict',
    description: 'The resource already exists (a unique name or email is taken).',
  },
  ERR_IDEMPOTENCY_MISMATCH: {
    kind: 'conflict',
    description: 'The `Idempotency-Key` was used before with a different body.',
  },
  ERR_AUTH_REQUIRED: {
    kind: 'unauthorized',
    description: 'No `Authorization: Bearer <key>` header.',
  },
  ERR_AUTH_INVALID: { kind: 'unauthorized', description: 'The API key is unknown or revoked.' },
  ERR_CONTACT_NOT_FOUND: {
    kind: 'not-found',
    description: 'An event names a contact by `id` that does not exist; `field` names it.',
  },
  ERR_OVERLOADED: {
    kind: 'overloaded',
    description:
      'Too many writes are waiting for the database (`events.maxPending`); nothing was stored. Retry after `Retry-After` seconds.',
  },
  ERR_STORE_UNAVAILABLE: {
    kind: 'unavailable',
    description: 'The database cannot be reached; retry after `Retry-After` seconds.',
  },
  ERR_SINK_DISABLED: {
    kind: 'not-found',
    description: 'The built-in capture relay is not running in this configuration.',
  },
  ERR_JOURNEY_INVALID: {
    kind: 'invalid',
    description:
      'A journey definition breaks the rules of docs/journeys.md, or names a template or segment that does not exist; `field` names its JSON path, e.g. `steps[2].then[0].template`.',
  },
  ERR_COMPLAINT_REPORT: {
    kind: 'invalid',
    description:
      'The body is not an ARF feedback report (RFC 5965) Sluice can use: no `message/feedback-report` part, or neither a recipient nor a Sluice message id in it.',
  },
  ERR_WEBHOOK_URL: {
    kind: 'invalid',
    description:
      'A webhook `url` cannot be used: not http(s), carries credentials, does not resolve, or resolves to a private, loopback, link-local or other non-public address while `webhooks.allowPrivateNetworks` is off (docs/webhooks.md).',
  },
  ERR_UI_CSRF: {
    kind: 'forbidden',
    description:
      "A dashboard form came without its session's CSRF token, or from another origin (docs/dashboard.md).",
  },
  ERR_INTERNAL: {
    kind: 'internal',
    description: 'A bug. The log holds the details under the request id.',
  },
} as const satisfies Record<string, { kind: ErrorKind; description: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export interface ErrorDetails {
  /** The JSON path of the offending field, e.g. `to` or `variables.name`. */
  field?: string;
  line?: number;
  column?: number;
  [key: string]: unknown;
}

/** An expected, reportable failure. Anything else thrown is a bug. */
export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message);
    this.name = 'SluiceError';
    this.code = code;
    this.kind = ERROR_CATALOG[code].kind;
    this.details = details;
  }
}

export function isSluiceError(value: unknown): value is SluiceError {
  return value instanceof SluiceError;
}

/** The message of something thrown, which need not be an Error. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
