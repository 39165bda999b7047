/**
 * Contacts export: the contacts (of a list, or all) as CSV or NDJSON text,
 * produced a page at a time from the store so that memory holds one page,
 * whatever the number of contacts.
 *
 * CSV columns: `email`, `status`, then attribute columns. Which attributes:
 * the `columns` given, in that order; otherwise the union of the attribute
 * keys of the first page (EXPORT_PAGE_SIZE contacts), sorted, because a
 * stream cannot go back to widen its header. Keys that first appear later
 * are not exported then: name them in `columns`, or use NDJSON, which always
 * carries every attribute.
 *
 * Spreadsheet formula neutralisation (OWASP "CSV Injection"): a cell that
 * starts with `=`, `+`, `-`, `@`, a tab or a CR is prefixed with `'`, so
 * Excel, LibreOffice and Sheets show it as text instead of evaluating it.
 * This alters such values (a `-5` becomes `'-5`); the NDJSON export does not.
 */
import type { Contact, Page, PageQuery, Store } from '../core/ports/store.js';
import type { ImportFormat } from './contact-import.js';

/** Contacts a store query: a page is a small fraction of a megabyte. */
export const EXPORT_PAGE_SIZE = 1000;

export interface ExportOptions {
  format: ImportFormat;
  listId?: string;
  /** Attribute columns for CSV, in order. */
  columns?: string[];
  pageSize?: number;
}

const FORMULA_START = /^[=+\-@\t\r]/;

/** One CSV cell: neutralised, then quoted when it holds a comma, quote or line end. */
export function csvCell(value: string): string {
  const safe = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export async function* exportContacts(
  store: Store,
  options: ExportOptions,
): AsyncGenerator<string> {
  const pageSize = options.pageSize ?? EXPORT_PAGE_SIZE;
  const { listId } = options;
  const fetch = (query: PageQuery): Promise<Page<Contact>> =>
    listId !== undefined ? store.lists.members(listId, query) : store.contacts.list(query);

  let page = await fetch({ limit: pageSize });
  let columns: string[] | undefined;
  if (options.format === 'csv') {
    columns = options.columns ?? attributeKeys(page.items);
    yield ['email', 'status', ...columns].map(csvCell).join(',') + '\r\n';
  }
  for (;;) {
    yield page.items.map((contact) => line(contact, columns)).join('');
    if (page.next === undefined) return;
    page = await fetch({ limit: pageSize, after: page.next });
  }
}

function line(contact: Contact, columns: string[] | undefined): string {
  if (!columns) {
    return (
      JSON.stringify({
        email: contact.email,
        status: contact.status,
        attributes: contact.attributes,
      }) + '\n'
    );
  }
  const cells = [contact.email, contact.status];
  for (const key of columns) cells.push(cellText(contact.attributes[key]));
  return cells.map(csvCell).join(',') + '\r\n';
}

function cellText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

function attributeKeys(contacts: Contact[]): string[] {
  const keys = new Set<string>();
  for (const contact of contacts) for (const key of Object.keys(contact.attributes)) keys.add(key);
  return [...keys].sort();
}
