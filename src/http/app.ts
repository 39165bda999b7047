/**
 * The HTTP API as a Fastify instance. `buildApp` registers everything and
 * returns the app without listening: the composition root listens, tests
 * listen on port 0, and `openapiDocument` only asks it for its schema.
 *
 * Request validation is Fastify's ajv with two changes to its defaults:
 * unknown body fields are rejected (`removeAdditional: false`, where the
 * default silently drops them) and types are never coerced (a `"subject": 5`
 * is an error, not "5"). Query strings are the exception: everything in a
 * URL is text, so a preValidation hook converts `?limit=20` to a number, by
 * the route's query schema, before ajv sees it.
 */
import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
} from 'fastify';
import { pino, type Logger } from 'pino';
import { systemClock, type Clock } from '../core/clock.js';
import { EventBus } from '../core/events.js';
import type { Store } from '../core/ports/store.js';
import type { SluiceConfig } from '../config/config.js';
import { TemplateEngine } from '../render/liquid.js';
import type { CapturedMessage } from '../sink/capture-relay.js';
import { ApiKeyVerifier } from './auth.js';
import { assertNoNul } from './nul-check.js';
import { installErrorHandlers } from './errors.js';
import { campaignRoutes } from './routes/campaigns.js';
import { contactRoutes } from './routes/contacts.js';
import { eventRoutes } from './routes/events.js';
import { journeyRoutes } from './routes/journeys.js';
import { listRoutes } from './routes/lists.js';
import { messageRoutes } from './routes/messages.js';
import { segmentRoutes } from './routes/segments.js';
import { sinkRoutes } from './routes/sink.js';
import { systemRoutes } from './routes/system.js';
import { suppressionRoutes } from './routes/suppressions.js';
import { templateRoutes } from './routes/templates.js';
import { complaintRoutes } from './routes/complaints.js';
import { webhookRoutes } from './routes/webhooks.js';
import { MAX_TOKEN_LENGTH, trackingRoutes } from './routes/tracking.js';
import { dashboardRoutes, type DashboardDeps } from './ui/ui-routes.js';
import { lazyRequestLogger } from './request-logger.js';

export interface AppDeps {
  store: Store;
  config: SluiceConfig;
  clock: Clock;
  events: EventBus;
  logger: Logger;
  templates: TemplateEngine;
  /** Served at GET /metrics. */
  metrics: { contentType: string; render(): Promise<string> };
  /** The built-in capture relay, when it runs. */
  sink?: {
    messages(): CapturedMessage[];
    get(id: string): CapturedMessage | undefined;
    clear(): void;
  };
  /** GET /readyz. */
  readiness: () => Promise<{ ready: boolean; checks: Record<string, string> }>;
  /** Called after a message is durably accepted (wakes the delivery worker). */
  onAccepted?: () => void;
  /** Called after a campaign was scheduled, sent, resumed … (wakes the campaign scheduler). */
  onCampaignChange?: () => void;
  /** Called after a journey is created, changed or deleted (the runner re-reads them). */
  onJourneysChanged?: () => Promise<void>;
  /**
   * `system`: only the system routes (health, readiness, metrics), for a
   * node of role `worker`, which accepts nothing; default `all`.
   */
  routes?: 'all' | 'system';
  /** Called after a webhook event is queued by the API (test send, complaint): wakes the dispatcher. */
  onWebhookEnqueued?: () => void;
  /** The operator's dashboard under /ui (src/http/ui/); absent: not served. */
  dashboard?: DashboardDeps;
}

export const API_TAGS = [
  { name: 'messages', description: 'Send transactional mail and follow its delivery.' },
  { name: 'contacts', description: 'Recipients, keyed by email, with attributes for templates.' },
  {
    name: 'events',
    description: 'What contacts do (identify, idempotent ingestion); the input of triggers.',
  },
  { name: 'lists', description: 'Mailing lists and their members.' },
  {
    name: 'segments',
    description:
      'Saved conditions over contacts (attributes, lists, events), counted and previewed.',
  },
  {
    name: 'journeys',
    description:
      'Event- and segment-triggered journeys: send, wait, wait for an event, branch, exit (docs/journeys.md).',
  },
  { name: 'templates', description: 'Stored Liquid templates.' },
  {
    name: 'campaigns',
    description:
      'Bulk mail to lists and segments: scheduling, A/B tests, pause and cancel, live statistics.',
  },
  { name: 'suppressions', description: 'Addresses Sluice does not send to.' },
  { name: 'sink', description: 'The built-in capture relay (development and tests).' },
  {
    name: 'tracking',
    description:
      'Open pixel, click redirects and one-click unsubscribe, reached by recipients through signed links (no API key).',
  },
  {
    name: 'webhooks',
    description:
      'Signed HTTP callbacks for delivery, engagement and complaint events, with a delivery log.',
  },
  { name: 'system', description: 'Health, readiness, metrics and this document.' },
];

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  // Typed as Fastify's logger interface so that the app is a plain FastifyInstance.
  const logger: FastifyBaseLogger = deps.logger.child(
    {},
    { serializers: { req: requestSerializer } },
  );
  const app = fastify({
    loggerInstance: logger,
    bodyLimit: deps.config.http.bodyLimit,
    genReqId: () => randomUUID(),
    // Click tokens carry their target URL (routes/tracking.ts); the default is 100.
    routerOptions: { maxParamLength: MAX_TOKEN_LENGTH },
    // Two info lines per request would dominate the log (and cost CPU) at
    // thousands of messages a second; requests are logged at debug below,
    // and errors by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyRequestLogger,
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true },
    },
  });

  // Only JSON bodies: without this, text/plain would reach the handlers as
  // a string and fail validation with a less helpful message than 415.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('apiKeyId', '');
  installErrorHandlers(app, { bodyLimit: deps.config.http.bodyLimit });

  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('X-Request-Id', request.id);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    request.log.debug(
      { req: request, statusCode: reply.statusCode, responseTimeMs: reply.elapsedTime },
      'request completed',
    );
    done();
  });
  app.addHook('preValidation', (request, _reply, done) => {
    assertNoNul(request.body);
    const schema = request.routeOptions.schema?.querystring as TSchema | undefined;
    if (schema && request.query && typeof request.query === 'object') {
      request.query = Value.Convert(schema, request.query);
    }
    done();
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Sluice',
        version: '1.0.0',
        description:
          'Self-hosted email delivery. Every /v1 endpoint needs `Authorization: Bearer <key>`. Errors: `{"error": {"code", "message", "field"?, "line"?, "column"?, "requestId"}}`; the codes are listed in docs/api.md.',
      },
      ...(deps.config.http.publicUrl ? { servers: [{ url: deps.config.http.publicUrl }] } : {}),
      tags: API_TAGS,
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API key (sk_…).' },
        },
      },
      security: [{ bearerAuth: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  systemRoutes(app, deps);
  // A worker node serves its probes and metrics only: the API and the
  // recipients' tracking links go to api (or all) nodes.
  if (deps.routes === 'system') return app;
  await app.register((t, _options, done) => {
    trackingRoutes(t, deps);
    done();
  });
  const verifier = new ApiKeyVerifier(deps.store, deps.clock);
  await app.register(
    (v1, _options, done) => {
      v1.addHook('onRequest', verifier.hook());
      messageRoutes(v1, deps);
      contactRoutes(v1, deps);
      eventRoutes(v1, deps);
      listRoutes(v1, deps);
      segmentRoutes(v1, deps);
      journeyRoutes(v1, deps);
      templateRoutes(v1, deps);
      suppressionRoutes(v1, deps);
      sinkRoutes(v1, deps);
      webhookRoutes(v1, deps);
      complaintRoutes(v1, deps);
      campaignRoutes(v1, deps);
      done();
    },
    { prefix: '/v1' },
  );
  const dashboard = deps.dashboard;
  if (dashboard) {
    await app.register((ui, _options, done) => {
      dashboardRoutes(ui, { ...deps, dashboard });
      done();
    });
  }
  return app;
}

/**
 * The OpenAPI document, without a database or a listening socket (for
 * `sluice openapi`). The dependencies are stand-ins, never called while
 * only the schema is asked for.
 */
export async function openapiDocument(config: SluiceConfig): Promise<Record<string, unknown>> {
  const app = await buildApp({
    config,
    store: offlineStore(),
    clock: systemClock,
    events: new EventBus(),
    logger: pino({ level: 'silent' }),
    templates: new TemplateEngine({
      strict: config.templates.strict,
      renderTimeoutMs: config.templates.renderTimeoutMs,
    }),
    metrics: { contentType: 'text/plain', render: () => Promise.resolve('') },
    readiness: () => Promise.resolve({ ready: false, checks: {} }),
  });
  try {
    await app.ready();
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
  }
}

/** A Store whose every use throws: the OpenAPI document needs none. */
function offlineStore(): Store {
  return new Proxy({} as Store, {
    get(_target, property) {
      throw new Error(`openapiDocument: no store (store.${String(property)} was used)`);
    },
  });
}

/** What a request log line says about the request: never its headers (Authorization). */
function requestSerializer(request: FastifyRequest) {
  return {
    method: request.method,
    url: request.url,
    host: request.host,
    remoteAddress: request.ip,
  };
}
