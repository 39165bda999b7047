/**
 * The built-in capture relay's mailbox, for development and tests: what
 * Sluice delivered to it, newest first. 404 ERR_SINK_DISABLED when the
 * capture relay is not running in this configuration.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { SluiceError } from '../../core/errors.js';
import type { CapturedMessage } from '../../sink/capture-relay.js';
import type { AppDeps } from '../app.js';
import { IdParams, IsoTime, NoContent, withErrors, type IdParamsValue } from '../schemas.js';

const TAGS = ['sink'];

export const MAX_SINK_PAGE = 1000;
const DEFAULT_SINK_PAGE = 50;

const SinkQuery = Type.Object(
  {
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: MAX_SINK_PAGE, default: DEFAULT_SINK_PAGE }),
    ),
  },
  { additionalProperties: false },
);

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Union([schema, Type.Null()]);

const CapturedSummary = Type.Object({
  id: Type.String(),
  receivedAt: IsoTime,
  envelope: Type.Object({ from: Type.String(), to: Type.Array(Type.String()) }),
  size: Type.Integer({ description: 'Octets received after DATA.' }),
  messageId: Nullable(Type.String()),
  subject: Nullable(Type.String()),
  from: Nullable(Type.String()),
  to: Nullable(Type.String()),
});

const CapturedDetail = Type.Composite([
  CapturedSummary,
  Type.Object({
    text: Nullable(Type.String()),
    html: Nullable(Type.String()),
    raw: Type.String({ description: 'The message as received, as text.' }),
  }),
]);

function summary(message: CapturedMessage): Static<typeof CapturedSummary> {
  return {
    id: message.id,
    receivedAt: message.receivedAt.toISOString(),
    envelope: message.envelope,
    size: message.size,
    messageId: message.messageId ?? null,
    subject: message.subject ?? null,
    from: message.from ?? null,
    to: message.to ?? null,
  };
}

function detail(message: CapturedMessage): Static<typeof CapturedDetail> {
  return {
    ...summary(message),
    text: message.text ?? null,
    html: message.html ?? null,
    raw: message.raw,
  };
}

export function sinkRoutes(app: FastifyInstance, deps: AppDeps): void {
  const sink = () => {
    if (!deps.sink) {
      throw new SluiceError(
        'ERR_SINK_DISABLED',
        'The capture relay is not running (sink.enabled, or relays are configured).',
      );
    }
    return deps.sink;
  };

  app.get<{ Querystring: Static<typeof SinkQuery> }>(
    '/sink/messages',
    {
      schema: {
        summary: 'List captured messages',
        description: 'Messages the built-in capture relay received, newest first, without bodies.',
        tags: TAGS,
        querystring: SinkQuery,
        response: withErrors({ 200: Type.Object({ items: Type.Array(CapturedSummary) }) }),
      },
    },
    (request) => {
      const limit = request.query.limit ?? DEFAULT_SINK_PAGE;
      // The relay keeps them newest first.
      const items = sink().messages().slice(0, limit).map(summary);
      return { items };
    },
  );

  app.get<{ Params: IdParamsValue }>(
    '/sink/messages/:id',
    {
      schema: {
        summary: 'Get a captured message',
        description: 'With its text and HTML parts, and the raw message as text.',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 200: CapturedDetail }),
      },
    },
    (request) => {
      const message = sink().get(request.params.id);
      if (!message) {
        throw new SluiceError(
          'ERR_NOT_FOUND',
          `No captured message has the id "${request.params.id}".`,
        );
      }
      return detail(message);
    },
  );

  app.delete(
    '/sink/messages',
    {
      schema: {
        summary: 'Forget every captured message',
        tags: TAGS,
        response: withErrors({ 204: NoContent }),
      },
    },
    (_request, reply) => {
      sink().clear();
      return reply.status(204).send();
    },
  );
}
