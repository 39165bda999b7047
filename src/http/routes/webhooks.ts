/**
 * Outgoing webhook endpoints (docs/webhooks.md): create (the signing secret
 * is in the answer this once), list, read, change, delete, rotate the
 * secret, the delivery log, and a test send.
 *
 * A URL is checked by the address guard (src/webhooks/address-guard.ts)
 * when it is saved: a URL resolving to a non-public address is 400
 * ERR_WEBHOOK_URL naming `url` unless `webhooks.allowPrivateNetworks` is on.
 * The dispatcher checks again at every connection.
 */
import { randomBytes } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { DEFAULT_WEBHOOKS } from '../../config/config.js';
import { SluiceError } from '../../core/errors.js';
import type { WebhookDelivery, WebhookEndpoint } from '../../core/ports/webhook-store.js';
import {
  WEBHOOK_EVENT_TYPES,
  WEBHOOK_TEST_TYPE,
  newWebhookEventId,
} from '../../core/webhook-events.js';
import { checkUrl } from '../../webhooks/address-guard.js';
import type { AppDeps } from '../app.js';
import {
  DEFAULT_PAGE_SIZE,
  IdParams,
  IsoTime,
  JsonObject,
  NoContent,
  Page,
  PageQuery,
  iso,
  pageView,
  withErrors,
  type IdParamsValue,
  type PageQueryValue,
} from '../schemas.js';

const TAGS = ['webhooks'];
const DAY_SECONDS = 86_400;

const Url = Type.String({
  minLength: 1,
  maxLength: 2048,
  description: 'http(s) URL that receives the POSTs.',
});
const Events = Type.Array(Type.Union(WEBHOOK_EVENT_TYPES.map((t) => Type.Literal(t))), {
  minItems: 1,
  uniqueItems: true,
  description: `Event types sent to this endpoint: ${WEBHOOK_EVENT_TYPES.join(', ')}.`,
});
const Description = Type.String({ maxLength: 500 });

const CreateBody = Type.Object(
  {
    url: Url,
    events: Events,
    description: Type.Optional(Description),
    enabled: Type.Optional(Type.Boolean({ default: true })),
  },
  { additionalProperties: false },
);

const PatchBody = Type.Object(
  {
    url: Type.Optional(Url),
    events: Type.Optional(Events),
    description: Type.Optional(Description),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);

const RotateQuery = Type.Object(
  {
    graceSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 7 * DAY_SECONDS,
        default: DAY_SECONDS,
        description:
          'How long the old secret keeps signing beside the new one (both v1 values are sent), 0–604800 s; default one day.',
      }),
    ),
  },
  { additionalProperties: false },
);

const EndpointView = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  description: Type.String(),
  enabled: Type.Boolean(),
  createdAt: IsoTime,
  updatedAt: IsoTime,
  secretRotatedAt: Type.Union([IsoTime, Type.Null()]),
});

const WithSecret = Type.Intersect([
  EndpointView,
  Type.Object({
    secret: Type.String({
      description: 'The signing secret (`whsec_…`). Shown only in this answer: store it now.',
    }),
  }),
]);

const DeliveryView = Type.Object({
  eventId: Type.String(),
  type: Type.String(),
  status: Type.Union(
    ['pending', 'sending', 'delivered', 'failed'].map((s) => Type.Literal(s)),
    { description: '`failed`: given up after the retry window.' },
  ),
  attempts: Type.Integer(),
  lastStatus: Type.Union([Type.Integer(), Type.Null()], {
    description: 'HTTP status of the last answer.',
  }),
  lastError: Type.Union([Type.String(), Type.Null()]),
  lastAttemptAt: Type.Union([IsoTime, Type.Null()]),
  nextAttemptAt: Type.Union([IsoTime, Type.Null()], {
    description: 'When the next try is due (for `sending`: when its lease runs out).',
  }),
  finishedAt: Type.Union([IsoTime, Type.Null()]),
  createdAt: IsoTime,
  data: JsonObject,
});

const TestView = Type.Object({ eventId: Type.String() });

function endpointView(endpoint: WebhookEndpoint): Static<typeof EndpointView> {
  return {
    id: endpoint.id,
    url: endpoint.url,
    events: endpoint.events,
    description: endpoint.description,
    enabled: endpoint.enabled,
    createdAt: iso(endpoint.createdAt),
    updatedAt: iso(endpoint.updatedAt),
    secretRotatedAt: endpoint.secretRotatedAt === undefined ? null : iso(endpoint.secretRotatedAt),
  };
}

const isoOrNull = (ms: number | undefined) => (ms === undefined ? null : iso(ms));

function deliveryView(d: WebhookDelivery): Static<typeof DeliveryView> {
  return {
    eventId: d.eventId,
    type: d.type,
    status: d.status,
    attempts: d.attempts,
    lastStatus: d.lastStatus ?? null,
    lastError: d.lastError ?? null,
    lastAttemptAt: isoOrNull(d.lastAttemptAt),
    nextAttemptAt: isoOrNull(d.nextAttemptAt),
    finishedAt: isoOrNull(d.finishedAt),
    createdAt: iso(d.createdAt),
    data: d.data,
  };
}

/** `whsec_` + 256 random bits. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

function newEndpointId(): string {
  return `wh_${randomBytes(16).toString('hex')}`;
}

function notFound(id: string): SluiceError {
  return new SluiceError('ERR_NOT_FOUND', `No webhook endpoint has the id "${id}".`);
}

export function webhookRoutes(app: FastifyInstance, deps: AppDeps): void {
  const { store, clock } = deps;
  const settings = deps.config.webhooks ?? DEFAULT_WEBHOOKS;

  async function checkedUrl(url: string): Promise<string> {
    const verdict = await checkUrl(url, { allowPrivateNetworks: settings.allowPrivateNetworks });
    if (!verdict.ok) {
      throw new SluiceError('ERR_WEBHOOK_URL', `url: ${verdict.reason}`, { field: 'url' });
    }
    return url;
  }

  async function existing(id: string): Promise<WebhookEndpoint> {
    const endpoint = await store.webhooks.getEndpoint(id);
    if (!endpoint) throw notFound(id);
    return endpoint;
  }

  app.post<{ Body: Static<typeof CreateBody> }>(
    '/webhooks',
    {
      schema: {
        summary: 'Create a webhook endpoint',
        description:
          'The answer holds the signing secret, shown this once. The URL must resolve to public addresses unless `webhooks.allowPrivateNetworks` is on.',
        tags: TAGS,
        body: CreateBody,
        response: withErrors({ 201: WithSecret }),
      },
    },
    async (request, reply) => {
      const url = await checkedUrl(request.body.url);
      const secret = newWebhookSecret();
      const endpoint = await store.webhooks.createEndpoint({
        id: newEndpointId(),
        url,
        events: request.body.events,
        description: request.body.description ?? '',
        enabled: request.body.enabled ?? true,
        secret,
        at: clock.now(),
      });
      return reply.status(201).send({ ...endpointView(endpoint), secret });
    },
  );

  app.get<{ Querystring: PageQueryValue }>(
    '/webhooks',
    {
      schema: {
        summary: 'List webhook endpoints',
        tags: TAGS,
        querystring: PageQuery,
        response: withErrors({ 200: Page(EndpointView) }),
      },
    },
    async (request) => {
      const { limit = DEFAULT_PAGE_SIZE, after } = request.query;
      return pageView(
        await store.webhooks.listEndpoints({ limit, ...(after ? { after } : {}) }),
        endpointView,
      );
    },
  );

  app.get<{ Params: IdParamsValue }>(
    '/webhooks/:id',
    {
      schema: {
        summary: 'Get a webhook endpoint',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 200: EndpointView }),
      },
    },
    async (request) => endpointView(await existing(request.params.id)),
  );

  app.patch<{ Params: IdParamsValue; Body: Static<typeof PatchBody> }>(
    '/webhooks/:id',
    {
      schema: {
        summary: 'Change a webhook endpoint',
        description:
          'A new URL is checked like at creation. Disabling stops new events; deliveries already queued wait until it is enabled again.',
        tags: TAGS,
        params: IdParams,
        body: PatchBody,
        response: withErrors({ 200: EndpointView }),
      },
    },
    async (request) => {
      const { url, events, description, enabled } = request.body;
      await existing(request.params.id);
      const endpoint = await store.webhooks.updateEndpoint(request.params.id, {
        ...(url !== undefined ? { url: await checkedUrl(url) } : {}),
        ...(events !== undefined ? { events } : {}),
        ...(description !== undefined ? { description } : {}),
        ...(enabled !== undefined ? { enabled } : {}),
        at: clock.now(),
      });
      if (!endpoint) throw notFound(request.params.id);
      return endpointView(endpoint);
    },
  );

  app.delete<{ Params: IdParamsValue }>(
    '/webhooks/:id',
    {
      schema: {
        summary: 'Delete a webhook endpoint',
        description: 'Its delivery log and queued deliveries go with it.',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 204: NoContent }),
      },
    },
    async (request, reply) => {
      if (!(await store.webhooks.deleteEndpoint(request.params.id))) {
        throw notFound(request.params.id);
      }
      return reply.status(204).send();
    },
  );

  app.post<{ Params: IdParamsValue; Querystring: Static<typeof RotateQuery> }>(
    '/webhooks/:id/rotate-secret',
    {
      schema: {
        summary: 'Rotate the signing secret',
        description:
          'A new secret signs from now, shown this once; the old one keeps signing beside it (a second `v1`) for `graceSeconds`, so receivers can switch without losing events.',
        tags: TAGS,
        params: IdParams,
        querystring: RotateQuery,
        response: withErrors({ 200: WithSecret }),
      },
    },
    async (request) => {
      const at = clock.now();
      const secret = newWebhookSecret();
      const grace = request.query.graceSeconds ?? DAY_SECONDS;
      const endpoint = await store.webhooks.rotateSecret(request.params.id, {
        secret,
        previousExpiresAt: at + grace * 1000,
        at,
      });
      if (!endpoint) throw notFound(request.params.id);
      return { ...endpointView(endpoint), secret };
    },
  );

  app.get<{ Params: IdParamsValue; Querystring: PageQueryValue }>(
    '/webhooks/:id/deliveries',
    {
      schema: {
        summary: 'The delivery log of an endpoint',
        description: `Newest event first: its state, attempts, last HTTP status or error, next try. Kept \`webhooks.retention\` after it ends.`,
        tags: TAGS,
        params: IdParams,
        querystring: PageQuery,
        response: withErrors({ 200: Page(DeliveryView) }),
      },
    },
    async (request) => {
      await existing(request.params.id);
      const { limit = DEFAULT_PAGE_SIZE, after } = request.query;
      return pageView(
        await store.webhooks.listDeliveries(request.params.id, {
          limit,
          ...(after ? { after } : {}),
        }),
        deliveryView,
      );
    },
  );

  app.post<{ Params: IdParamsValue }>(
    '/webhooks/:id/test',
    {
      schema: {
        summary: 'Send a test event',
        description:
          'Queues one event of type `test` to this endpoint only, whatever it subscribes to (sent while the endpoint is enabled); follow it in the delivery log.',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 202: TestView }),
      },
    },
    async (request, reply) => {
      const endpoint = await existing(request.params.id);
      const at = clock.now();
      const eventId = newWebhookEventId(at);
      await store.webhooks.enqueue(endpoint.id, {
        id: eventId,
        type: WEBHOOK_TEST_TYPE,
        createdAt: at,
        data: { endpointId: endpoint.id, message: 'A test event from Sluice.' },
      });
      deps.onWebhookEnqueued?.();
      return reply.status(202).send({ eventId });
    },
  );
}
