/**
 * From a POST /v1/messages body to a NewMessage ready to be stored, with
 * every check that can be made before accepting: addresses, header
 * injection, custom headers, the content (a template or inline Liquid), and
 * in strict mode one render of every part so that a missing variable is the
 * sender's 422 now rather than a `failed` message later.
 *
 * Nothing here writes: the route stores the message only when this returns.
 */
import { assertHeaderValue, domainOf, parseAddress, parseEmail } from '../core/address.js';
import type { Clock } from '../core/clock.js';
import { SluiceError } from '../core/errors.js';
import { newId, newMessageId } from '../core/ids.js';
import type { Address, ContactSnapshot, NewMessage, Stream } from '../core/message.js';
import type { Store } from '../core/ports/store.js';
import type { SluiceConfig } from '../config/config.js';
import { templateData } from '../render/data.js';
import type { TemplateEngine } from '../render/liquid.js';
import type { AddressInputValue } from './schemas.js';

export interface MessageInput {
  to: AddressInputValue;
  from: AddressInputValue;
  replyTo?: AddressInputValue;
  templateId?: string;
  subject?: string;
  html?: string;
  text?: string;
  variables?: Record<string, unknown>;
  headers?: Record<string, string>;
  stream?: Stream;
}

export interface IntakeDeps {
  store: Store;
  config: SluiceConfig;
  clock: Clock;
  templates: TemplateEngine;
}

/** RFC 5322 field name: printable ASCII except the colon. */
const HEADER_NAME = /^[\x21-\x39\x3B-\x7E]+$/;

/**
 * Headers Sluice writes itself from the message fields or the MIME
 * structure: a custom header must not replace or duplicate them.
 */
const STRUCTURAL_HEADERS = new Set([
  'from',
  'to',
  'cc',
  'bcc',
  'reply-to',
  'sender',
  'subject',
  'message-id',
  'date',
  'mime-version',
  'return-path',
  'dkim-signature',
]);

export async function prepareMessage(input: MessageInput, deps: IntakeDeps): Promise<NewMessage> {
  const content = checkContent(input);
  const to = address(input.to, 'to');
  const from = address(input.from, 'from');
  const replyTo = input.replyTo === undefined ? undefined : address(input.replyTo, 'replyTo');
  const headers = checkHeaders(input.headers ?? {});
  const variables = input.variables ?? {};
  if ('contact' in variables) {
    throw new SluiceError(
      'ERR_VALIDATION',
      'variables.contact is reserved: templates see the recipient contact under that name.',
      { field: 'variables.contact' },
    );
  }

  const parts = await templateParts(content, deps);
  if (deps.config.templates.strict) {
    await renderOnce(parts, to.email, variables, deps);
  }

  const id = newId('message');
  const createdAt = deps.clock.now();
  return {
    id,
    stream: input.stream ?? 'transactional',
    from,
    to,
    ...(replyTo ? { replyTo } : {}),
    ...(content.kind === 'template'
      ? { templateId: content.templateId }
      : {
          subject: content.subject,
          ...(content.html !== undefined ? { html: content.html } : {}),
          ...(content.text !== undefined ? { text: content.text } : {}),
        }),
    variables,
    headers,
    messageId: newMessageId(id, deps.config.delivery.messageIdDomain ?? domainOf(from.email)),
    createdAt,
    expiresAt: createdAt + deps.config.delivery.retry.maxAgeMs,
  };
}

type Content =
  | { kind: 'template'; templateId: string }
  | { kind: 'inline'; subject: string; html?: string; text?: string };

function checkContent(input: MessageInput): Content {
  const inline =
    input.subject !== undefined || input.html !== undefined || input.text !== undefined;
  if (input.templateId !== undefined) {
    if (inline) {
      throw new SluiceError(
        'ERR_MESSAGE_CONTENT_MISSING',
        'Give either templateId or an inline subject with html or text, not both.',
        { field: 'templateId' },
      );
    }
    return { kind: 'template', templateId: input.templateId };
  }
  if (input.subject === undefined) {
    throw new SluiceError(
      'ERR_MESSAGE_CONTENT_MISSING',
      'A message needs a templateId, or a subject with html or text.',
      { field: 'subject' },
    );
  }
  if (input.html === undefined && input.text === undefined) {
    throw new SluiceError(
      'ERR_MESSAGE_CONTENT_MISSING',
      'An inline message needs html or text (or both) besides its subject.',
      { field: 'html' },
    );
  }
  assertHeaderValue(input.subject, 'subject');
  return {
    kind: 'inline',
    subject: input.subject,
    ...(input.html !== undefined ? { html: input.html } : {}),
    ...(input.text !== undefined ? { text: input.text } : {}),
  };
}

function address(input: AddressInputValue, field: string): Address {
  if (typeof input === 'string') return { email: parseEmail(input, field) };
  return parseAddress(input, field);
}

function checkHeaders(headers: Record<string, string>): Record<string, string> {
  const seen = new Set<string>();
  for (const [name, value] of Object.entries(headers)) {
    const field = `headers.${name}`;
    if (!HEADER_NAME.test(name)) {
      throw new SluiceError(
        'ERR_VALIDATION',
        `${field}: a header name is printable ASCII without spaces or colons.`,
        { field },
      );
    }
    const lower = name.toLowerCase();
    if (STRUCTURAL_HEADERS.has(lower) || lower.startsWith('content-')) {
      throw new SluiceError(
        'ERR_VALIDATION',
        `${field}: Sluice sets this header itself; use the message fields instead.`,
        { field },
      );
    }
    if (seen.has(lower)) {
      throw new SluiceError('ERR_VALIDATION', `${field}: the header is given twice.`, { field });
    }
    seen.add(lower);
    assertHeaderValue(value, field);
  }
  return headers;
}

interface Part {
  source: string;
  field: string;
}

/** The Liquid sources of the message, syntax-checked, each with the field named in errors. */
async function templateParts(content: Content, deps: IntakeDeps): Promise<Part[]> {
  if (content.kind === 'template') {
    const template = await deps.store.templates.get(content.templateId);
    if (!template) {
      throw new SluiceError(
        'ERR_TEMPLATE_NOT_FOUND',
        `templateId: no template has the id "${content.templateId}".`,
        { field: 'templateId' },
      );
    }
    // Stored templates were validated on save.
    return [
      { source: template.subject, field: 'template.subject' },
      ...(template.html !== undefined ? [{ source: template.html, field: 'template.html' }] : []),
      ...(template.text !== undefined ? [{ source: template.text, field: 'template.text' }] : []),
    ];
  }
  const parts: Part[] = [{ source: content.subject, field: 'subject' }];
  if (content.html !== undefined) parts.push({ source: content.html, field: 'html' });
  if (content.text !== undefined) parts.push({ source: content.text, field: 'text' });
  for (const part of parts) deps.templates.validate(part.source, part.field);
  return parts;
}

async function renderOnce(
  parts: Part[],
  toEmail: string,
  variables: Record<string, unknown>,
  deps: IntakeDeps,
): Promise<void> {
  const contact = await deps.store.contacts.getByEmail(toEmail);
  const snapshot: ContactSnapshot | undefined = contact
    ? { id: contact.id, attributes: contact.attributes }
    : undefined;
  const data = templateData(toEmail, variables, snapshot);
  // The rendered output is dropped: delivery renders again at send time (and
  // folds line breaks a variable put into the subject).
  for (const part of parts) deps.templates.render(part.source, data, part.field, true);
}
