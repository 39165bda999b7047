/**
 * Contacts import: a CSV or NDJSON byte stream in, contacts upserted (and
 * added to a list) in batches, a summary out. Used by POST
 * /v1/contacts/import and `sluice import`.
 *
 * The batching state machine: chunks are decoded (streaming UTF-8) and fed
 * to the reader; each record becomes a row or a row error; rows collect in
 * a window until WINDOW_SIZE rows (or WINDOW_CHARS of text). A full window
 * (and at the end what is left) is combined (rows with the same email folded
 * into one, in line order, as ContactStore.upsertMany folds them), sorted by
 * email, given ordered ids in that order, and written in batches of
 * BATCH_SIZE rows, one `contacts.upsertMany` (one transaction) each. The
 * next chunk is read only after the window is written: the source is pulled,
 * never pushed, so a slow database slows the reading (backpressure) and
 * memory holds one window and one chunk, whatever the file size.
 *
 * Why sorted windows: a file's emails come in no particular order, and so
 * would the writes to the unique index on email, every row of a batch on
 * another leaf page of it once it outgrows the database's page cache; each
 * commit then writes ~one index page (4 KiB on SQLite) per row, and each
 * checkpoint copies them again (docs/benchmarks.md, bench/import). Sorted,
 * the batches of a window take consecutive, disjoint runs of the index, so
 * a page is written about once per window instead of once per row, while a
 * transaction stays BATCH_SIZE rows long (on SQLite it holds the one
 * connection, and the event loop, while it runs). Only stores that declare
 * `sortedImports` (SQLite) get windows this large; on the others a window is
 * one batch (PostgreSQL keeps its indexes in shared buffers, and showed no
 * gain, while the window cost the importer CPU and memory). The ids are
 * given after the sort so that new contacts still append at the right edge
 * of the primary key and of the membership indexes. Nothing else depends on the
 * order of rows with different emails; rows with the same email are applied
 * in line order (within a window by the fold, across windows by the order
 * of the windows).
 *
 * Each batch commits on its own: when an import stops halfway (the client
 * went away, the database failed), the batches written before stay written;
 * importing the file again is safe, as rows are upserts by email.
 *
 * Durability: every batch but the last commits `deferred` (no fsync of its
 * own, see ContactStore.upsertMany); the last one commits durably, and its
 * fsync makes every batch before it durable too. So when the summary is
 * returned the whole import is on disk, at one fsync per import instead of
 * one per batch. To know which batch is the last, the last batch of a full
 * window is held back until the next window is written (or the input ends).
 */
import { CsvReader, type CsvRecord } from '../core/csv-reader.js';
import {
  csvColumns,
  headerError,
  rowFromCsv,
  rowFromNdjson,
  type CsvColumns,
  type ImportRow,
  type RowError,
} from '../core/contact-rows.js';
import { combineUpserts } from '../core/contact-upserts.js';
import { SluiceError, isSluiceError } from '../core/errors.js';
import { newId, orderedIds } from '../core/ids.js';
import { LineReader, type TextLine } from '../core/line-reader.js';
import type { ContactUpsert, Durability, Store } from '../core/ports/store.js';

export const IMPORT_FORMATS = ['csv', 'ndjson'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/**
 * Rows a transaction: large enough that the commit (an fsync on SQLite, a
 * round trip on PostgreSQL) is amortised, small enough that a batch's
 * parameters stay well under PostgreSQL's limits and a lock is held briefly.
 */
export const BATCH_SIZE = 1000;

/**
 * Rows sorted together before they are written (see the header): the
 * larger, the fewer times an index page is written per row, at the cost of
 * memory (a window of rows is held) and of how much a stopped import loses.
 * Measured with bench/import, docs/benchmarks.md.
 */
export const WINDOW_SIZE = 50_000;

/**
 * The window also ends at this much source text (characters): rows of a
 * few kilobytes each (NDJSON with large attributes) make small windows, so
 * that memory stays bounded by bytes as well as by rows. 50,000 rows of a
 * typical CSV are ~4 M characters.
 */
export const WINDOW_CHARS = 16 * 1024 * 1024;

/** Row errors listed in the summary; the rest are only counted in `skipped`. */
export const MAX_REPORTED_ERRORS = 100;

export interface ImportProgress {
  /** Rows read so far, good and bad (not the header). */
  rows: number;
  imported: number;
  skipped: number;
}

export interface ImportSummary {
  /** Rows written (a contact appearing twice counts twice). */
  imported: number;
  /** Contacts that were new / that existed, per batch (see ContactStore.upsertMany). */
  created: number;
  updated: number;
  /** Rows not imported, each for a reason. */
  skipped: number;
  /** The first MAX_REPORTED_ERRORS row errors, in line order. */
  errors: RowError[];
  listId?: string;
}

export interface ImportOptions {
  format: ImportFormat;
  listId?: string;
  /** The time stamped on the contacts (updatedAt, createdAt of new ones). */
  at: number;
  batchSize?: number;
  /**
   * Rows sorted by email together (WINDOW_SIZE where the store declares
   * `sortedImports`, else batchSize), and their most source text (WINDOW_CHARS).
   */
  windowSize?: number;
  windowChars?: number;
  /** Called after every batch written. */
  onProgress?: (progress: ImportProgress) => void;
}

export async function importContacts(
  store: Store,
  source: AsyncIterable<Uint8Array | string>,
  options: ImportOptions,
): Promise<ImportSummary> {
  const batchSize = options.batchSize ?? BATCH_SIZE;
  // Where sorting gains nothing (store.capabilities), a window is one batch.
  const windowSize = Math.max(
    options.windowSize ?? (store.capabilities.sortedImports ? WINDOW_SIZE : batchSize),
    batchSize,
  );
  const windowChars = options.windowChars ?? WINDOW_CHARS;
  // Source text read into the current window.
  let chars = 0;
  const summary: ImportSummary = {
    imported: 0,
    created: 0,
    updated: 0,
    skipped: 0,
    errors: [],
    ...(options.listId !== undefined ? { listId: options.listId } : {}),
  };
  let rowsRead = 0;
  let window: ImportRow[] = [];
  const nextId = orderedIds('contact', options.at);

  const take = (row: ImportRow | RowError): void => {
    rowsRead += 1;
    if ('reason' in row) {
      summary.skipped += 1;
      if (summary.errors.length < MAX_REPORTED_ERRORS) summary.errors.push(row);
      return;
    }
    window.push(row);
  };
  const write = async (batch: Batch, durability: Durability): Promise<void> => {
    const counts = await store.contacts.upsertMany(batch.upserts, {
      durability,
      ...(options.listId !== undefined ? { listId: options.listId } : {}),
    });
    summary.imported += batch.rows;
    summary.created += counts.created;
    summary.updated += counts.updated;
    options.onProgress?.({ rows: rowsRead, imported: summary.imported, skipped: summary.skipped });
  };
  // The last batch of a full window waits here until the next window is written.
  let held: Batch | undefined;
  const flush = async (last: boolean): Promise<void> => {
    const batches = sortedBatches(window, batchSize, nextId, options.at);
    window = [];
    chars = 0;
    if (held) await write(held, last && batches.length === 0 ? 'durable' : 'deferred');
    held = last ? undefined : batches.pop();
    for (const [i, batch] of batches.entries()) {
      await write(batch, last && i === batches.length - 1 ? 'durable' : 'deferred');
    }
  };

  const parse = options.format === 'csv' ? csvRows() : ndjsonRows();
  const decoder = new TextDecoder('utf-8');
  for await (const chunk of source) {
    const text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    parse.push(text, take);
    chars += text.length;
    if (window.length >= windowSize || chars >= windowChars) await flush(false);
  }
  parse.push(decoder.decode(), take);
  parse.end(take);
  await flush(true);
  return summary;
}

interface Batch {
  upserts: ContactUpsert[];
  /** Rows of the file it stands for (more than upserts when an email repeats). */
  rows: number;
}

/**
 * A window's rows as batches: sorted by email (a stable sort: rows with the
 * same email stay in line order, and are folded into one), ids given in that
 * order. A batch counts the rows of the file it stands for.
 */
function sortedBatches(
  window: ImportRow[],
  batchSize: number,
  nextId: () => string,
  at: number,
): Batch[] {
  window.sort(byEmail);
  const batches: Batch[] = [];
  let batch: Batch = { upserts: [], rows: 0 };
  for (let start = 0; start < window.length;) {
    let end = start + 1;
    while (end < window.length && window[end]?.email === window[start]?.email) end += 1;
    const row = end - start === 1 ? window[start] : combineUpserts(window.slice(start, end))[0];
    if (row) {
      batch.upserts.push({
        id: nextId(),
        email: row.email,
        ...(row.attributes ? { attributes: row.attributes } : {}),
        ...(row.status ? { status: row.status } : {}),
        at,
      });
      batch.rows += end - start;
    }
    if (batch.upserts.length === batchSize) {
      batches.push(batch);
      batch = { upserts: [], rows: 0 };
    }
    start = end;
  }
  if (batch.upserts.length > 0) batches.push(batch);
  return batches;
}

/** Code unit order: any consistent order gives the index its locality. */
function byEmail(a: { email: string }, b: { email: string }): number {
  return a.email < b.email ? -1 : a.email > b.email ? 1 : 0;
}

interface RowParser {
  push(text: string, take: (row: ImportRow | RowError) => void): void;
  end(take: (row: ImportRow | RowError) => void): void;
}

function csvRows(): RowParser {
  const reader = new CsvReader();
  let columns: CsvColumns | undefined;
  const records: CsvRecord[] = [];
  const drain = (take: (row: ImportRow | RowError) => void): void => {
    for (const record of records) {
      if ('error' in record) {
        // A broken header cannot be told from a broken row: without columns there is no import.
        if (!columns) throw headerError(record.line, record.error);
        take({ line: record.line, reason: record.error });
      } else if (!columns) {
        columns = csvColumns(record.fields, record.line);
      } else {
        take(rowFromCsv(columns, record.line, record.fields));
      }
    }
    records.length = 0;
  };
  return {
    push(text, take) {
      reader.push(text, records);
      drain(take);
    },
    end(take) {
      reader.end(records);
      drain(take);
      if (!columns) throw headerError(1, 'the input is empty');
    },
  };
}

function ndjsonRows(): RowParser {
  const reader = new LineReader();
  const lines: TextLine[] = [];
  const drain = (take: (row: ImportRow | RowError) => void): void => {
    for (const line of lines) {
      take(
        'error' in line
          ? { line: line.line, reason: line.error }
          : rowFromNdjson(line.line, line.text),
      );
    }
    lines.length = 0;
  };
  return {
    push(text, take) {
      reader.push(text, lines);
      drain(take);
    },
    end(take) {
      reader.end(lines);
      drain(take);
    },
  };
}

/**
 * The list an import goes into, given by id or by name: a list with that id,
 * else the list with that name, else a new list with that name (so that
 * `sluice import contacts.csv --list newsletter` works on a fresh install).
 * A name taken by a concurrent import at the same moment is looked up again.
 */
export async function resolveImportList(
  store: Store,
  ref: string,
  at: number,
): Promise<{ id: string; created: boolean }> {
  const existing = (await store.lists.get(ref)) ?? (await store.lists.getByName(ref));
  if (existing) return { id: existing.id, created: false };
  try {
    const list = await store.lists.create({ id: newId('list'), name: ref, description: '', at });
    return { id: list.id, created: true };
  } catch (error) {
    if (!isSluiceError(error) || error.code !== 'ERR_CONFLICT') throw error;
    const raced = await store.lists.getByName(ref);
    if (!raced) throw error;
    return { id: raced.id, created: false };
  }
}

/** The list an export reads, by id or name; it must exist. */
export async function findList(store: Store, ref: string): Promise<string> {
  const list = (await store.lists.get(ref)) ?? (await store.lists.getByName(ref));
  if (!list) {
    throw new SluiceError('ERR_NOT_FOUND', `No list has the id or name "${ref.slice(0, 200)}".`, {
      field: 'list',
    });
  }
  return list.id;
}

/** The format named by `format`, else by the media type; undefined when neither says. */
export function importFormatOf(
  format: string | undefined,
  contentType: string | undefined,
): ImportFormat | undefined {
  if (format !== undefined) return isImportFormat(format) ? format : undefined;
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'text/csv') return 'csv';
  if (type === 'application/x-ndjson' || type === 'application/ndjson') return 'ndjson';
  return undefined;
}

function isImportFormat(value: string): value is ImportFormat {
  return (IMPORT_FORMATS as readonly string[]).includes(value);
}
