/**
 * The recipient-facing endpoints (docs/tracking.md), unauthenticated and
 * outside /v1: recipients' mail clients reach them through the links the
 * worker wrote (render/tracking.ts).
 *
 *   GET  /t/o/:token   the open pixel; records an open
 *   GET  /t/c/:token   302 to the link's target (from the token, covered by its MAC); records a click
 *   GET  /t/u/:token   a confirmation page with a form; changes nothing, because
 *                      mail scanners and link previews fetch every link of a message
 *   POST /t/u/:token   unsubscribes (RFC 8058 one-click: no cookie, no login)
 *
 * A token that does not verify, or names a message Sluice does not have,
 * gets 404 ERR_NOT_FOUND and never a Location header. Unsubscribing adds the
 * recipient to the suppression list (reason `unsubscribed`, which the
 * worker's suppression check then applies to every later message) and sets
 * an active contact with that address to `unsubscribed`; repeating it is harmless.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { SluiceError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { StoredMessage } from '../../core/message.js';
import type { EngagementKind } from '../../core/ports/store.js';
import { verifyToken, type TrackingClaim, type TokenKind } from '../../core/tracking-token.js';
import type { AppDeps } from '../app.js';
import { withErrors } from '../schemas.js';

const TAGS = ['tracking'];
/** Tokens carry a whole click target; 8 KB covers any URL a mail client keeps. */
export const MAX_TOKEN_LENGTH = 8192;
const Params = Type.Object({ token: Type.String({ minLength: 1, maxLength: MAX_TOKEN_LENGTH }) });
/** A transparent 1×1 GIF. */
const Html = Type.String({ description: 'An HTML page.' });
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
  'Referrer-Policy': 'no-referrer',
  'X-Robots-Tag': 'noindex',
};

export function trackingRoutes(app: FastifyInstance, deps: AppDeps): void {
  // One-click bodies are form-encoded (or multipart, RFC 8058 allows both);
  // the POST itself is the request, so the body is read and not interpreted.
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 4096 }, (_request, body, done) =>
    done(null, body),
  );

  /** The verified claim of `kind` and its message, or ERR_NOT_FOUND. */
  const resolve = async (
    token: string,
    kind: TokenKind,
  ): Promise<{ claim: TrackingClaim; message: StoredMessage }> => {
    const secret = deps.config.tracking?.secret;
    const claim = secret ? verifyToken(secret, token) : undefined;
    const message =
      claim?.kind === kind ? await deps.store.messages.get(claim.messageId) : undefined;
    if (!claim || !message) throw new SluiceError('ERR_NOT_FOUND', 'no such link');
    return { claim, message };
  };

  const record = async (message: StoredMessage, kind: EngagementKind, url?: string) => {
    const email = message.to.email.toLowerCase();
    const contact = await deps.store.contacts.getByEmail(email);
    await deps.store.engagement.record({
      id: newId('engagement'),
      kind,
      messageId: message.id,
      email,
      ...(contact ? { contactId: contact.id } : {}),
      ...(url !== undefined ? { url } : {}),
      at: deps.clock.now(),
    });
    return contact;
  };

  /** Opens and clicks are statistics: a failed write is logged, the recipient still gets the pixel or the page. */
  const recordQuietly = async (message: StoredMessage, kind: EngagementKind, url?: string) => {
    try {
      await record(message, kind, url);
    } catch (error) {
      app.log.error({ err: error, id: message.id, kind }, 'recording engagement failed');
    }
  };

  app.get<{ Params: Static<typeof Params> }>(
    '/t/o/:token',
    {
      schema: {
        summary: 'Open pixel',
        description: 'A 1×1 GIF; records an open. 404 for a token that does not verify.',
        tags: TAGS,
        security: [],
        params: Params,
        response: withErrors({ 200: Type.String({ description: 'A 1×1 GIF.' }) }),
      },
    },
    async (request, reply) => {
      const { message } = await resolve(request.params.token, 'o');
      await recordQuietly(message, 'open');
      return reply
        .header('Content-Type', 'image/gif')
        .header('Cache-Control', 'no-store, max-age=0')
        .send(PIXEL);
    },
  );

  app.get<{ Params: Static<typeof Params> }>(
    '/t/c/:token',
    {
      schema: {
        summary: 'Click redirect',
        description:
          "302 to the link's original target, which the token carries under its MAC; records a click. 404 (no Location) for a token that does not verify.",
        tags: TAGS,
        security: [],
        params: Params,
        response: withErrors({ 302: Type.Null({ description: 'To the original URL.' }) }),
      },
    },
    async (request, reply) => {
      const { claim, message } = await resolve(request.params.token, 'c');
      if (claim.kind !== 'c') throw new SluiceError('ERR_NOT_FOUND', 'no such link');
      await recordQuietly(message, 'click', claim.url);
      return reply
        .header('Cache-Control', 'no-store')
        .header('Referrer-Policy', 'no-referrer')
        .redirect(claim.url, 302);
    },
  );

  app.get<{ Params: Static<typeof Params> }>(
    '/t/u/:token',
    {
      schema: {
        summary: 'Unsubscribe page',
        description:
          'An HTML page with a button that POSTs to the same URL. It changes nothing by itself: mail scanners fetch links.',
        tags: TAGS,
        security: [],
        params: Params,
        response: withErrors({ 200: Html }),
      },
    },
    async (request, reply) => {
      const { message } = await resolve(request.params.token, 'u');
      const action = escapeHtml(request.params.token);
      return page(
        reply,
        'Unsubscribe',
        `<p>Stop receiving mail from ${escapeHtml(message.from.email)} at this address?</p>
<form method="post" action="${action}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>`,
      );
    },
  );

  app.post<{ Params: Static<typeof Params> }>(
    '/t/u/:token',
    {
      schema: {
        summary: 'One-click unsubscribe (RFC 8058)',
        description:
          'Body `List-Unsubscribe=One-Click` (form-encoded); no cookie or login. Suppresses the recipient (reason `unsubscribed`) and sets the contact to `unsubscribed`; 200 with a short HTML page. Repeating it is harmless.',
        tags: TAGS,
        security: [],
        params: Params,
        response: withErrors({ 200: Html }),
      },
    },
    async (request, reply) => {
      const { message } = await resolve(request.params.token, 'u');
      const at = deps.clock.now();
      await deps.store.suppressions.add({
        email: message.to.email,
        reason: 'unsubscribed',
        sourceMessageId: message.id,
        at,
      });
      const contact = await record(message, 'unsubscribe');
      if (contact?.status === 'active') {
        await deps.store.contacts.upsert({
          id: contact.id,
          email: contact.email,
          status: 'unsubscribed',
          at,
        });
      }
      return page(
        reply,
        'Unsubscribed',
        '<p>You are unsubscribed. You will get no more mail from this sender.</p>',
      );
    },
  );
}

function page(reply: FastifyReply, title: string, body: string): FastifyReply {
  return reply
    .headers(PAGE_HEADERS)
    .send(
      `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${title}</title></head>\n<body style="font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em">\n<h1>${title}</h1>\n${body}\n</body></html>\n`,
    );
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
