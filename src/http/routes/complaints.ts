/**
 * Spam complaints (docs/webhooks.md#complaints): a feedback loop or the
 * operator reports that a recipient marked mail as spam. One store
 * transaction suppresses the address (reason `complaint`), sets a contact
 * with that address to `complained`, and emits the `complained` webhook
 * event. Repeating it is harmless (the suppression is renewed, one more
 * event is sent).
 *
 *   POST /v1/complaints       JSON: the address (and message) complained about
 *   POST /v1/complaints/arf   an ARF report as received (Content-Type
 *                             message/rfc822), e.g. piped from the feedback
 *                             loop mailbox; core/arf.ts reads it
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { parseEmail } from '../../core/address.js';
import { readFeedbackReport } from '../../core/arf.js';
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

const ArfBody = Type.String({
  description: 'The feedback report message as received (RFC 5965 multipart/report).',
});

export function complaintRoutes(app: FastifyInstance, deps: AppDeps): void {
  /** Records it and answers the view; the caller checked the address. */
  const record = async (input: {
    email: string;
    messageId?: string;
    source: string;
    feedbackType?: string;
  }): Promise<Static<typeof View>> => {
    const result = await deps.store.complaints.record({ ...input, at: deps.clock.now() });
    deps.onWebhookEnqueued?.();
    // Counted by sluice_complaints_total and the complaint-rate alert (docs/alerts.md).
    deps.events.emit('message:complained', {
      email: input.email,
      ...(input.messageId !== undefined ? { id: input.messageId } : {}),
    });
    return {
      email: input.email,
      suppressed: true,
      contactId: result.contactId ?? null,
      eventId: result.eventId,
    };
  };

  // Its own scope, so that message/rfc822 bodies are read only here.
  void app.register((scope, _options, done) => {
    scope.addContentTypeParser(
      'message/rfc822',
      { parseAs: 'string', bodyLimit: deps.config.http.bodyLimit },
      (_request, body, parsed) => parsed(null, body),
    );
    scope.post<{ Body: string }>(
      '/complaints/arf',
      {
        schema: {
          summary: 'Record a complaint from an ARF feedback report',
          description:
            'Body: the report as received, `Content-Type: message/rfc822`. The recipient is its Original-Rcpt-To (or Removal-Recipient), else the recipient of the Sluice message named by the original Message-ID. Then as `POST /v1/complaints` (source `arf`).',
          tags: ['suppressions'],
          consumes: ['message/rfc822'],
          body: ArfBody,
          response: withErrors({ 200: View }),
        },
      },
      async (request) => {
        const report = readFeedbackReport(request.body);
        if (!report) {
          throw new SluiceError(
            'ERR_COMPLAINT_REPORT',
            'body: not an ARF feedback report (no message/feedback-report part)',
            { field: 'body' },
          );
        }
        const message = report.messageId
          ? await deps.store.messages.get(report.messageId)
          : undefined;
        const recipient = report.recipient ?? message?.to.email;
        if (!recipient) {
          throw new SluiceError(
            'ERR_COMPLAINT_REPORT',
            'body: the report names no recipient and no message Sluice sent',
            { field: 'body' },
          );
        }
        return record({
          email: parseEmail(recipient, 'Original-Rcpt-To'),
          ...(message ? { messageId: message.id } : {}),
          source: 'arf',
          ...(report.feedbackType ? { feedbackType: report.feedbackType } : {}),
        });
      },
    );
    done();
  });

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
      return record({
        email,
        ...(messageId !== undefined ? { messageId } : {}),
        source: request.body.source ?? 'api',
        ...(feedbackType !== undefined ? { feedbackType } : {}),
      });
    },
  );
}
