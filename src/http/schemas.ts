/**
 * Schemas shared by the route files: they validate requests (through
 * Fastify's ajv, with unknown fields rejected) and document the API (through
 * @fastify/swagger). Times in responses are ISO 8601 strings.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'A stable code from the error catalog (docs/api.md).' }),
      message: Type.String(),
      field: Type.Optional(
        Type.String({ description: 'The offending field, as a path: `to.email`, `emails[2]`.' }),
      ),
      line: Type.Optional(Type.Integer({ description: 'Template errors: 1-based line.' })),
      column: Type.Optional(Type.Integer({ description: 'Template errors: 1-based column.' })),
      requestId: Type.String({ description: 'The id under which the server logged the request.' }),
    }),
  },
  { description: 'An error.' },
);

/** Adds the error responses every route may give. */
export function withErrors<T extends Record<number, TSchema>>(
  responses: T,
): T & { '4xx': typeof ErrorResponse; '5xx': typeof ErrorResponse } {
  return { ...responses, '4xx': ErrorResponse, '5xx': ErrorResponse };
}

export const AddressObject = Type.Object(
  {
    email: Type.String({ minLength: 1, maxLength: 1000 }),
    name: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);

/** An address as a client writes it: `"a@example.com"` or `{email, name?}`. */
export const AddressInput = Type.Union(
  [Type.String({ minLength: 1, maxLength: 1000 }), AddressObject],
  {
    description: 'An email address, or an object with the address and a display name.',
  },
);
export type AddressInputValue = Static<typeof AddressInput>;

/** An address as the API returns it. */
export const AddressView = Type.Object({
  email: Type.String(),
  name: Type.Optional(Type.String()),
});

export const IsoTime = Type.String({ format: 'date-time' });

export const MAX_PAGE_SIZE = 500;
export const DEFAULT_PAGE_SIZE = 50;

export const PageQuery = Type.Object(
  {
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_PAGE_SIZE,
        default: DEFAULT_PAGE_SIZE,
        description: `Items per page, 1–${MAX_PAGE_SIZE}.`,
      }),
    ),
    after: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 500,
        description: 'The `next` cursor of the previous page.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type PageQueryValue = Static<typeof PageQuery>;

export function Page<T extends TSchema>(item: T) {
  return Type.Object({
    items: Type.Array(item),
    next: Type.Union([Type.String(), Type.Null()], {
      description: 'Pass as `after` to get the next page; null on the last page.',
    }),
  });
}

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
export type IdParamsValue = Static<typeof IdParams>;

/** Free-form JSON object (contact attributes, template variables). */
export const JsonObject = Type.Object({}, { additionalProperties: true });

export const NoContent = Type.Null({ description: 'No content.' });

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Store pages have an optional cursor; the API always says `next`. */
export function pageView<T, V>(page: { items: T[]; next?: string }, view: (item: T) => V) {
  return { items: page.items.map(view), next: page.next ?? null };
}
