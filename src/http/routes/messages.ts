/**
 * POST /v1/messages accepts one transactional (or bulk) message: 202 only
 * once its row is committed. GET /v1/messages/:id shows its state and every
 * delivery attempt.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { SluiceError } from '../../core/errors.js';
import type { AttemptRecord, StoredMessage } from '../../core/message.js';
import type { AppDeps } from '../app.js';
import { IDEMPOTENCY_HEADER, idempotencyClaim } from '../idempotency.js';
import { prepareMessage } from '../message-intake.js';
import {
  AddressInput,
  AddressView,
  IdParams,
  IsoTime,
  withErrors,
  iso,
  type IdParamsValue,
} from '../schemas.js';

const TAGS = ['messages'];

const MessageBody = Type.Object(
  {
    to: AddressInput,
    from: AddressInput,
    replyTo: Type.Optional(AddressInput),
    templateId: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'A stored template.' }),
    ),
    subject: Type.Optional(Type.String({ minLength: 1, description: 'Inline Liquid subject.' })),
    html: Type.Optional(Type.String({ description: 'Inline Liquid HTML body.' })),
    text: Type.Optional(Type.String({ description: 'Inline Liquid text body.' })),
    variables: Type.Optional(
      Type.Object({}, { additionalProperties: true, description: 'Data for the templates.' }),
    ),
    headers: Type.Optional(
      Type.Record(Type.String(), Type.String(), {
        description:
          'Extra headers. Names must be valid header names; From, To, Subject, Message-ID, Date, MIME-Version, Content-* and the like are refused.',
      }),
    ),
    stream: Type.Optional(
      Type.Union([Type.Literal('transactional'), Type.Literal('bulk')], {
        default: 'transactional',
        description: 'Transactional mail is sent before bulk mail.',
      }),
    ),
  },
  { additionalProperties: false },
);
type MessageBodyValue = Static<typeof MessageBody>;

const AcceptHeaders = Type.Object({
  [IDEMPOTENCY_HEADER]: Type.Optional(
    Type.String({
      description:
        '1–255 visible ASCII characters. A retry with the same key and body returns the first message; another body gets 409.',
    }),
  ),
});

const Accepted = Type.Object({
  id: Type.String(),
  status: Type.Literal('queued'),
});

const Attempt = Type.Object({
  attempt: Type.Integer(),
  relay: Type.Union([Type.String(), Type.Null()]),
  startedAt: IsoTime,
  finishedAt: IsoTime,
  outcome: Type.String(),
  code: Type.Union([Type.Integer(), Type.Null()]),
  enhancedCode: Type.Union([Type.String(), Type.Null()]),
  response: Type.String(),
  category: Type.Union([Type.String(), Type.Null()], {
    description: 'Deferred and bounced attempts: the bounce category (docs/bounces.md).',
  }),
});

const MessageView = Type.Object({
  id: Type.String(),
  status: Type.String(),
  stream: Type.String(),
  from: AddressView,
  to: AddressView,
  replyTo: Type.Union([AddressView, Type.Null()]),
  templateId: Type.Union([Type.String(), Type.Null()]),
  subject: Type.Optional(Type.String({ description: 'Inline messages: the Liquid source.' })),
  messageId: Type.String({ description: 'The RFC 5322 Message-ID, without angle brackets.' }),
  attempts: Type.Integer(),
  nextAttemptAt: Type.Union([IsoTime, Type.Null()], {
    description: 'When queued or deferred: when the next attempt is due.',
  }),
  lastError: Type.Union([Type.String(), Type.Null()]),
  bounceCategory: Type.Union([Type.String(), Type.Null()], {
    description:
      'The bounce category of the latest deferral or bounce (docs/bounces.md); null once delivered.',
  }),
  createdAt: IsoTime,
  updatedAt: IsoTime,
  expiresAt: IsoTime,
  history: Type.Array(Attempt),
});

export function messageRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.post<{ Body: MessageBodyValue }>(
    '/messages',
    {
      schema: {
        summary: 'Send a message',
        description:
          'Accepts a message for delivery: 202 once it is durably queued. Give either `templateId` or an inline `subject` with `html` and/or `text`.',
        tags: TAGS,
        headers: AcceptHeaders,
        body: MessageBody,
        response: withErrors({ 202: Accepted }),
      },
    },
    async (request, reply) => {
      const idempotency = idempotencyClaim(
        request.headers[IDEMPOTENCY_HEADER],
        request.apiKeyId,
        request.body,
      );
      const message = await prepareMessage(request.body, deps);
      const result = await deps.store.messages.accept(message, idempotency);
      if (result.kind === 'conflict') {
        throw new SluiceError(
          'ERR_IDEMPOTENCY_MISMATCH',
          'This Idempotency-Key was used before with a different body.',
          { field: 'Idempotency-Key' },
        );
      }
      if (result.kind === 'replayed') {
        void reply.header('Idempotent-Replayed', 'true');
      } else {
        deps.events.emit('message:accepted', { id: result.id, stream: message.stream });
        deps.onAccepted?.();
      }
      return reply.status(202).send({ id: result.id, status: 'queued' as const });
    },
  );

  app.get<{ Params: IdParamsValue }>(
    '/messages/:id',
    {
      schema: {
        summary: 'Get a message and its delivery attempts',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 200: MessageView }),
      },
    },
    async (request) => {
      const message = await deps.store.messages.get(request.params.id);
      if (!message) {
        throw new SluiceError('ERR_NOT_FOUND', `No message has the id "${request.params.id}".`);
      }
      const history = await deps.store.messages.attempts(message.id);
      return messageView(message, history);
    },
  );
}

function messageView(message: StoredMessage, history: AttemptRecord[]): Static<typeof MessageView> {
  const waiting = message.status === 'queued' || message.status === 'deferred';
  return {
    id: message.id,
    status: message.status,
    stream: message.stream,
    from: message.from,
    to: message.to,
    replyTo: message.replyTo ?? null,
    templateId: message.templateId ?? null,
    ...(message.subject !== undefined ? { subject: message.subject } : {}),
    messageId: message.messageId,
    attempts: message.attempts,
    nextAttemptAt: waiting ? iso(message.dueAt) : null,
    lastError: message.lastError ?? null,
    bounceCategory: message.bounceCategory ?? null,
    createdAt: iso(message.createdAt),
    updatedAt: iso(message.updatedAt),
    expiresAt: iso(message.expiresAt),
    history: history.map((attempt) => ({
      attempt: attempt.attempt,
      relay: attempt.relay ?? null,
      startedAt: iso(attempt.startedAt),
      finishedAt: iso(attempt.finishedAt),
      outcome: attempt.outcome,
      code: attempt.code ?? null,
      enhancedCode: attempt.enhancedCode ?? null,
      response: attempt.response,
      category: attempt.category ?? null,
    })),
  };
}
