/**
 * Contacts: the recipients Sluice knows, keyed by email. POST upserts: a new
 * email makes a contact (201), a known one merges into it (200), attribute
 * by attribute, with `null` removing an attribute.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { parseEmail } from '../../core/address.js';
import { SluiceError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import { CONTACT_STATUSES, type Contact } from '../../core/ports/store.js';
import type { AppDeps } from '../app.js';
import { contactImportRoutes } from './contacts-import.js';
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
  type PageQueryValue,
} from '../schemas.js';

const TAGS = ['contacts'];

export const ContactStatus = Type.Union(
  CONTACT_STATUSES.map((s) => Type.Literal(s)),
  { description: 'Only `active` contacts receive campaign mail.' },
);

const ContactBody = Type.Object(
  {
    email: Type.String({ minLength: 1, maxLength: 1000 }),
    attributes: Type.Optional(
      Type.Object(
        {},
        {
          additionalProperties: true,
          description:
            'Merged key by key into the stored attributes; a null value removes the key. Templates see them as `contact.<key>`.',
        },
      ),
    ),
    status: Type.Optional(ContactStatus),
  },
  { additionalProperties: false },
);

export const ContactView = Type.Object({
  id: Type.String(),
  email: Type.String(),
  attributes: JsonObject,
  status: Type.String(),
  createdAt: IsoTime,
  updatedAt: IsoTime,
});

export function contactView(contact: Contact): Static<typeof ContactView> {
  return {
    id: contact.id,
    email: contact.email,
    attributes: contact.attributes,
    status: contact.status,
    createdAt: iso(contact.createdAt),
    updatedAt: iso(contact.updatedAt),
  };
}

export function contactRoutes(app: FastifyInstance, deps: AppDeps): void {
  // Its own scope: the import replaces the body parsers, for its routes only.
  void app.register((scope, _options, done) => {
    contactImportRoutes(scope, deps);
    done();
  });

  app.post<{ Body: Static<typeof ContactBody> }>(
    '/contacts',
    {
      schema: {
        summary: 'Create or update a contact',
        description: 'Upsert by email: 201 when the contact is new, 200 when merged.',
        tags: TAGS,
        body: ContactBody,
        response: withErrors({ 200: ContactView, 201: ContactView }),
      },
    },
    async (request, reply) => {
      const { attributes, status } = request.body;
      const email = parseEmail(request.body.email, 'email');
      const { contact, created } = await deps.store.contacts.upsert({
        id: newId('contact'),
        email,
        ...(attributes !== undefined ? { attributes } : {}),
        ...(status !== undefined ? { status } : {}),
        at: deps.clock.now(),
      });
      return reply.status(created ? 201 : 200).send(contactView(contact));
    },
  );

  app.get<{ Querystring: PageQueryValue }>(
    '/contacts',
    {
      schema: {
        summary: 'List contacts',
        description: 'Ordered by id, a page at a time.',
        tags: TAGS,
        querystring: PageQuery,
        response: withErrors({ 200: Page(ContactView) }),
      },
    },
    async (request) => {
      const { limit = DEFAULT_PAGE_SIZE, after } = request.query;
      const page = await deps.store.contacts.list({ limit, ...(after ? { after } : {}) });
      return pageView(page, contactView);
    },
  );

  app.get<{ Params: IdParamsValue }>(
    '/contacts/:id',
    {
      schema: {
        summary: 'Get a contact',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 200: ContactView }),
      },
    },
    async (request) => {
      const contact = await deps.store.contacts.get(request.params.id);
      if (!contact) throw notFound(request.params.id);
      return contactView(contact);
    },
  );

  app.delete<{ Params: IdParamsValue }>(
    '/contacts/:id',
    {
      schema: {
        summary: 'Delete a contact',
        description: 'Also removes it from every list.',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 204: NoContent }),
      },
    },
    async (request, reply) => {
      const deleted = await deps.store.contacts.delete(request.params.id);
      if (!deleted) throw notFound(request.params.id);
      return reply.status(204).send();
    },
  );
}

function notFound(id: string): SluiceError {
  return new SluiceError('ERR_NOT_FOUND', `No contact has the id "${id}".`);
}
