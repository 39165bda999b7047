/**
 * Mailing lists and their members. Adding members by email upserts the
 * contacts first, so a sign-up form can post straight to a list.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { parseEmail } from '../../core/address.js';
import { SluiceError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { MailingList } from '../../core/ports/store.js';
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

const TAGS = ['lists'];

/** Most contacts added in one request; larger imports go in several. */
export const MAX_MEMBERS_PER_REQUEST = 1000;

const Name = Type.String({ minLength: 1, maxLength: 200 });
const Description = Type.String({ maxLength: 2000 });

const CreateListBody = Type.Object(
  { name: Name, description: Type.Optional(Description) },
  { additionalProperties: false },
);

const PatchListBody = Type.Object(
  { name: Type.Optional(Name), description: Type.Optional(Description) },
  { additionalProperties: false, minProperties: 1 },
);

const AddMembersBody = Type.Object(
  {
    contactIds: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
        maxItems: MAX_MEMBERS_PER_REQUEST,
      }),
    ),
    emails: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 1000 }), {
        maxItems: MAX_MEMBERS_PER_REQUEST,
        description: 'Upserted as contacts (without attributes) before they are added.',
      }),
    ),
  },
  { additionalProperties: false },
);

const ListView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  memberCount: Type.Integer(),
  createdAt: IsoTime,
});

const MemberParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 200 }),
  contactId: Type.String({ minLength: 1, maxLength: 200 }),
});

function listView(list: MailingList): Static<typeof ListView> {
  return {
    id: list.id,
    name: list.name,
    description: list.description,
    memberCount: list.memberCount,
    createdAt: iso(list.createdAt),
  };
}

export function listRoutes(app: FastifyInstance, deps: AppDeps): void {
  const { store } = deps;

  async function existingList(id: string): Promise<MailingList> {
    const list = await store.lists.get(id);
    if (!list) throw new SluiceError('ERR_NOT_FOUND', `No list has the id "${id}".`);
    return list;
  }

  app.post<{ Body: Static<typeof CreateListBody> }>(
    '/lists',
    {
      schema: {
        summary: 'Create a list',
        tags: TAGS,
        body: CreateListBody,
        response: withErrors({ 201: ListView }),
      },
    },
    async (request, reply) => {
      const list = await store.lists.create({
        id: newId('list'),
        name: request.body.name,
        description: request.body.description ?? '',
        at: deps.clock.now(),
      });
      return reply.status(201).send(listView(list));
    },
  );

  app.get<{ Querystring: PageQueryValue }>(
    '/lists',
    {
      schema: {
        summary: 'List lists',
        tags: TAGS,
        querystring: PageQuery,
        response: withErrors({ 200: Page(ListView) }),
      },
    },
    async (request) => {
      const { limit = DEFAULT_PAGE_SIZE, after } = request.query;
      return pageView(await store.lists.list({ limit, ...(after ? { after } : {}) }), listView);
    },
  );

  app.get<{ Params: IdParamsValue }>(
    '/lists/:id',
    {
      schema: {
        summary: 'Get a list',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 200: ListView }),
      },
    },
    async (request) => listView(await existingList(request.params.id)),
  );

  app.patch<{ Params: IdParamsValue; Body: Static<typeof PatchListBody> }>(
    '/lists/:id',
    {
      schema: {
        summary: 'Rename or describe a list',
        tags: TAGS,
        params: IdParams,
        body: PatchListBody,
        response: withErrors({ 200: ListView }),
      },
    },
    async (request) => {
      const list = await store.lists.update(request.params.id, request.body);
      if (!list)
        throw new SluiceError('ERR_NOT_FOUND', `No list has the id "${request.params.id}".`);
      return listView(list);
    },
  );

  app.delete<{ Params: IdParamsValue }>(
    '/lists/:id',
    {
      schema: {
        summary: 'Delete a list',
        description: 'Removes its memberships, not the contacts.',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 204: NoContent }),
      },
    },
    async (request, reply) => {
      if (!(await store.lists.delete(request.params.id))) {
        throw new SluiceError('ERR_NOT_FOUND', `No list has the id "${request.params.id}".`);
      }
      return reply.status(204).send();
    },
  );

  app.post<{ Params: IdParamsValue; Body: Static<typeof AddMembersBody> }>(
    '/lists/:id/members',
    {
      schema: {
        summary: 'Add members to a list',
        description:
          'By contact id and/or by email (emails are upserted as contacts first). Contacts already on the list are left alone; `added` counts the new members.',
        tags: TAGS,
        params: IdParams,
        body: AddMembersBody,
        response: withErrors({ 200: Type.Object({ added: Type.Integer() }) }),
      },
    },
    async (request) => {
      const contactIds = request.body.contactIds ?? [];
      const rawEmails = request.body.emails ?? [];
      if (contactIds.length === 0 && rawEmails.length === 0) {
        throw new SluiceError('ERR_VALIDATION', 'Give contactIds or emails (or both).', {
          field: 'contactIds',
        });
      }
      // Every check before the first write: nothing is stored on an error.
      const emails = rawEmails.map((email, i) => parseEmail(email, `emails[${i}]`));
      await existingList(request.params.id);
      for (const [i, id] of contactIds.entries()) {
        if (!(await store.contacts.get(id))) {
          throw new SluiceError('ERR_NOT_FOUND', `No contact has the id "${id}".`, {
            field: `contactIds[${i}]`,
          });
        }
      }
      const at = deps.clock.now();
      const ids = new Set(contactIds);
      for (const email of new Set(emails)) {
        const { contact } = await store.contacts.upsert({ id: newId('contact'), email, at });
        ids.add(contact.id);
      }
      return { added: await store.lists.addMembers(request.params.id, [...ids], at) };
    },
  );

  app.delete<{ Params: Static<typeof MemberParams> }>(
    '/lists/:id/members/:contactId',
    {
      schema: {
        summary: 'Remove a member from a list',
        tags: TAGS,
        params: MemberParams,
        response: withErrors({ 204: NoContent }),
      },
    },
    async (request, reply) => {
      const { id, contactId } = request.params;
      await existingList(id);
      if (!(await store.lists.removeMember(id, contactId))) {
        throw new SluiceError('ERR_NOT_FOUND', `Contact "${contactId}" is not on list "${id}".`);
      }
      return reply.status(204).send();
    },
  );

  app.get<{ Params: IdParamsValue; Querystring: PageQueryValue }>(
    '/lists/:id/members',
    {
      schema: {
        summary: 'List the members of a list',
        description: 'Ordered by contact id, a page at a time.',
        tags: TAGS,
        params: IdParams,
        querystring: PageQuery,
        response: withErrors({ 200: Page(ContactView) }),
      },
    },
    async (request) => {
      await existingList(request.params.id);
      const { limit = DEFAULT_PAGE_SIZE, after } = request.query;
      const page = await store.lists.members(request.params.id, {
        limit,
        ...(after ? { after } : {}),
      });
      return pageView(page, contactView);
    },
  );
}
