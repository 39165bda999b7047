/**
 * Compiles a validated segment condition (core/segment.ts) to a SQL boolean
 * expression over `contacts c`, through a per-dialect SegmentDialect
 * (sqlite/segment-sql.ts, postgres/segment-sql.ts) that renders the leaves.
 *
 * Safety: every user value, attribute names included, goes through
 * `dialect.param`, which records it as a bound parameter and returns its
 * placeholder; nothing from the condition is concatenated into the text.
 * The only identifiers written are the fixed column names of CONTACT_COLUMNS.
 *
 * Parameter order: SQLite binds `?` positionally, so placeholders must be
 * requested in the order they appear in the text. Each leaf is one template
 * literal (evaluated left to right) and children are compiled in order.
 *
 * Semantics shared by both dialects (docs/segments.md):
 * - every leaf is two-valued: a leaf that would be NULL (missing attribute)
 *   is false, so `not` is the exact complement and `ne` is `not eq`;
 * - `in` is the `or` of `eq`s; `{and: []}` is everyone, `{or: []}` no one;
 * - values compare with their JSON type: the string "42" is not the number 42.
 */
import type { EngagementKind } from '../core/ports/store.js';
import type { Scalar, SegmentCondition } from '../core/segment.js';
import { ENGAGEMENT_ACTIONS, isoDateToMs } from '../core/segment.js';

const DAY_MS = 86_400_000;

/** Fixed column names: the only identifiers the compiler writes. */
export const CONTACT_COLUMNS = { email: 'c.email', status: 'c.status' } as const;

export interface SegmentDialect {
  /** Records a bound parameter and returns its placeholder. */
  param(value: unknown): string;
  readonly true: string;
  readonly false: string;
  /** The attribute holds exactly this JSON value (same type). */
  attributeEquals(name: string, value: Scalar): string;
  /** The attribute is a string containing `value` (case-sensitive). */
  attributeContains(name: string, value: string): string;
  /** The attribute is a JSON number `op` value. */
  attributeCompare(name: string, op: '<' | '>', value: number): string;
  /** The attribute is present and not JSON null. */
  attributeExists(name: string): string;
  /** The attribute is an ISO date string (core/segment.ts shapes) whose instant is `op` `ms`. */
  attributeDate(name: string, op: '<' | '>', ms: number): string;
  /** `column` is one of CONTACT_COLUMNS. */
  columnEquals(column: string, value: string): string;
  columnContains(column: string, value: string): string;
  inList(listId: string): string;
  /** At least `atLeast` events named `name` with occurred_at >= since. */
  eventCount(name: string, since: number, atLeast: number): string;
  /**
   * At least `atLeast` engagement rows of `kind` with at >= since, of
   * messages of `campaign` when given: the contact's rows (contact_id) plus
   * rows recorded with no contact whose email is the contact's, lower-cased
   * (a message sent before the contact existed, or to a deleted contact's
   * address that has a contact again).
   */
  engagementCount(
    kind: EngagementKind,
    campaign: string | undefined,
    since: number,
    atLeast: number,
  ): string;
}

/** The lower bound of a `withinDays` window ending at `now`; no bound without one. */
function windowStart(now: number, withinDays: number | undefined): number {
  return withinDays === undefined ? Number.MIN_SAFE_INTEGER : now - withinDays * DAY_MS;
}

export function compileSegment(
  condition: SegmentCondition,
  now: number,
  d: SegmentDialect,
): string {
  const compile = (c: SegmentCondition): string => compileSegment(c, now, d);
  const leaf = (sql: string): string => `coalesce(${sql}, ${d.false})`;
  const anyOf = (parts: string[]): string => `(${parts.join(' OR ')})`;

  if ('and' in condition) {
    return condition.and.length === 0 ? d.true : `(${condition.and.map(compile).join(' AND ')})`;
  }
  if ('or' in condition) {
    return condition.or.length === 0 ? d.false : anyOf(condition.or.map(compile));
  }
  if ('not' in condition) return `(NOT ${compile(condition.not)})`;
  if ('inList' in condition) return leaf(d.inList(condition.inList));
  if ('event' in condition) {
    const since = windowStart(now, condition.withinDays);
    return leaf(d.eventCount(condition.event, since, condition.atLeast ?? 1));
  }
  if ('engagement' in condition) {
    return leaf(
      d.engagementCount(
        ENGAGEMENT_ACTIONS[condition.engagement],
        condition.campaign,
        windowStart(now, condition.withinDays),
        condition.atLeast ?? 1,
      ),
    );
  }
  if ('field' in condition) {
    const column = CONTACT_COLUMNS[condition.field];
    switch (condition.op) {
      case 'eq':
        return leaf(d.columnEquals(column, condition.value));
      case 'ne':
        return `(NOT ${leaf(d.columnEquals(column, condition.value))})`;
      case 'in':
        return anyOf(condition.value.map((v) => leaf(d.columnEquals(column, v))));
      case 'contains':
        return leaf(d.columnContains(column, condition.value));
    }
  }
  const name = condition.attribute;
  switch (condition.op) {
    case 'eq':
      return leaf(d.attributeEquals(name, condition.value));
    case 'ne':
      return `(NOT ${leaf(d.attributeEquals(name, condition.value))})`;
    case 'in':
      return anyOf(condition.value.map((v) => leaf(d.attributeEquals(name, v))));
    case 'contains':
      return leaf(d.attributeContains(name, condition.value));
    case 'gt':
      return leaf(d.attributeCompare(name, '>', condition.value));
    case 'lt':
      return leaf(d.attributeCompare(name, '<', condition.value));
    case 'exists':
      return leaf(d.attributeExists(name));
    case 'before':
    case 'after': {
      // Validated already; a bad date here is a bug in the caller.
      const ms = isoDateToMs(condition.value);
      if (ms === undefined) throw new Error(`unvalidated date ${condition.value}`);
      return leaf(d.attributeDate(name, condition.op === 'before' ? '<' : '>', ms));
    }
  }
}
