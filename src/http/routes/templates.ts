/**
 * Stored Liquid templates. Every part is parsed on save, so a syntax error
 * is the author's 422 (with line and column) and never a failed send.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { assertHeaderValue } from '../../core/address.js';
import { SluiceError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { Template } from '../../core/ports/store.js';
import type { TemplateEngine } from '../../render/liquid.js';
import type { AppDeps } from '../app.js';
import {
  DEFAULT_PAGE_SIZE,
  IdParams,
  IsoTime,
  NoContent,
  Page,
  PageQuery,
  iso,
  pageView,
  withErrors,
  type IdParamsValue,
  type PageQueryValue,
} from '../schemas.js';

const TAGS = ['templates'];

const Name = Type.String({ minLength: 1, maxLength: 200, description: 'Unique.' });
const Subject = Type.String({ minLength: 1, description: 'Liquid; no line breaks.' });
const Body = Type.String({ description: 'Liquid.' });

const CreateTemplateBody = Type.Object(
  { name: Name, subject: Subject, html: Type.Optional(Body), text: Type.Optional(Body) },
  { additionalProperties: false },
);

const PatchTemplateBody = Type.Object(
  {
    name: Type.Optional(Name),
    subject: Type.Optional(Subject),
    html: Type.Optional(Type.Union([Body, Type.Null()], { description: 'null removes the part.' })),
    text: Type.Optional(Type.Union([Body, Type.Null()], { description: 'null removes the part.' })),
  },
  { additionalProperties: false, minProperties: 1 },
);

const TemplateView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  subject: Type.String(),
  html: Type.Union([Type.String(), Type.Null()]),
  text: Type.Union([Type.String(), Type.Null()]),
  createdAt: IsoTime,
  updatedAt: IsoTime,
});

function templateView(template: Template): Static<typeof TemplateView> {
  return {
    id: template.id,
    name: template.name,
    subject: template.subject,
    html: template.html ?? null,
    text: template.text ?? null,
    createdAt: iso(template.createdAt),
    updatedAt: iso(template.updatedAt),
  };
}

/** The checks a template passes whole: after a create, or after a patch is applied. */
function checkTemplate(
  engine: TemplateEngine,
  parts: { subject: string; html?: string | null; text?: string | null },
): void {
  assertHeaderValue(parts.subject, 'subject');
  if ((parts.html ?? undefined) === undefined && (parts.text ?? undefined) === undefined) {
    throw new SluiceError('ERR_VALIDATION', 'A template needs html or text (or both).', {
      field: 'html',
    });
  }
  engine.validate(parts.subject, 'subject');
  if (typeof parts.html === 'string') engine.validate(parts.html, 'html');
  if (typeof parts.text === 'string') engine.validate(parts.text, 'text');
}

export function templateRoutes(app: FastifyInstance, deps: AppDeps): void {
  const { store } = deps;
  const notFound = (id: string) =>
    new SluiceError('ERR_NOT_FOUND', `No template has the id "${id}".`);

  app.post<{ Body: Static<typeof CreateTemplateBody> }>(
    '/templates',
    {
      schema: {
        summary: 'Create a template',
        description:
          'Every part is parsed as Liquid; a syntax error is a 422 with line and column.',
        tags: TAGS,
        body: CreateTemplateBody,
        response: withErrors({ 201: TemplateView }),
      },
    },
    async (request, reply) => {
      const { name, subject, html, text } = request.body;
      checkTemplate(deps.templates, { subject, html, text });
      const at = deps.clock.now();
      const template = await store.templates.create({
        id: newId('template'),
        name,
        subject,
        ...(html !== undefined ? { html } : {}),
        ...(text !== undefined ? { text } : {}),
        createdAt: at,
        updatedAt: at,
      });
      return reply.status(201).send(templateView(template));
    },
  );

  app.get<{ Querystring: PageQueryValue }>(
    '/templates',
    {
      schema: {
        summary: 'List templates',
        tags: TAGS,
        querystring: PageQuery,
        response: withErrors({ 200: Page(TemplateView) }),
      },
    },
    async (request) => {
      const { limit = DEFAULT_PAGE_SIZE, after } = request.query;
      const page = await store.templates.list({ limit, ...(after ? { after } : {}) });
      return pageView(page, templateView);
    },
  );

  app.get<{ Params: IdParamsValue }>(
    '/templates/:id',
    {
      schema: {
        summary: 'Get a template',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 200: TemplateView }),
      },
    },
    async (request) => {
      const template = await store.templates.get(request.params.id);
      if (!template) throw notFound(request.params.id);
      return templateView(template);
    },
  );

  app.patch<{ Params: IdParamsValue; Body: Static<typeof PatchTemplateBody> }>(
    '/templates/:id',
    {
      schema: {
        summary: 'Change a template',
        description:
          'Only the given fields change; `html` or `text` set to null removes that part.',
        tags: TAGS,
        params: IdParams,
        body: PatchTemplateBody,
        response: withErrors({ 200: TemplateView }),
      },
    },
    async (request) => {
      const current = await store.templates.get(request.params.id);
      if (!current) throw notFound(request.params.id);
      const patch = request.body;
      checkTemplate(deps.templates, {
        subject: patch.subject ?? current.subject,
        html: patch.html === undefined ? current.html : patch.html,
        text: patch.text === undefined ? current.text : patch.text,
      });
      const updated = await store.templates.update(request.params.id, {
        ...patch,
        at: deps.clock.now(),
      });
      if (!updated) throw notFound(request.params.id);
      return templateView(updated);
    },
  );

  app.delete<{ Params: IdParamsValue }>(
    '/templates/:id',
    {
      schema: {
        summary: 'Delete a template',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 204: NoContent }),
      },
    },
    async (request, reply) => {
      if (!(await store.templates.delete(request.params.id))) throw notFound(request.params.id);
      return reply.status(204).send();
    },
  );
}
