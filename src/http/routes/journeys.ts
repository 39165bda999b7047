/**
 * Journeys (docs/journeys.md): create, read, change and delete definitions,
 * activate and pause them, and look at their runs. A definition arrives as
 * plain JSON and is checked by core/journey.ts, which names the offending
 * path (`definition.steps[2].then[0].template`); the templates and the
 * segment it names must exist when it is saved or activated.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { SluiceError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import {
  parseJourneyDefinition,
  sendSteps,
  type JourneyDefinition,
  type JourneyStatus,
} from '../../core/journey.js';
import type { Journey, JourneyRun, Store } from '../../core/ports/store.js';
import type { AppDeps } from '../app.js';
import {
  DEFAULT_PAGE_SIZE,
  IdParams,
  IsoTime,
  JsonObject,
  NoContent,
  Page,
  PageQuery,
  iso,
  pageView,
  withErrors,
  type IdParamsValue,
} from '../schemas.js';

const TAGS = ['journeys'];

const Name = Type.String({ minLength: 1, maxLength: 200 });
const Definition = Type.Unknown({
  description:
    'The journey: `entry`, `from`, `steps`, and optionally `reentry`, `frequencyCap`, `quietHours` (docs/journeys.md).',
});
const Status = Type.Union([Type.Literal('draft'), Type.Literal('active'), Type.Literal('paused')], {
  description: 'Only an active journey starts runs; runs already started go on when it is paused.',
});

const CreateBody = Type.Object(
  { name: Name, definition: Definition, status: Type.Optional(Status) },
  { additionalProperties: false },
);

const PatchBody = Type.Object(
  { name: Type.Optional(Name), definition: Type.Optional(Definition) },
  { additionalProperties: false, minProperties: 1 },
);

const RunsQuery = Type.Object(
  {
    limit: PageQuery.properties.limit,
    after: PageQuery.properties.after,
    contactId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false },
);

const RunCounts = Type.Object({
  active: Type.Integer(),
  completed: Type.Integer(),
  exited: Type.Integer(),
  failed: Type.Integer(),
});

const JourneyView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: Type.String(),
  version: Type.Integer({ description: 'Goes up with each change of the definition.' }),
  definition: Definition,
  activatedAt: Type.Union([IsoTime, Type.Null()]),
  createdAt: IsoTime,
  updatedAt: IsoTime,
  runs: Type.Optional(RunCounts),
});

const RunView = Type.Object({
  id: Type.String(),
  journeyId: Type.String(),
  version: Type.Integer(),
  contactId: Type.String(),
  status: Type.String(),
  step: Type.Integer({ description: 'The next instruction of the compiled journey.' }),
  nextAt: Type.Union([IsoTime, Type.Null()], {
    description: 'Active runs: when they move on next.',
  }),
  waitingFor: Type.Union([Type.String(), Type.Null()]),
  trigger: Type.Object({
    eventId: Type.Union([Type.String(), Type.Null()]),
    name: Type.Union([Type.String(), Type.Null()]),
    properties: JsonObject,
    receivedAt: IsoTime,
  }),
  lastError: Type.Union([Type.String(), Type.Null()]),
  createdAt: IsoTime,
  updatedAt: IsoTime,
});

function journeyView(
  journey: Journey,
  runs?: Static<typeof RunCounts>,
): Static<typeof JourneyView> {
  return {
    id: journey.id,
    name: journey.name,
    status: journey.status,
    version: journey.version,
    definition: journey.definition,
    activatedAt: journey.activatedAt === undefined ? null : iso(journey.activatedAt),
    createdAt: iso(journey.createdAt),
    updatedAt: iso(journey.updatedAt),
    ...(runs ? { runs } : {}),
  };
}

function runView(run: JourneyRun): Static<typeof RunView> {
  return {
    id: run.id,
    journeyId: run.journeyId,
    version: run.version,
    contactId: run.contactId,
    status: run.status,
    step: run.pc,
    nextAt: run.status === 'active' ? iso(run.nextAt) : null,
    waitingFor: run.waitEvent ?? null,
    trigger: {
      eventId: run.trigger.eventId ?? null,
      name: run.trigger.name ?? null,
      properties: run.trigger.properties,
      receivedAt: iso(run.trigger.receivedAt),
    },
    lastError: run.lastError ?? null,
    createdAt: iso(run.createdAt),
    updatedAt: iso(run.updatedAt),
  };
}

function notFound(id: string): SluiceError {
  return new SluiceError('ERR_NOT_FOUND', `No journey has the id "${id}".`);
}

/** The definition, checked, with the templates and segment it names looked up. */
async function checkedDefinition(input: unknown, store: Store): Promise<JourneyDefinition> {
  const definition = parseJourneyDefinition(input, 'definition');
  const sends = sendSteps(definition);
  const found = new Set(
    (await store.templates.getMany([...new Set(sends.map((s) => s.template))])).map((t) => t.id),
  );
  for (const send of sends) {
    if (!found.has(send.template)) {
      const field = `definition.${send.path}.template`;
      throw new SluiceError(
        'ERR_JOURNEY_INVALID',
        `${field}: no template has the id "${send.template}".`,
        { field },
      );
    }
  }
  const entry = definition.entry;
  if ('segment' in entry && !(await store.segments.get(entry.segment))) {
    const field = 'definition.entry.segment';
    throw new SluiceError(
      'ERR_JOURNEY_INVALID',
      `${field}: no segment has the id "${entry.segment}".`,
      {
        field,
      },
    );
  }
  return definition;
}

export function journeyRoutes(app: FastifyInstance, deps: AppDeps): void {
  const { store, clock } = deps;
  const changed = async () => {
    await deps.onJourneysChanged?.();
  };

  async function setStatus(id: string, status: JourneyStatus): Promise<Journey> {
    const current = await store.journeys.get(id);
    if (!current) throw notFound(id);
    // Templates or the segment may have been deleted since the journey was saved.
    if (status === 'active') await checkedDefinition(current.definition, store);
    const journey = await store.journeys.update(id, { status, at: clock.now() });
    if (!journey) throw notFound(id);
    await changed();
    return journey;
  }

  app.post<{ Body: Static<typeof CreateBody> }>(
    '/journeys',
    {
      schema: {
        summary: 'Create a journey',
        description:
          'A draft unless `status` is `active`. A bad definition is 400 ERR_JOURNEY_INVALID naming its path.',
        tags: TAGS,
        body: CreateBody,
        response: withErrors({ 201: JourneyView }),
      },
    },
    async (request, reply) => {
      const definition = await checkedDefinition(request.body.definition, store);
      const at = clock.now();
      const status = request.body.status ?? 'draft';
      const journey = await store.journeys.create({
        id: newId('journey'),
        name: request.body.name,
        status,
        version: 1,
        definition,
        ...(status === 'active' ? { activatedAt: at } : {}),
        createdAt: at,
        updatedAt: at,
      });
      await changed();
      return reply.status(201).send(journeyView(journey));
    },
  );

  app.get<{ Querystring: Static<typeof PageQuery> }>(
    '/journeys',
    {
      schema: {
        summary: 'List journeys',
        tags: TAGS,
        querystring: PageQuery,
        response: withErrors({ 200: Page(JourneyView) }),
      },
    },
    async (request) => {
      const { limit = DEFAULT_PAGE_SIZE, after } = request.query;
      return pageView(await store.journeys.list({ limit, ...(after ? { after } : {}) }), (j) =>
        journeyView(j),
      );
    },
  );

  app.get<{ Params: IdParamsValue }>(
    '/journeys/:id',
    {
      schema: {
        summary: 'Get a journey, with its runs counted by status',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 200: JourneyView }),
      },
    },
    async (request) => {
      const journey = await store.journeys.get(request.params.id);
      if (!journey) throw notFound(request.params.id);
      return journeyView(journey, await store.journeys.countRuns(journey.id));
    },
  );

  app.patch<{ Params: IdParamsValue; Body: Static<typeof PatchBody> }>(
    '/journeys/:id',
    {
      schema: {
        summary: 'Rename a journey or change its definition',
        description:
          'A new definition is a new version: new runs follow it, runs already started finish on the version they started with.',
        tags: TAGS,
        params: IdParams,
        body: PatchBody,
        response: withErrors({ 200: JourneyView }),
      },
    },
    async (request) => {
      const { name } = request.body;
      const definition =
        request.body.definition === undefined
          ? undefined
          : await checkedDefinition(request.body.definition, store);
      const journey = await store.journeys.update(request.params.id, {
        ...(name !== undefined ? { name } : {}),
        ...(definition !== undefined ? { definition } : {}),
        at: clock.now(),
      });
      if (!journey) throw notFound(request.params.id);
      await changed();
      return journeyView(journey);
    },
  );

  app.delete<{ Params: IdParamsValue }>(
    '/journeys/:id',
    {
      schema: {
        summary: 'Delete a journey and its runs',
        description: 'Messages already queued by its runs are still delivered.',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 204: NoContent }),
      },
    },
    async (request, reply) => {
      if (!(await store.journeys.delete(request.params.id))) throw notFound(request.params.id);
      await changed();
      return reply.status(204).send();
    },
  );

  app.post<{ Params: IdParamsValue }>(
    '/journeys/:id/activate',
    {
      schema: {
        summary: 'Activate a journey',
        description: 'From now on its trigger starts runs (events received earlier do not).',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 200: JourneyView }),
      },
    },
    async (request) => journeyView(await setStatus(request.params.id, 'active')),
  );

  app.post<{ Params: IdParamsValue }>(
    '/journeys/:id/pause',
    {
      schema: {
        summary: 'Pause a journey',
        description: 'No new runs start; runs already started go on.',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 200: JourneyView }),
      },
    },
    async (request) => journeyView(await setStatus(request.params.id, 'paused')),
  );

  app.get<{ Params: IdParamsValue; Querystring: Static<typeof RunsQuery> }>(
    '/journeys/:id/runs',
    {
      schema: {
        summary: "A journey's runs",
        description: 'Ordered by id, a page at a time; `contactId` narrows to one contact.',
        tags: TAGS,
        params: IdParams,
        querystring: RunsQuery,
        response: withErrors({ 200: Page(RunView) }),
      },
    },
    async (request) => {
      if (!(await store.journeys.get(request.params.id))) throw notFound(request.params.id);
      const { limit = DEFAULT_PAGE_SIZE, after, contactId } = request.query;
      const page = await store.journeys.listRuns(request.params.id, {
        limit,
        ...(after ? { after } : {}),
        ...(contactId ? { contactId } : {}),
      });
      return pageView(page, runView);
    },
  );
}
