/**
 * Spam complaints (docs/webhooks.md#complaints): a feedback loop or the
 * operator reports that a recipient marked mail as spam. One store
 * transaction suppresses the address (reason `complaint`), sets a contact
 * with that address to `complained`, and emits the `complained` webhook
 * event. Repeating it is harmless (the suppression is renewed, one more
 * event is sent).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { parseEmail } from '../../core/address.js';
import { SluiceError } from '../../core/errors.js';
import type { AppDeps } from '../app.js';
import { withErrors } from '../schemas.js';

const Body = Type.Object(
  {
    email: Type.String({ minLength: 1, maxLength: 320, description: 'Who complained.' }),
    messageId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'The Sluice message id (`msg_…`) complained about, when known.',
      }),
    ),
    source: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 100,
        description: 'Where the report came from (a provider name, `arf`); default `api`.',
      }),
    ),
    feedbackType: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 100,
        description: 'RFC 5965 Feedback-Type (abuse, fraud, other …), when known.',
      }),
    ),
  },
  { additionalProperties: false },
);

const View = Type.Object({
  email: Type.String(),
  suppressed: Type.Boolean(),
  contactId: Type.Union([Type.String(), Type.Null()], {
    description: 'The contact set to `complained`, when one has the address.',
  }),
  eventId: Type.String({ description: 'The `complained` webhook event.' }),
});

export function complaintRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.post<{ Body: Static<typeof Body> }>(
    '/complaints',
    {
      schema: {
        summary: 'Record a spam complaint',
        description:
          'Suppresses the address (reason `complaint`), sets its contact to `complained` and emits the `complained` webhook event, in one transaction.',
        tags: ['suppressions'],
        body: Body,
        response: withErrors({ 200: View }),
      },
    },
    async (request) => {
      const email = parseEmail(request.body.email, 'email');
      const { messageId, feedbackType } = request.body;
      if (messageId !== undefined && !(await deps.store.messages.get(messageId))) {
        throw new SluiceError('ERR_VALIDATION', `messageId: no message has the id "${messageId}"`, {
          field: 'messageId',
        });
      }
      const result = await deps.store.complaints.record({
        email,
        ...(messageId !== undefined ? { messageId } : {}),
        source: request.body.source ?? 'api',
        ...(feedbackType !== undefined ? { feedbackType } : {}),
        at: deps.clock.now(),
      });
      deps.onWebhookEnqueued?.();
      return {
        email,
        suppressed: true,
        contactId: result.contactId ?? null,
        eventId: result.eventId,
      };
    },
  );
}
