/**
 * A campaign rendered for a few contacts, every variant, as the worker will
 * render it (strict or lenient as configured): what the recipient sees,
 * before anything is sent. A contact whose render fails gets the error
 * instead, so one bad attribute does not hide the others' previews.
 */
import {
  audienceCondition,
  variantContent,
  variantCount,
  type Campaign,
} from '../core/campaign.js';
import type { Clock } from '../core/clock.js';
import { isSluiceError, SluiceError } from '../core/errors.js';
import type { Contact, Store } from '../core/ports/store.js';
import { templateData } from '../render/data.js';
import type { TemplateEngine } from '../render/liquid.js';

export interface PreviewItem {
  contact: { id?: string; email: string };
  variant: number;
  subject?: string;
  html?: string;
  text?: string;
  error?: { code: string; message: string; field?: string };
}

export interface PreviewDeps {
  store: Store;
  clock: Clock;
  templates: TemplateEngine;
}

async function contactsFor(
  campaign: Campaign,
  deps: PreviewDeps,
  options: { contactIds?: string[]; limit: number },
): Promise<Contact[]> {
  if (options.contactIds) {
    const contacts: Contact[] = [];
    for (const [i, id] of options.contactIds.entries()) {
      const contact = await deps.store.contacts.get(id);
      if (!contact) {
        throw new SluiceError('ERR_VALIDATION', `contactIds[${i}]: no contact has the id "${id}"`, {
          field: `contactIds[${i}]`,
        });
      }
      contacts.push(contact);
    }
    return contacts;
  }
  const { segmentId, conditions } = campaign.audience;
  const segment =
    conditions ??
    (segmentId === undefined ? undefined : (await deps.store.segments.get(segmentId))?.conditions);
  return deps.store.segments.preview(
    audienceCondition(campaign.audience, segment),
    deps.clock.now(),
    options.limit,
  );
}

export async function renderPreview(
  campaign: Campaign,
  deps: PreviewDeps,
  options: { contactIds?: string[]; limit: number },
): Promise<PreviewItem[]> {
  const contacts = await contactsFor(campaign, deps, options);
  const items: PreviewItem[] = [];
  for (const contact of contacts) {
    for (let variant = 0; variant < variantCount(campaign); variant += 1) {
      const item: PreviewItem = { contact: { id: contact.id, email: contact.email }, variant };
      try {
        const content = variantContent(campaign, variant);
        const source = content.templateId
          ? await deps.store.templates.get(content.templateId)
          : content;
        if (!source) {
          throw new SluiceError(
            'ERR_TEMPLATE_NOT_FOUND',
            `templateId: no template "${content.templateId ?? ''}"`,
            { field: 'templateId' },
          );
        }
        const data = templateData(contact.email, campaign.variables, {
          id: contact.id,
          attributes: contact.attributes,
        });
        item.subject = deps.templates.render(source.subject ?? '', data, 'subject');
        if (source.html !== undefined) item.html = deps.templates.render(source.html, data, 'html');
        if (source.text !== undefined) item.text = deps.templates.render(source.text, data, 'text');
      } catch (error) {
        if (!isSluiceError(error)) throw error;
        delete item.subject;
        delete item.html;
        delete item.text;
        item.error = {
          code: error.code,
          message: error.message,
          ...(error.details.field !== undefined ? { field: error.details.field } : {}),
        };
      }
      items.push(item);
    }
  }
  return items;
}
