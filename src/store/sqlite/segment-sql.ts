/**
 * Segment conditions as SQLite SQL (see ../segment-compiler.ts). Attributes
 * are read with json_extract/json_type on a JSON path built from the
 * validated name (`$."plan"`: quoted, so a dot is part of the key, not a
 * nesting step) and bound as a parameter like every value.
 *
 * JSON types: json_type says 'text', 'integer', 'real', 'true', 'false',
 * 'null'; equality checks the type first so the string "42" never equals
 * the number 42, matching PostgreSQL's jsonb equality.
 *
 * Dates: julianday() reads the shapes core/segment.ts allows (no offset is
 * UTC), but it also takes bare numbers and rolls Feb 30 over to March, so
 * the GLOB and the date() round trip refuse those, as PostgreSQL's parser does.
 *
 * Engagement: two counts per contact, each an index range: its rows by
 * contact_id (engagement_contact) and the rows recorded with no contact for
 * its address (the partial index engagement_email, migration 0011). A
 * campaign filter joins each row to its message by key (the campaign and id
 * in messages_campaign_stats, migration 0013: one seek, no row read); CROSS
 * JOIN keeps engagement the outer loop, so the planner never walks the
 * whole campaign's messages for every contact. SQLite's
 * lower() folds ASCII only, so an address with capitals outside ASCII in
 * its local part (rare; tracking lower-cases with JS) misses its
 * contact-less rows here, where PostgreSQL's lower() would find them.
 */
import type { EngagementKind } from '../../core/ports/store.js';
import { ATTRIBUTE_NAME, type Scalar, type SegmentCondition } from '../../core/segment.js';
import { compileSegment, type SegmentDialect } from '../segment-compiler.js';

const NUMBER_TYPES = `('integer', 'real')`;

/** `$."name"`; the name pattern has no quote or backslash, checked again here. */
export function attributePath(name: string): string {
  if (!ATTRIBUTE_NAME.test(name)) throw new Error(`invalid attribute name ${name}`);
  return `$."${name}"`;
}

function sqliteDialect(values: unknown[]): SegmentDialect {
  const p = (value: unknown): string => {
    values.push(value);
    return '?';
  };
  const path = (name: string): string => p(attributePath(name));
  return {
    param: p,
    true: '1',
    false: '0',
    attributeEquals(name: string, value: Scalar): string {
      if (typeof value === 'boolean') {
        return `(json_type(c.attributes, ${path(name)}) = ${p(value ? 'true' : 'false')})`;
      }
      const types = typeof value === 'number' ? NUMBER_TYPES : `('text')`;
      return `(json_type(c.attributes, ${path(name)}) IN ${types}
        AND json_extract(c.attributes, ${path(name)}) = ${p(value)})`;
    },
    attributeContains(name: string, value: string): string {
      return `(json_type(c.attributes, ${path(name)}) = 'text'
        AND instr(json_extract(c.attributes, ${path(name)}), ${p(value)}) > 0)`;
    },
    attributeCompare(name: string, op: '<' | '>', value: number): string {
      return `(json_type(c.attributes, ${path(name)}) IN ${NUMBER_TYPES}
        AND json_extract(c.attributes, ${path(name)}) ${op} ${p(value)})`;
    },
    attributeExists(name: string): string {
      return `(coalesce(json_type(c.attributes, ${path(name)}), 'null') <> 'null')`;
    },
    attributeDate(name: string, op: '<' | '>', ms: number): string {
      return `(SELECT v GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'
          AND date(substr(v, 1, 10)) = substr(v, 1, 10)
          AND (julianday(v) - 2440587.5) * 86400000.0 ${op} ${p(ms)}
        FROM (SELECT json_extract(c.attributes, ${path(name)}) AS v
          WHERE json_type(c.attributes, ${path(name)}) = 'text'))`;
    },
    columnEquals(column: string, value: string): string {
      return `(${column} = ${p(value)})`;
    },
    columnContains(column: string, value: string): string {
      return `(instr(${column}, ${p(value)}) > 0)`;
    },
    inList(listId: string): string {
      return `EXISTS (SELECT 1 FROM list_members m
        WHERE m.list_id = ${p(listId)} AND m.contact_id = c.id)`;
    },
    eventCount(name: string, since: number, atLeast: number): string {
      return `((SELECT count(*) FROM events e WHERE e.contact_id = c.id
        AND e.name = ${p(name)} AND e.occurred_at >= ${p(since)}) >= ${p(atLeast)})`;
    },
    engagementCount(
      kind: EngagementKind,
      campaign: string | undefined,
      since: number,
      atLeast: number,
    ): string {
      // Placeholders in text order: each count's kind, since (and campaign); then atLeast.
      const count = (owner: string): string =>
        campaign === undefined
          ? `(SELECT count(*) FROM engagement e
            WHERE ${owner} AND e.kind = ${p(kind)} AND e.at >= ${p(since)})`
          : `(SELECT count(*) FROM engagement e CROSS JOIN messages m
            WHERE ${owner} AND e.kind = ${p(kind)} AND e.at >= ${p(since)}
            AND m.id = e.message_id AND m.campaign_id = ${p(campaign)})`;
      return `(${count('e.contact_id = c.id')}
        + ${count('e.contact_id IS NULL AND e.email = lower(c.email)')} >= ${p(atLeast)})`;
    },
  };
}

/** The condition as a WHERE expression over `contacts c` and its parameters, in order. */
export function sqliteSegmentWhere(
  condition: SegmentCondition,
  now: number,
): { sql: string; values: unknown[] } {
  const values: unknown[] = [];
  const sql = compileSegment(condition, now, sqliteDialect(values));
  return { sql, values };
}
