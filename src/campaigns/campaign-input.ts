/**
 * From a campaign as a client writes it to a checked CampaignDefinition,
 * with every check that can be made before storing: addresses, header
 * injection, content (a template or inline Liquid, per variant), the
 * audience (lists and segment exist; an inline condition is valid), the
 * pool, the A/B settings, and in strict mode a render of every variant
 * against sample contacts of the audience and an empty contact, so that an
 * unknown variable is the sender's 422 now rather than thousands of
 * `failed` messages later. Errors name the field (`variants[1].subject`).
 *
 * Nothing here writes.
 */
import { assertHeaderValue, parseAddress, parseEmail } from '../core/address.js';
import {
  audienceCondition,
  MAX_VARIANTS,
  variantContent,
  type AbTest,
  type CampaignContent,
  type CampaignDefinition,
  type CampaignVariant,
  type WinnerMetric,
} from '../core/campaign.js';
import type { Clock } from '../core/clock.js';
import { SluiceError } from '../core/errors.js';
import type { Address, ContactSnapshot } from '../core/message.js';
import type { Contact, Store, Template } from '../core/ports/store.js';
import { parseSegmentCondition, type SegmentCondition } from '../core/segment.js';
import type { SluiceConfig } from '../config/config.js';
import { parseDuration } from '../config/units.js';
import { templateData } from '../render/data.js';
import type { TemplateEngine } from '../render/liquid.js';

type AddressValue = string | { email: string; name?: string };

export interface VariantInput {
  name: string;
  subject?: string;
  html?: string;
  text?: string;
  templateId?: string;
  from?: AddressValue;
}

export interface CampaignInput {
  name: string;
  from: AddressValue;
  replyTo?: AddressValue;
  subject?: string;
  html?: string;
  text?: string;
  templateId?: string;
  lists?: string[];
  segmentId?: string;
  segment?: unknown;
  pool?: string;
  variables?: Record<string, unknown>;
  variants?: VariantInput[];
  test?: { share: number; metric: WinnerMetric; window: string };
}

export interface InputDeps {
  store: Store;
  config: SluiceConfig;
  clock: Clock;
  templates: TemplateEngine;
}

/** Contacts of the audience rendered in strict mode when a campaign is saved. */
export const STRICT_SAMPLES = 5;
/** A test window longer than this would hold the rest of the audience for weeks. */
const MAX_TEST_WINDOW_MS = 7 * 86_400_000;

function invalid(field: string, message: string): SluiceError {
  return new SluiceError('ERR_VALIDATION', `${field}: ${message}`, { field });
}

function address(input: AddressValue, field: string): Address {
  return typeof input === 'string'
    ? { email: parseEmail(input, field) }
    : parseAddress(input, field);
}

function content(input: CampaignContent): CampaignContent {
  const out: CampaignContent = {};
  if (input.subject !== undefined) out.subject = input.subject;
  if (input.html !== undefined) out.html = input.html;
  if (input.text !== undefined) out.text = input.text;
  if (input.templateId !== undefined) out.templateId = input.templateId;
  return out;
}

/** Checks the input and the referenced lists, segment, templates and pool; strict-renders in strict mode. */
export async function prepareCampaign(
  input: CampaignInput,
  deps: InputDeps,
): Promise<CampaignDefinition> {
  const from = address(input.from, 'from');
  const replyTo = input.replyTo === undefined ? undefined : address(input.replyTo, 'replyTo');
  const variables = input.variables ?? {};
  if ('contact' in variables) {
    throw invalid('variables.contact', 'reserved: templates see the recipient under that name');
  }
  const base = content(input);
  const variants = (input.variants ?? []).map((v, i): CampaignVariant => {
    const variant: CampaignVariant = { name: v.name, ...content(v) };
    if (v.from !== undefined) variant.from = address(v.from, `variants[${i}].from`);
    return variant;
  });
  checkVariants(variants);
  const test = checkTest(input.test, variants.length);

  const audience = await checkAudience(input, deps.store);
  if (input.pool !== undefined && !deps.config.pools.some((p) => p.name === input.pool)) {
    const names = deps.config.pools.map((p) => p.name).join(', ');
    throw invalid('pool', `no pool is named "${input.pool}" (configured: ${names})`);
  }
  const definition: CampaignDefinition = {
    from,
    content: base,
    variables,
    audience: audience.audience,
    variants,
  };
  if (replyTo) definition.replyTo = replyTo;
  if (input.pool !== undefined) definition.pool = input.pool;
  if (test) definition.test = test;

  const parts = await contentParts(definition, deps);
  if (deps.config.templates.strict) {
    const samples = await deps.store.segments.preview(
      audienceCondition(definition.audience, audience.segment),
      deps.clock.now(),
      STRICT_SAMPLES,
    );
    renderAll(parts, variables, samples, deps.templates);
  }
  return definition;
}

function checkVariants(variants: CampaignVariant[]): void {
  if (variants.length === 1) {
    throw invalid('variants', 'give two or more variants (or none)');
  }
  if (variants.length > MAX_VARIANTS) {
    throw invalid('variants', `at most ${MAX_VARIANTS} variants`);
  }
  const names = new Set<string>();
  variants.forEach((v, i) => {
    if (names.has(v.name)) throw invalid(`variants[${i}].name`, `"${v.name}" is given twice`);
    names.add(v.name);
  });
}

function checkTest(input: CampaignInput['test'], variants: number): AbTest | undefined {
  if (input === undefined) return undefined;
  if (variants < 2) throw invalid('test', 'an A/B test needs two or more variants');
  if (!(input.share > 0 && input.share < 1)) {
    throw invalid('test.share', 'must be more than 0 and less than 1 (e.g. 0.2 for 20 %)');
  }
  let windowMs: number;
  try {
    windowMs = parseDuration(input.window);
  } catch {
    throw invalid('test.window', `"${input.window}" is not a duration such as "30m" or "4h"`);
  }
  if (windowMs <= 0 || windowMs > MAX_TEST_WINDOW_MS) {
    throw invalid('test.window', 'must be more than 0 and at most 7 days');
  }
  return { share: input.share, metric: input.metric, windowMs };
}

async function checkAudience(
  input: CampaignInput,
  store: Store,
): Promise<{ audience: CampaignDefinition['audience']; segment?: SegmentCondition }> {
  const listIds = input.lists ?? [];
  if (listIds.length === 0 && input.segmentId === undefined && input.segment === undefined) {
    throw invalid('lists', 'a campaign needs an audience: lists, segmentId or segment');
  }
  if (input.segmentId !== undefined && input.segment !== undefined) {
    throw invalid('segment', 'give segmentId or an inline segment, not both');
  }
  const seen = new Set<string>();
  for (const [i, id] of listIds.entries()) {
    if (seen.has(id)) throw invalid(`lists[${i}]`, `list "${id}" is given twice`);
    seen.add(id);
    if (!(await store.lists.get(id))) throw invalid(`lists[${i}]`, `no list has the id "${id}"`);
  }
  const audience: CampaignDefinition['audience'] = { listIds };
  let segment: SegmentCondition | undefined;
  if (input.segmentId !== undefined) {
    const stored = await store.segments.get(input.segmentId);
    if (!stored) throw invalid('segmentId', `no segment has the id "${input.segmentId}"`);
    audience.segmentId = input.segmentId;
    segment = stored.conditions;
  }
  if (input.segment !== undefined) {
    segment = parseSegmentCondition(input.segment, 'segment');
    audience.conditions = segment;
  }
  return segment ? { audience, segment } : { audience };
}

interface Part {
  variant: number;
  source: string;
  field: string;
}

/** Every variant's Liquid sources (syntax-checked), each with the field its errors name. */
async function contentParts(definition: CampaignDefinition, deps: InputDeps): Promise<Part[]> {
  const count = Math.max(1, definition.variants.length);
  const templateIds = new Set<string>();
  const parts: Part[] = [];
  for (let v = 0; v < count; v += 1) {
    const own = definition.variants[v];
    const effective = variantContent(definition, v);
    const prefix = (key: keyof CampaignContent) =>
      own?.[key] !== undefined ? `variants[${v}].${key}` : key;
    if (effective.templateId !== undefined) {
      if (
        effective.subject !== undefined ||
        effective.html !== undefined ||
        effective.text !== undefined
      ) {
        throw new SluiceError(
          'ERR_MESSAGE_CONTENT_MISSING',
          `${prefix('templateId')}: give either templateId or an inline subject with html or text, not both`,
          { field: prefix('templateId') },
        );
      }
      templateIds.add(effective.templateId);
      continue;
    }
    if (effective.subject === undefined) {
      const field = definition.variants.length > 0 ? `variants[${v}].subject` : 'subject';
      throw new SluiceError(
        'ERR_MESSAGE_CONTENT_MISSING',
        `${field}: a campaign needs a templateId, or a subject with html or text`,
        { field },
      );
    }
    if (effective.html === undefined && effective.text === undefined) {
      const field = definition.variants.length > 0 ? `variants[${v}].html` : 'html';
      throw new SluiceError(
        'ERR_MESSAGE_CONTENT_MISSING',
        `${field}: inline content needs html or text (or both) besides its subject`,
        { field },
      );
    }
    assertHeaderValue(effective.subject, prefix('subject'));
    for (const key of ['subject', 'html', 'text'] as const) {
      const source = effective[key];
      if (source === undefined) continue;
      const field = prefix(key);
      deps.templates.validate(source, field);
      parts.push({ variant: v, source, field });
    }
  }
  for (let v = 0; v < count; v += 1) {
    const id = variantContent(definition, v).templateId;
    if (id === undefined) continue;
    const template: Template | undefined = await deps.store.templates.get(id);
    const field =
      definition.variants[v]?.templateId !== undefined ? `variants[${v}].templateId` : 'templateId';
    if (!template) {
      throw new SluiceError('ERR_TEMPLATE_NOT_FOUND', `${field}: no template has the id "${id}"`, {
        field,
      });
    }
    parts.push({ variant: v, source: template.subject, field: `${field} (subject)` });
    if (template.html !== undefined)
      parts.push({ variant: v, source: template.html, field: `${field} (html)` });
    if (template.text !== undefined)
      parts.push({ variant: v, source: template.text, field: `${field} (text)` });
  }
  return parts;
}

/** Strict render of every part for each sample contact and for an empty one (no attributes). */
function renderAll(
  parts: Part[],
  variables: Record<string, unknown>,
  samples: Contact[],
  engine: TemplateEngine,
): void {
  const recipients: { email: string; contact?: ContactSnapshot }[] = [
    ...samples.map((c) => ({ email: c.email, contact: { id: c.id, attributes: c.attributes } })),
    { email: 'empty-contact@example.invalid' },
  ];
  for (const recipient of recipients) {
    const data = templateData(recipient.email, variables, recipient.contact);
    for (const part of parts) engine.render(part.source, data, part.field, true);
  }
}
