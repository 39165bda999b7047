/**
 * The suppression list: addresses Sluice does not send to (docs/bounces.md).
 * Hard bounces add to it by themselves; these endpoints list, add and remove
 * entries. Addresses are compared case-insensitively and shown lower-cased.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { parseEmail } from '../../core/address.js';
import { SluiceError } from '../../core/errors.js';
import { suppressionKey, type Suppression } from '../../core/suppression.js';
import type { AppDeps } from '../app.js';
import {
  DEFAULT_PAGE_SIZE,
  IsoTime,
  NoContent,
  Page,
  PageQuery,
  iso,
  pageView,
  withErrors,
} from '../schemas.js';

const TAGS = ['suppressions'];
const MANUAL_REASON = 'added through the API';

const SuppressionBody = Type.Object(
  {
    email: Type.String({ minLength: 1, maxLength: 1000 }),
    reason: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1000,
        description: `Why the address is suppressed; default "${MANUAL_REASON}".`,
      }),
    ),
  },
  { additionalProperties: false },
);

const SuppressionQuery = Type.Object(
  {
    ...PageQuery.properties,
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 254,
        description: 'Only addresses that start with this (case-insensitive).',
      }),
    ),
  },
  { additionalProperties: false },
);

const EmailParams = Type.Object({ email: Type.String({ minLength: 1, maxLength: 1000 }) });

export const SuppressionView = Type.Object({
  email: Type.String({ description: 'Lower-cased.' }),
  reason: Type.String({ description: 'The bounce reply, or the reason given when added.' }),
  category: Type.Union([Type.String(), Type.Null()], {
    description: 'The bounce category, for entries a bounce added.',
  }),
  sourceMessageId: Type.Union([Type.String(), Type.Null()], {
    description: 'The message whose bounce added (or last renewed) the entry.',
  }),
  createdAt: IsoTime,
  updatedAt: IsoTime,
});

export function suppressionView(s: Suppression): Static<typeof SuppressionView> {
  return {
    email: s.email,
    reason: s.reason,
    category: s.category ?? null,
    sourceMessageId: s.sourceMessageId ?? null,
    createdAt: iso(s.createdAt),
    updatedAt: iso(s.updatedAt),
  };
}

export function suppressionRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get<{ Querystring: Static<typeof SuppressionQuery> }>(
    '/suppressions',
    {
      schema: {
        summary: 'List suppressed addresses',
        description: 'Ordered by address, a page at a time; `q` keeps those starting with it.',
        tags: TAGS,
        querystring: SuppressionQuery,
        response: withErrors({ 200: Page(SuppressionView) }),
      },
    },
    async (request) => {
      const { limit = DEFAULT_PAGE_SIZE, after, q } = request.query;
      const page = await deps.store.suppressions.list({
        limit,
        ...(after ? { after } : {}),
        ...(q ? { prefix: q } : {}),
      });
      return pageView(page, suppressionView);
    },
  );

  app.post<{ Body: Static<typeof SuppressionBody> }>(
    '/suppressions',
    {
      schema: {
        summary: 'Suppress an address',
        description:
          'Adds the address (201), or renews an entry already there (200): its reason is replaced.',
        tags: TAGS,
        body: SuppressionBody,
        response: withErrors({ 200: SuppressionView, 201: SuppressionView }),
      },
    },
    async (request, reply) => {
      const email = parseEmail(request.body.email, 'email');
      const { suppression, created } = await deps.store.suppressions.add({
        email,
        reason: request.body.reason ?? MANUAL_REASON,
        at: deps.clock.now(),
      });
      return reply.status(created ? 201 : 200).send(suppressionView(suppression));
    },
  );

  app.get<{ Params: Static<typeof EmailParams> }>(
    '/suppressions/:email',
    {
      schema: {
        summary: 'Get a suppressed address',
        tags: TAGS,
        params: EmailParams,
        response: withErrors({ 200: SuppressionView }),
      },
    },
    async (request) => {
      const suppression = await deps.store.suppressions.get(request.params.email);
      if (!suppression) throw notFound(request.params.email);
      return suppressionView(suppression);
    },
  );

  app.delete<{ Params: Static<typeof EmailParams> }>(
    '/suppressions/:email',
    {
      schema: {
        summary: 'Remove an address from the suppression list',
        description: 'Mail to it is sent again from the next message on.',
        tags: TAGS,
        params: EmailParams,
        response: withErrors({ 204: NoContent }),
      },
    },
    async (request, reply) => {
      const removed = await deps.store.suppressions.remove(request.params.email);
      if (!removed) throw notFound(request.params.email);
      return reply.status(204).send();
    },
  );
}

function notFound(email: string): SluiceError {
  return new SluiceError(
    'ERR_NOT_FOUND',
    `"${suppressionKey(email)}" is not on the suppression list.`,
    { field: 'email' },
  );
}
