/**
 * The events API: POST /v1/events (one event), POST /v1/events/batch (up to
 * 1,000, all or nothing) and GET /v1/contacts/:id/events (a contact's
 * timeline, newest first). 202 only after the events are committed and
 * durable; they are announced on the event bus (`event:ingested`, the
 * in-process wake-up for triggers and journeys) as soon as they are
 * committed, which on SQLite is a millisecond or two before they are
 * durable (AppendOptions.onCommitted). See docs/events.md.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { SluiceError, isSluiceError } from '../../core/errors.js';
import type { AppendResult, StoredEvent } from '../../core/ports/store.js';
import {
  EventAdmission,
  MAX_JSON_BYTES,
  prepareEvents,
  type EventInput,
} from '../../realtime/event-intake.js';
import type { AppDeps } from '../app.js';
import {
  DEFAULT_PAGE_SIZE,
  IdParams,
  IsoTime,
  JsonObject,
  Page,
  PageQuery,
  iso,
  pageView,
  withErrors,
  type IdParamsValue,
  type PageQueryValue,
} from '../schemas.js';

const TAGS = ['events'];

export const MAX_BATCH_EVENTS = 1000;

/** The schema's default of `events.maxPending`, for hand-built configurations. */
const DEFAULT_MAX_PENDING = 10_000;

const ContactRef = Type.Union(
  [
    Type.Object(
      { email: Type.String({ minLength: 1, maxLength: 1000 }) },
      { additionalProperties: false },
    ),
    Type.Object(
      { id: Type.String({ minLength: 1, maxLength: 200 }) },
      { additionalProperties: false },
    ),
  ],
  {
    description:
      'Who did it: `{"email"}` (a new email makes a contact) or `{"id"}` of an existing contact.',
  },
);

const EventBody = Type.Object(
  {
    contact: ContactRef,
    name: Type.String({
      minLength: 1,
      maxLength: 128,
      pattern: '^[A-Za-z0-9._:-]+$',
      description: 'What happened, e.g. `order.placed`: letters, digits and `._:-`.',
    }),
    properties: Type.Optional(
      Type.Object(
        {},
        {
          additionalProperties: true,
          description: `Free-form data about the event, at most ${MAX_JSON_BYTES / 1024} KB as JSON.`,
        },
      ),
    ),
    timestamp: Type.Optional(
      Type.String({
        maxLength: 64,
        description:
          'When it happened, ISO 8601 with a zone; default now. At most one day in the future.',
      }),
    ),
    id: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 255,
        description: 'Your id of the event: an event with an id stored before is not stored again.',
      }),
    ),
    attributes: Type.Optional(
      Type.Object(
        {},
        {
          additionalProperties: true,
          description:
            'Identify: merged into the contact attributes (a null removes a key), as POST /v1/contacts does.',
        },
      ),
    ),
  },
  { additionalProperties: false },
);

const BatchBody = Type.Object(
  {
    events: Type.Array(EventBody, {
      minItems: 1,
      maxItems: MAX_BATCH_EVENTS,
      description: `1 to ${MAX_BATCH_EVENTS} events, stored all or none.`,
    }),
  },
  { additionalProperties: false },
);

const Accepted = Type.Object({
  accepted: Type.Integer({ description: 'Events stored by this request.' }),
  duplicates: Type.Integer({ description: 'Events whose id was stored before: not stored again.' }),
  ids: Type.Array(Type.String(), {
    description: 'Per event, in order: its Sluice id (for a duplicate, the stored event’s).',
  }),
  results: Type.Array(
    Type.Object({
      id: Type.String(),
      contactId: Type.String(),
      status: Type.Union([Type.Literal('stored'), Type.Literal('duplicate')]),
    }),
    { description: 'Per event, in order.' },
  ),
});

const EventView = Type.Object({
  id: Type.String(),
  eventId: Type.Union([Type.String(), Type.Null()], { description: 'The id the client gave.' }),
  contactId: Type.String(),
  name: Type.String(),
  properties: JsonObject,
  timestamp: IsoTime,
  receivedAt: IsoTime,
});

function eventView(event: StoredEvent): Static<typeof EventView> {
  return {
    id: event.id,
    eventId: event.key ?? null,
    contactId: event.contactId,
    name: event.name,
    properties: event.properties,
    timestamp: iso(event.occurredAt),
    receivedAt: iso(event.receivedAt),
  };
}

export function eventRoutes(app: FastifyInstance, deps: AppDeps): void {
  const admission = new EventAdmission(deps.config.events?.maxPending ?? DEFAULT_MAX_PENDING);

  async function ingest(
    inputs: EventInput[],
    endpoint: 'single' | 'batch',
  ): Promise<Static<typeof Accepted>> {
    const prefix = endpoint === 'batch' ? 'events' : '';
    const events = prepareEvents(inputs, deps.clock.now(), prefix);
    const announce = (results: AppendResult[]): void => {
      results.forEach((result, index) => {
        if (result.kind === 'duplicate') return;
        const event = events[index];
        deps.events.emit('event:ingested', {
          id: result.id,
          contactId: result.contactId,
          name: result.name,
          occurredAt: result.occurredAt,
          ...(event ? { receivedAt: event.receivedAt, properties: event.properties } : {}),
        });
      });
    };
    let results: AppendResult[];
    try {
      results = await admission.run(events.length, () =>
        deps.store.events.append(events, { onCommitted: announce }),
      );
    } catch (error) {
      throw withField(error, prefix, endpoint, events.length, deps);
    }
    const duplicates = results.filter((result) => result.kind === 'duplicate').length;
    const accepted = results.length - duplicates;
    deps.events.emit('events:accepted', { endpoint, stored: accepted, duplicates });
    return {
      accepted,
      duplicates,
      ids: results.map((r) => r.id),
      results: results.map((r) => ({ id: r.id, contactId: r.contactId, status: r.kind })),
    };
  }

  app.post<{ Body: Static<typeof EventBody> }>(
    '/events',
    {
      schema: {
        summary: 'Record an event',
        description:
          'Stores one event (and identifies its contact): 202 once committed. An `id` seen before is a duplicate, not stored again.',
        tags: TAGS,
        body: EventBody,
        response: withErrors({ 202: Accepted }),
      },
    },
    async (request, reply) => reply.status(202).send(await ingest([request.body], 'single')),
  );

  app.post<{ Body: Static<typeof BatchBody> }>(
    '/events/batch',
    {
      schema: {
        summary: 'Record up to 1,000 events',
        description:
          'All or nothing: every event is checked first, and one bad event refuses the batch, naming it (`events[3].name`). Stored in one transaction; 202 once committed.',
        tags: TAGS,
        body: BatchBody,
        response: withErrors({ 202: Accepted }),
      },
    },
    async (request, reply) => reply.status(202).send(await ingest(request.body.events, 'batch')),
  );

  app.get<{ Params: IdParamsValue; Querystring: PageQueryValue }>(
    '/contacts/:id/events',
    {
      schema: {
        summary: "A contact's events",
        description: 'Newest first (by timestamp), a page at a time.',
        tags: TAGS,
        params: IdParams,
        querystring: PageQuery,
        response: withErrors({ 200: Page(EventView) }),
      },
    },
    async (request) => {
      const contact = await deps.store.contacts.get(request.params.id);
      if (!contact) {
        throw new SluiceError('ERR_NOT_FOUND', `No contact has the id "${request.params.id}".`);
      }
      const { limit = DEFAULT_PAGE_SIZE, after } = request.query;
      const page = await deps.store.events.listForContact(contact.id, {
        limit,
        ...(after ? { after } : {}),
      });
      return pageView(page, eventView);
    },
  );
}

/** Names the event in a store error (`events[3].contact.id`) and counts overload refusals. */
function withField(
  error: unknown,
  prefix: string,
  endpoint: 'single' | 'batch',
  count: number,
  deps: AppDeps,
): unknown {
  if (!isSluiceError(error)) return error;
  if (error.code === 'ERR_OVERLOADED') {
    deps.events.emit('events:overloaded', { endpoint, events: count });
    return error;
  }
  if (error.code !== 'ERR_CONTACT_NOT_FOUND') return error;
  const index = typeof error.details.index === 'number' ? error.details.index : 0;
  const field = prefix === '' ? 'contact.id' : `${prefix}[${index}].contact.id`;
  return new SluiceError(error.code, `${field}: ${error.message} Nothing was stored.`, { field });
}
