/**
 * Segments: stored conditions over contacts (docs/segments.md), their
 * count and a preview, and an ad-hoc count for a condition not yet saved.
 * Conditions arrive as plain JSON and are checked by the language's own
 * validator (core/segment.ts), which names the offending path; the JSON
 * schema here only bounds the body.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { SluiceError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { Segment } from '../../core/ports/store.js';
import { parseSegmentCondition, type SegmentCondition } from '../../core/segment.js';
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
import { ContactView, contactView } from './contacts.js';

const TAGS = ['segments'];

/** A preview is for a person looking at a sample, not an export: 100 is plenty. */
export const MAX_PREVIEW = 100;
const DEFAULT_PREVIEW = 10;

const Name = Type.String({ minLength: 1, maxLength: 200 });
const Conditions = Type.Unknown({
  description: 'A condition of the segment language (docs/segments.md).',
});

const CreateBody = Type.Object(
  { name: Name, conditions: Conditions },
  { additionalProperties: false },
);

const PatchBody = Type.Object(
  { name: Type.Optional(Name), conditions: Type.Optional(Conditions) },
  { additionalProperties: false, minProperties: 1 },
);

const AdHocBody = Type.Object(
  {
    conditions: Conditions,
    limit: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_PREVIEW })),
  },
  { additionalProperties: false },
);

const PreviewQuery = Type.Object(
  {
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: MAX_PREVIEW, default: DEFAULT_PREVIEW }),
    ),
  },
  { additionalProperties: false },
);

const SegmentView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  conditions: Conditions,
  createdAt: IsoTime,
  updatedAt: IsoTime,
});

const CountView = Type.Object({ count: Type.Integer() });
const PreviewView = Type.Object({ count: Type.Integer(), items: Type.Array(ContactView) });

function segmentView(segment: Segment): Static<typeof SegmentView> {
  return {
    id: segment.id,
    name: segment.name,
    conditions: segment.conditions,
    createdAt: iso(segment.createdAt),
    updatedAt: iso(segment.updatedAt),
  };
}

function notFound(id: string): SluiceError {
  return new SluiceError('ERR_NOT_FOUND', `No segment has the id "${id}".`);
}

export function segmentRoutes(app: FastifyInstance, deps: AppDeps): void {
  const { store, clock } = deps;

  async function existing(id: string): Promise<Segment> {
    const segment = await store.segments.get(id);
    if (!segment) throw notFound(id);
    return segment;
  }

  async function preview(
    conditions: SegmentCondition,
    limit: number,
  ): Promise<Static<typeof PreviewView>> {
    const now = clock.now();
    const [count, contacts] = await Promise.all([
      store.segments.count(conditions, now),
      limit > 0 ? store.segments.preview(conditions, now, limit) : Promise.resolve([]),
    ]);
    return { count, items: contacts.map(contactView) };
  }

  app.post<{ Body: Static<typeof CreateBody> }>(
    '/segments',
    {
      schema: {
        summary: 'Create a segment',
        tags: TAGS,
        body: CreateBody,
        response: withErrors({ 201: SegmentView }),
      },
    },
    async (request, reply) => {
      const conditions = parseSegmentCondition(request.body.conditions);
      const at = clock.now();
      const segment = await store.segments.create({
        id: newId('segment'),
        name: request.body.name,
        conditions,
        createdAt: at,
        updatedAt: at,
      });
      return reply.status(201).send(segmentView(segment));
    },
  );

  app.post<{ Body: Static<typeof AdHocBody> }>(
    '/segments/count',
    {
      schema: {
        summary: 'Count and preview an unsaved condition',
        description: `The number of matching contacts and the first \`limit\` of them by id (default ${DEFAULT_PREVIEW}, 0 for none).`,
        tags: TAGS,
        body: AdHocBody,
        response: withErrors({ 200: PreviewView }),
      },
    },
    async (request) =>
      preview(
        parseSegmentCondition(request.body.conditions),
        request.body.limit ?? DEFAULT_PREVIEW,
      ),
  );

  app.get<{ Querystring: PageQueryValue }>(
    '/segments',
    {
      schema: {
        summary: 'List segments',
        tags: TAGS,
        querystring: PageQuery,
        response: withErrors({ 200: Page(SegmentView) }),
      },
    },
    async (request) => {
      const { limit = DEFAULT_PAGE_SIZE, after } = request.query;
      return pageView(
        await store.segments.list({ limit, ...(after ? { after } : {}) }),
        segmentView,
      );
    },
  );

  app.get<{ Params: IdParamsValue }>(
    '/segments/:id',
    {
      schema: {
        summary: 'Get a segment',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 200: SegmentView }),
      },
    },
    async (request) => segmentView(await existing(request.params.id)),
  );

  app.patch<{ Params: IdParamsValue; Body: Static<typeof PatchBody> }>(
    '/segments/:id',
    {
      schema: {
        summary: 'Rename a segment or change its condition',
        tags: TAGS,
        params: IdParams,
        body: PatchBody,
        response: withErrors({ 200: SegmentView }),
      },
    },
    async (request) => {
      const { name } = request.body;
      const conditions =
        request.body.conditions === undefined
          ? undefined
          : parseSegmentCondition(request.body.conditions);
      const segment = await store.segments.update(request.params.id, {
        ...(name !== undefined ? { name } : {}),
        ...(conditions !== undefined ? { conditions } : {}),
        at: clock.now(),
      });
      if (!segment) throw notFound(request.params.id);
      return segmentView(segment);
    },
  );

  app.delete<{ Params: IdParamsValue }>(
    '/segments/:id',
    {
      schema: {
        summary: 'Delete a segment',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 204: NoContent }),
      },
    },
    async (request, reply) => {
      if (!(await store.segments.delete(request.params.id))) throw notFound(request.params.id);
      return reply.status(204).send();
    },
  );

  app.get<{ Params: IdParamsValue }>(
    '/segments/:id/count',
    {
      schema: {
        summary: 'Count the contacts of a segment',
        description: 'Contacts of every status; campaigns leave out those they cannot mail.',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 200: CountView }),
      },
    },
    async (request) => {
      const segment = await existing(request.params.id);
      return { count: await store.segments.count(segment.conditions, clock.now()) };
    },
  );

  app.get<{ Params: IdParamsValue; Querystring: Static<typeof PreviewQuery> }>(
    '/segments/:id/preview',
    {
      schema: {
        summary: 'Preview the contacts of a segment',
        description: `The count and the first \`limit\` contacts by id (1–${MAX_PREVIEW}, default ${DEFAULT_PREVIEW}).`,
        tags: TAGS,
        params: IdParams,
        querystring: PreviewQuery,
        response: withErrors({ 200: PreviewView }),
      },
    },
    async (request) => {
      const segment = await existing(request.params.id);
      return preview(segment.conditions, request.query.limit ?? DEFAULT_PREVIEW);
    },
  );
}
