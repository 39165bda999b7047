/**
 * From a claimed message to the bytes sent after DATA: render its Liquid
 * sources (the message's own, or its template's) with the recipient's data,
 * then build the MIME message (a lean builder for the common shape,
 * nodemailer's MailComposer for the rest).
 *
 * Header injection: every header value that rendering can influence is a
 * single line by construction. The rendered subject has its line breaks
 * folded to spaces here; names, Reply-To and custom headers were checked for
 * CR/LF when the message was accepted and are folded again here, because a
 * message row is data and this is where it becomes protocol. MailComposer
 * then encodes non-ASCII values (RFC 2047) and folds long lines itself.
 */
import MailComposer from 'nodemailer/lib/mail-composer';
import { SluiceError } from '../core/errors.js';
import type { ClaimedMessage } from '../core/message.js';
import type { Template } from '../core/ports/store.js';
import { templateData } from './data.js';
import type { TemplateEngine } from './liquid.js';
import { buildLeanMime, type MimeInput } from './mime-builder.js';

export interface RenderedContent {
  subject: string;
  html?: string;
  text?: string;
}

/**
 * Renders a message's subject, HTML and text. `template` is the message's
 * template when it has a `templateId`; `variables` replace the message's own
 * (a campaign message's, merged over its campaign's). Lenient or strict as
 * the engine is configured. Throws SluiceError (ERR_TEMPLATE_NOT_FOUND,
 * ERR_TEMPLATE_SYNTAX, ERR_TEMPLATE_RENDER); the caller turns that into a
 * `failed` outcome.
 */
export function renderContent(
  engine: TemplateEngine,
  message: ClaimedMessage,
  template?: Template,
  variables: Record<string, unknown> = message.variables,
): RenderedContent {
  // A campaign message without a template of its own renders its campaign's sources (`template`).
  const source = message.templateId ? template : (template ?? message);
  if (!source) throw templateNotFound(message.templateId ?? '');
  const data = templateData(message.to.email, variables, message.contact);
  const content: RenderedContent = {
    subject: singleLine(engine.render(source.subject ?? '', data, 'subject')),
  };
  if (source.html !== undefined) content.html = engine.render(source.html, data, 'html');
  if (source.text !== undefined) content.text = engine.render(source.text, data, 'text');
  return content;
}

/** The error of a message whose `templateId` names no template. */
export function templateNotFound(templateId: string): SluiceError {
  return new SluiceError('ERR_TEMPLATE_NOT_FOUND', `templateId: no template "${templateId}"`, {
    field: 'templateId',
  });
}

/**
 * Headers that Sluice writes itself: a custom header of the same name is
 * dropped so that a message cannot forge its own Message-ID, recipients or
 * MIME structure. (The HTTP layer should reject them up front; this is the
 * last line.)
 */
const RESERVED_HEADERS = new Set([
  'from',
  'sender',
  'to',
  'cc',
  'bcc',
  'reply-to',
  'subject',
  'date',
  'message-id',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'return-path',
  'dkim-signature',
]);

/** RFC 5322 field name: printable ASCII except colon. */
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;

/**
 * Builds the RFC 5322 message; multipart/alternative when it has both HTML
 * and text. The lean builder (mime-builder.ts) takes the common shape, 6–13×
 * faster than MailComposer (bench/mime.ts); MailComposer takes the rest
 * (non-ASCII addresses). Both parse the same with mailparser (tested).
 */
export async function buildMime(
  message: ClaimedMessage,
  content: RenderedContent,
  date: Date,
  added: [string, string][] = [],
): Promise<Buffer> {
  // Headers Sluice adds (List-Unsubscribe, tracking.ts) replace custom ones of the same name.
  const addedNames = new Set(added.map(([name]) => name.toLowerCase()));
  const headers: [string, string][] = [];
  for (const [name, value] of Object.entries(message.headers)) {
    const lower = name.toLowerCase();
    if (!FIELD_NAME.test(name) || RESERVED_HEADERS.has(lower) || addedNames.has(lower)) continue;
    headers.push([name, singleLine(value)]);
  }
  headers.push(...added);
  const from = { email: message.from.email, name: displayName(message.from) };
  const to = { email: message.to.email, name: displayName(message.to) };
  const replyTo = message.replyTo
    ? { email: message.replyTo.email, name: displayName(message.replyTo) }
    : undefined;
  const input: MimeInput = {
    from,
    to,
    ...(replyTo ? { replyTo } : {}),
    subject: singleLine(content.subject),
    messageId: message.messageId,
    date,
    headers,
    ...(content.text !== undefined ? { text: content.text } : {}),
    ...(content.html !== undefined ? { html: content.html } : {}),
  };
  return buildLeanMime(input) ?? composeWithMailComposer(input);
}

/**
 * The same input through nodemailer's MailComposer: the path for the shapes
 * the lean builder declines, and the reference it is tested and measured
 * against (mime-builder.test.ts, bench/mime.ts).
 */
export function composeWithMailComposer(input: MimeInput): Promise<Buffer> {
  return new MailComposer({
    from: mailbox(input.from),
    to: mailbox(input.to),
    ...(input.replyTo ? { replyTo: mailbox(input.replyTo) } : {}),
    subject: input.subject,
    messageId: `<${input.messageId}>`,
    date: input.date,
    headers: Object.fromEntries(input.headers),
    ...(input.text !== undefined ? { text: input.text } : {}),
    ...(input.html !== undefined ? { html: input.html } : {}),
    // Content is always given inline; never let a string be read as a path or URL.
    disableFileAccess: true,
    disableUrlAccess: true,
    newline: 'win',
  })
    .compile()
    .build();
}

function displayName(address: { name?: string }): string {
  return address.name ? singleLine(address.name) : '';
}

function mailbox(address: { email: string; name?: string }): { address: string; name: string } {
  return { address: address.email, name: address.name ?? '' };
}
/** Folds CR/LF runs (and the whitespace around them) into one space. */
export function singleLine(value: string): string {
  return value.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
