/**
 * Segment conditions as PostgreSQL SQL (see ../segment-compiler.ts).
 * Attribute names are bound parameters used as top-level keys
 * (`c.attributes -> $1::text`), so a dot is part of the key, as on SQLite.
 *
 * JSON types: equality is jsonb equality against the value as jsonb, which
 * compares type and value (the string "42" is not the number 42; 1 = 1.0).
 * Numeric comparisons cast only inside a CASE that checked the type first:
 * PostgreSQL does not promise to evaluate AND operands in order, and a cast
 * of a non-number would fail the whole query.
 *
 * Dates: sluice_iso_ms (migration 0004) parses the shapes core/segment.ts
 * allows, with no offset meaning UTC, and gives NULL for anything else.
 *
 * Engagement: as on SQLite (see its comment), two index ranges per contact
 * (engagement_contact; the partial engagement_email of migration 0011),
 * joined to messages by primary key for a campaign filter.
 */
import type { EngagementKind } from '../../core/ports/store.js';
import type { Scalar, SegmentCondition } from '../../core/segment.js';
import { compileSegment, type SegmentDialect } from '../segment-compiler.js';

function postgresDialect(values: unknown[]): SegmentDialect {
  const p = (value: unknown): string => {
    values.push(value);
    return `$${values.length}`;
  };
  const attr = (name: string): string => `c.attributes -> ${p(name)}::text`;
  return {
    param: p,
    true: 'true',
    false: 'false',
    attributeEquals(name: string, value: Scalar): string {
      return `((${attr(name)}) = ${p(JSON.stringify(value))}::jsonb)`;
    },
    attributeContains(name: string, value: string): string {
      return `(jsonb_typeof(${attr(name)}) = 'string'
        AND strpos(c.attributes ->> ${p(name)}::text, ${p(value)}::text) > 0)`;
    },
    attributeCompare(name: string, op: '<' | '>', value: number): string {
      return `(CASE WHEN jsonb_typeof(${attr(name)}) = 'number'
        THEN (c.attributes ->> ${p(name)}::text)::numeric ${op} ${p(value)}::numeric END)`;
    },
    attributeExists(name: string): string {
      return `(coalesce(jsonb_typeof(${attr(name)}), 'null') <> 'null')`;
    },
    attributeDate(name: string, op: '<' | '>', ms: number): string {
      return `(sluice_iso_ms(CASE WHEN jsonb_typeof(${attr(name)}) = 'string'
        THEN c.attributes ->> ${p(name)}::text END) ${op} ${p(ms)}::float8)`;
    },
    columnEquals(column: string, value: string): string {
      return `(${column} = ${p(value)}::text)`;
    },
    columnContains(column: string, value: string): string {
      return `(strpos(${column}, ${p(value)}::text) > 0)`;
    },
    inList(listId: string): string {
      return `EXISTS (SELECT 1 FROM list_members m
        WHERE m.list_id = ${p(listId)}::text AND m.contact_id = c.id)`;
    },
    eventCount(name: string, since: number, atLeast: number): string {
      return `((SELECT count(*) FROM events e WHERE e.contact_id = c.id
        AND e.name = ${p(name)}::text AND e.occurred_at >= ${p(since)}::bigint) >= ${p(atLeast)}::bigint)`;
    },
    engagementCount(
      kind: EngagementKind,
      campaign: string | undefined,
      since: number,
      atLeast: number,
    ): string {
      const count = (owner: string): string =>
        campaign === undefined
          ? `(SELECT count(*) FROM engagement e
            WHERE ${owner} AND e.kind = ${p(kind)}::text AND e.at >= ${p(since)}::bigint)`
          : `(SELECT count(*) FROM engagement e JOIN messages m ON m.id = e.message_id
            WHERE ${owner} AND e.kind = ${p(kind)}::text AND e.at >= ${p(since)}::bigint
            AND m.campaign_id = ${p(campaign)}::text)`;
      return `(${count('e.contact_id = c.id')}
        + ${count('e.contact_id IS NULL AND e.email = lower(c.email)')} >= ${p(atLeast)}::bigint)`;
    },
  };
}

/** The condition as a WHERE expression over `contacts c`; its placeholders follow the `leading` values. */
export function postgresSegmentWhere(
  condition: SegmentCondition,
  now: number,
  leading: unknown[] = [],
): { sql: string; values: unknown[] } {
  const values: unknown[] = [...leading];
  const sql = compileSegment(condition, now, postgresDialect(values));
  return { sql, values };
}
