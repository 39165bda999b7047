/**
 * Contacts import and export. The import body is streamed into the importer
 * (src/import/contact-import.ts): this scope replaces Fastify's body parsers
 * with one that hands the raw request stream to the route, so nothing is
 * buffered and `http.bodyLimit` does not apply; `http.importLimit` does,
 * counted here as the bytes arrive.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { SluiceError } from '../../core/errors.js';
import { exportContacts } from '../../import/contact-export.js';
import {
  findList,
  importContacts,
  importFormatOf,
  resolveImportList,
} from '../../import/contact-import.js';
import type { AppDeps } from '../app.js';
import { withErrors } from '../schemas.js';

const TAGS = ['contacts'];

const Format = Type.Union([Type.Literal('csv'), Type.Literal('ndjson')]);

const ImportQuery = Type.Object(
  {
    list: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description:
          'A list id or name; every imported contact becomes a member. A name no list has creates that list.',
      }),
    ),
    format: Type.Optional(Format),
  },
  { additionalProperties: false },
);

const ExportQuery = Type.Object(
  {
    list: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'A list id or name.' }),
    ),
    format: Type.Optional(Format),
    columns: Type.Optional(
      Type.String({
        maxLength: 10_000,
        description:
          'CSV only: the attribute columns, comma-separated, in order. Default: the attribute keys of the first 1000 contacts, sorted.',
      }),
    ),
  },
  { additionalProperties: false },
);

const ImportSummaryView = Type.Object({
  imported: Type.Integer(),
  created: Type.Integer(),
  updated: Type.Integer(),
  skipped: Type.Integer(),
  errors: Type.Array(
    Type.Object({
      line: Type.Integer(),
      field: Type.Optional(Type.String()),
      reason: Type.String(),
    }),
  ),
  listId: Type.Optional(Type.String()),
});

export function contactImportRoutes(app: FastifyInstance, deps: AppDeps): void {
  const limit = deps.config.http.importLimit;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

  app.post<{ Querystring: Static<typeof ImportQuery> }>(
    '/contacts/import',
    {
      bodyLimit: limit,
      schema: {
        summary: 'Import contacts from CSV or NDJSON',
        description:
          'The body is streamed (`text/csv` or `application/x-ndjson`, or `format=`), upserted by email in batches; bad rows are reported by line and skipped. See docs/api.md.',
        tags: TAGS,
        querystring: ImportQuery,
        response: withErrors({ 200: ImportSummaryView }),
      },
    },
    async (request) => {
      const format = importFormatOf(request.query.format, request.headers['content-type']);
      if (!format) throw formatError();
      const declared = Number(request.headers['content-length'] ?? 0);
      if (declared > limit) throw tooLarge(limit);
      const at = deps.clock.now();
      const list = request.query.list
        ? await resolveImportList(deps.store, request.query.list, at)
        : undefined;
      return importContacts(deps.store, limited(request.body as IncomingMessage, limit), {
        format,
        at,
        ...(list ? { listId: list.id } : {}),
      });
    },
  );

  app.get<{ Querystring: Static<typeof ExportQuery> }>(
    '/contacts/export',
    {
      schema: {
        summary: 'Export contacts as CSV or NDJSON',
        description:
          "Streamed a page at a time. CSV cells that a spreadsheet would evaluate as a formula are prefixed with `'`. See docs/api.md.",
        tags: TAGS,
        querystring: ExportQuery,
      },
    },
    async (request, reply) => {
      const format = request.query.format ?? 'csv';
      const listId = request.query.list
        ? await findList(deps.store, request.query.list)
        : undefined;
      const columns = request.query.columns
        ?.split(',')
        .map((column) => column.trim())
        .filter((column) => column !== '');
      const body = Readable.from(
        exportContacts(deps.store, {
          format,
          ...(listId !== undefined ? { listId } : {}),
          ...(columns ? { columns } : {}),
        }),
      );
      return reply
        .header(
          'content-type',
          format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
        )
        .header('content-disposition', `attachment; filename="contacts.${format}"`)
        .send(body);
    },
  );
}

/** The body's chunks, failing with ERR_BODY_TOO_LARGE past `limit` bytes. */
async function* limited(body: AsyncIterable<Buffer>, limit: number): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > limit) throw tooLarge(limit);
    yield chunk;
  }
}

function tooLarge(limit: number): SluiceError {
  return new SluiceError(
    'ERR_BODY_TOO_LARGE',
    `The import body is larger than ${limit} bytes (http.importLimit).`,
  );
}

function formatError(): SluiceError {
  return new SluiceError(
    'ERR_IMPORT_FORMAT',
    'Say what the body is: Content-Type text/csv or application/x-ndjson, or format=csv|ndjson.',
    { field: 'format' },
  );
}
