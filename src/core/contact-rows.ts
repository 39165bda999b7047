/**
 * Import rows: what one CSV record or NDJSON line says about a contact, or
 * why it cannot be imported. Pure; the importer (src/import) feeds it.
 *
 * CSV: the header row names the columns. `email` is required, `status` is
 * optional, every other column is an attribute (its name is the header
 * cell, trimmed); an empty cell leaves that attribute (or the status) as it
 * is. NDJSON: one `{"email", "attributes"?, "status"?}` object a line; a
 * `null` attribute removes it, as in POST /v1/contacts.
 */
import { parseEmail } from './address.js';
import { SluiceError, isSluiceError } from './errors.js';
import { CONTACT_STATUSES, type ContactStatus } from './ports/store.js';

export interface ImportRow {
  line: number;
  email: string;
  attributes?: Record<string, unknown>;
  status?: ContactStatus;
}

export interface RowError {
  line: number;
  field?: string;
  reason: string;
}

export interface CsvColumns {
  count: number;
  email: number;
  status: number | undefined;
  /** [column index, attribute name] */
  attributes: Array<[number, string]>;
}

const STATUS_SET: ReadonlySet<string> = new Set(CONTACT_STATUSES);

/** Reads the header row; a header Sluice cannot use fails the whole import. */
export function csvColumns(header: string[], line: number): CsvColumns {
  const names = header.map((cell) => cell.trim());
  const seen = new Set<string>();
  let email: number | undefined;
  let status: number | undefined;
  const attributes: Array<[number, string]> = [];
  names.forEach((name, index) => {
    const key = name.toLowerCase();
    if (name === '') throw headerError(line, `column ${index + 1} has no name`);
    if (seen.has(key)) throw headerError(line, `the column "${name}" appears twice`);
    seen.add(key);
    if (key === 'email') email = index;
    else if (key === 'status') status = index;
    else attributes.push([index, name]);
  });
  if (email === undefined) throw headerError(line, 'there is no "email" column');
  return { count: names.length, email, status, attributes };
}

export function headerError(line: number, reason: string): SluiceError {
  return new SluiceError('ERR_IMPORT_HEADER', `CSV header (line ${line}): ${reason}.`, {
    field: 'header',
    line,
  });
}

export function rowFromCsv(
  columns: CsvColumns,
  line: number,
  fields: string[],
): ImportRow | RowError {
  if (fields.length !== columns.count) {
    return {
      line,
      reason: `has ${fields.length} columns where the header has ${columns.count}`,
    };
  }
  const email = checkEmail(line, fields[columns.email] ?? '');
  if (typeof email !== 'string') return email;
  const row: ImportRow = { line, email };
  if (columns.status !== undefined) {
    const status = fields[columns.status]?.trim() ?? '';
    if (status !== '') {
      if (!isStatus(status)) return badStatus(line, status);
      row.status = status;
    }
  }
  let attributes: Record<string, unknown> | undefined;
  for (const [index, name] of columns.attributes) {
    const value = fields[index];
    if (value === undefined || value === '') continue;
    attributes ??= {};
    attributes[name] = value;
  }
  if (attributes) row.attributes = attributes;
  return row;
}

export function rowFromNdjson(line: number, text: string): ImportRow | RowError {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { line, reason: 'is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { line, reason: 'is not a JSON object' };
  }
  const object = value as Record<string, unknown>;
  for (const key of Object.keys(object)) {
    if (key !== 'email' && key !== 'attributes' && key !== 'status') {
      return { line, field: key, reason: `has the unknown field "${key}"` };
    }
  }
  if (typeof object.email !== 'string') {
    return { line, field: 'email', reason: 'needs "email" as a string' };
  }
  const email = checkEmail(line, object.email);
  if (typeof email !== 'string') return email;
  const row: ImportRow = { line, email };
  const { attributes, status } = object;
  if (attributes !== undefined) {
    if (typeof attributes !== 'object' || attributes === null || Array.isArray(attributes)) {
      return { line, field: 'attributes', reason: '"attributes" must be an object' };
    }
    row.attributes = attributes as Record<string, unknown>;
  }
  if (status !== undefined) {
    if (typeof status !== 'string' || !isStatus(status))
      return badStatus(line, typeof status === 'string' ? status : JSON.stringify(status));
    row.status = status;
  }
  return row;
}

function checkEmail(line: number, raw: string): string | RowError {
  try {
    return parseEmail(raw, 'email');
  } catch (error) {
    if (!isSluiceError(error)) throw error;
    return { line, field: 'email', reason: error.message };
  }
}

function isStatus(value: string): value is ContactStatus {
  return STATUS_SET.has(value);
}

function badStatus(line: number, status: string): RowError {
  return {
    line,
    field: 'status',
    reason: `status "${status.slice(0, 40)}" is not one of ${CONTACT_STATUSES.join(', ')}`,
  };
}
