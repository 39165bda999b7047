import type { Page, PageQuery } from '../core/ports/store.js';

/**
 * Keyset pagination by id: a page query fetches `limit + 1` rows with
 * `id > after` ordered by id; the extra row only tells that a next page
 * exists. The cursor is the last item's id, so a page stays correct when
 * rows are inserted or deleted between requests.
 */
export function fetchSize(query: PageQuery): number {
  return pageLimit(query) + 1;
}

export function pageLimit(query: PageQuery): number {
  return Math.max(1, Math.floor(query.limit));
}

export function toPage<T extends { id: string }>(rows: T[], query: PageQuery): Page<T> {
  const limit = pageLimit(query);
  if (rows.length <= limit) return { items: rows };
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return last ? { items, next: last.id } : { items };
}

/** For pages keyed by something other than the item's own id (list members use the contact id). */
export function afterCursor(query: PageQuery): string {
  return query.after ?? '';
}

/** toPage for items keyed by something other than `id` (suppressions: the email). */
export function toPageBy<T>(rows: T[], query: PageQuery, key: (item: T) => string): Page<T> {
  const limit = pageLimit(query);
  if (rows.length <= limit) return { items: rows };
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return last ? { items, next: key(last) } : { items };
}

/** A LIKE pattern for "starts with `prefix`", with `\` as the escape character. */
export function likePrefix(prefix: string): string {
  return prefix.replace(/[\\%_]/g, (c) => `\\${c}`) + '%';
}
