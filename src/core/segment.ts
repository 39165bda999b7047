/**
 * Segments: a JSON condition language that selects contacts (docs/segments.md).
 *
 * This module is the language itself: its types and a validator that turns
 * untrusted JSON into a typed condition, or reports every problem with the
 * JSON path of the offending part (`conditions.and[2].op`). Compilation to
 * SQL lives with each dialect in the store layer.
 *
 * Engagement conditions (opened or clicked, optionally one campaign) read
 * the engagement table that tracking fills (docs/tracking.md).
 */
import { SluiceError } from './errors.js';

export const ATTRIBUTE_OPS = [
  'eq',
  'ne',
  'in',
  'contains',
  'gt',
  'lt',
  'exists',
  'before',
  'after',
] as const;
export type AttributeOp = (typeof ATTRIBUTE_OPS)[number];

/** The contact's own columns a condition may test. */
export const CONTACT_FIELDS = ['email', 'status'] as const;
export type ContactField = (typeof CONTACT_FIELDS)[number];
export const FIELD_OPS = ['eq', 'ne', 'in', 'contains'] as const;
export type FieldOp = (typeof FIELD_OPS)[number];

export type Scalar = string | number | boolean;

export type AttributeCondition =
  | { attribute: string; op: 'eq' | 'ne'; value: Scalar }
  | { attribute: string; op: 'in'; value: Scalar[] }
  | { attribute: string; op: 'contains'; value: string }
  | { attribute: string; op: 'gt' | 'lt'; value: number }
  | { attribute: string; op: 'exists' }
  | { attribute: string; op: 'before' | 'after'; value: string };

export type FieldCondition =
  | { field: ContactField; op: 'eq' | 'ne' | 'contains'; value: string }
  | { field: ContactField; op: 'in'; value: string[] };

export interface EventCondition {
  event: string;
  /** Default 1. */
  atLeast?: number;
  /** Counted over the last `withinDays` days before now; all time when absent. */
  withinDays?: number;
}

/** What a recipient did, as the language says it; the engagement kind each is recorded as. */
export const ENGAGEMENT_ACTIONS = { opened: 'open', clicked: 'click' } as const;
export type EngagementAction = keyof typeof ENGAGEMENT_ACTIONS;
const ACTION_NAMES = Object.keys(ENGAGEMENT_ACTIONS) as EngagementAction[];

export interface EngagementCondition {
  engagement: EngagementAction;
  /** A campaign id: only that campaign's messages count; any message when absent. */
  campaign?: string;
  /** Default 1. Every open or click counts, repeats included. */
  atLeast?: number;
  /** Counted over the last `withinDays` days before now; all time when absent. */
  withinDays?: number;
}

export type SegmentCondition =
  | { and: SegmentCondition[] }
  | { or: SegmentCondition[] }
  | { not: SegmentCondition }
  | AttributeCondition
  | FieldCondition
  | { inList: string }
  | EventCondition
  | EngagementCondition;

/**
 * Bounds keep a stored segment's SQL small enough to plan quickly and a
 * hostile body from building a statement with thousands of subqueries.
 */
export const SEGMENT_LIMITS = {
  maxDepth: 10,
  maxConditions: 100,
  maxInValues: 100,
  maxStringLength: 1000,
  maxAtLeast: 1_000_000,
  /** Ten years. */
  maxWithinDays: 3650,
} as const;

export const ATTRIBUTE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The date shapes `before`/`after` understand, in values and in attributes:
 * `YYYY-MM-DD`, optionally `THH:MM[:SS[.fff]]` and `Z` or `±HH:MM`. No offset
 * means UTC. The SQL of both dialects accepts exactly these shapes.
 */
const ISO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/** Epoch ms of an ISO date in the shapes above; undefined for anything else (Feb 30 included). */
export function isoDateToMs(text: string): number | undefined {
  const m = ISO_DATE.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1) return undefined;
  if (date.getUTCDate() !== day || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    return undefined;
  }
  const ms = Number(`0.${frac || '0'}`) * 1000;
  let offset = 0;
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    offset = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  return Date.UTC(year, month - 1, day, Number(h), Number(mi), Number(s)) + Math.floor(ms) - offset;
}

export interface SegmentIssue {
  /** JSON path of the offending part, e.g. `conditions.and[2].op`. */
  path: string;
  message: string;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isScalar(value: unknown): value is Scalar {
  return (
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  );
}

function list(values: readonly string[]): string {
  return values.join(', ');
}

/** Walks the input once, collecting issues; `count` tracks the number of conditions seen. */
class Checker {
  readonly issues: SegmentIssue[] = [];
  private count = 0;

  private issue(path: string, message: string): void {
    this.issues.push({ path, message });
  }

  condition(input: unknown, path: string, depth: number): void {
    this.count += 1;
    if (this.count === SEGMENT_LIMITS.maxConditions + 1) {
      this.issue(path, `too many conditions; at most ${SEGMENT_LIMITS.maxConditions}`);
    }
    if (depth > SEGMENT_LIMITS.maxDepth) {
      this.issue(path, `nested too deep; at most ${SEGMENT_LIMITS.maxDepth} levels`);
      return;
    }
    if (!isObject(input)) {
      this.issue(path, 'must be an object');
      return;
    }
    if ('and' in input || 'or' in input) {
      const key = 'and' in input ? 'and' : 'or';
      this.onlyKeys(input, path, [key]);
      const items = input[key];
      if (!Array.isArray(items)) {
        this.issue(`${path}.${key}`, 'must be an array of conditions');
        return;
      }
      items.forEach((item, i) => this.condition(item, `${path}.${key}[${i}]`, depth + 1));
    } else if ('not' in input) {
      this.onlyKeys(input, path, ['not']);
      this.condition(input.not, `${path}.not`, depth + 1);
    } else if ('attribute' in input) {
      this.attribute(input, path);
    } else if ('field' in input) {
      this.field(input, path);
    } else if ('inList' in input) {
      this.onlyKeys(input, path, ['inList']);
      this.text(input.inList, `${path}.inList`, 200);
    } else if ('event' in input) {
      this.event(input, path);
    } else if ('engagement' in input) {
      this.engagement(input, path);
    } else {
      this.issue(
        path,
        'must hold one of and, or, not, attribute, field, inList, event, engagement',
      );
    }
  }

  private onlyKeys(input: Json, path: string, allowed: readonly string[]): void {
    for (const key of Object.keys(input)) {
      if (!allowed.includes(key)) {
        this.issue(`${path}.${key}`, `unknown key; expected ${list(allowed)}`);
      }
    }
  }

  private text(value: unknown, path: string, max: number = SEGMENT_LIMITS.maxStringLength): void {
    if (typeof value !== 'string' || value.length === 0 || value.length > max) {
      this.issue(path, `must be a string of 1 to ${max} characters`);
    }
  }

  private integer(value: unknown, path: string, max: number): void {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
      this.issue(path, `must be an integer from 1 to ${max}`);
    }
  }

  private attribute(input: Json, path: string): void {
    const op = input.op;
    const hasValue = op !== 'exists';
    this.onlyKeys(input, path, hasValue ? ['attribute', 'op', 'value'] : ['attribute', 'op']);
    const name = input.attribute;
    if (typeof name !== 'string' || !ATTRIBUTE_NAME.test(name)) {
      this.issue(
        `${path}.attribute`,
        'must be 1 to 64 characters of letters, digits, "_", "." or "-"',
      );
    }
    if (typeof op !== 'string' || !(ATTRIBUTE_OPS as readonly string[]).includes(op)) {
      this.issue(
        `${path}.op`,
        `unknown operator ${JSON.stringify(op)}; expected one of ${list(ATTRIBUTE_OPS)}`,
      );
      return;
    }
    if (hasValue && !('value' in input)) {
      this.issue(`${path}.value`, `is required for "${op}"`);
      return;
    }
    this.value(op as AttributeOp, input.value, `${path}.value`, true);
  }

  private field(input: Json, path: string): void {
    this.onlyKeys(input, path, ['field', 'op', 'value']);
    const { field, op } = input;
    if (typeof field !== 'string' || !(CONTACT_FIELDS as readonly string[]).includes(field)) {
      this.issue(
        `${path}.field`,
        `unknown field ${JSON.stringify(field)}; expected one of ${list(CONTACT_FIELDS)}`,
      );
    }
    if (typeof op !== 'string' || !(FIELD_OPS as readonly string[]).includes(op)) {
      this.issue(
        `${path}.op`,
        `unknown operator ${JSON.stringify(op)}; expected one of ${list(FIELD_OPS)}`,
      );
      return;
    }
    this.value(op as FieldOp, input.value, `${path}.value`, false);
  }

  /** Checks `value` for `op`; contact fields are text, so only strings there. */
  private value(op: AttributeOp, value: unknown, path: string, anyScalar: boolean): void {
    const scalarOk = (v: unknown): boolean =>
      anyScalar
        ? isScalar(v) && (typeof v !== 'string' || v.length <= 1000)
        : typeof v === 'string';
    const scalarKind = anyScalar ? 'a string, number or boolean' : 'a string';
    switch (op) {
      case 'eq':
      case 'ne':
        if (!scalarOk(value)) this.issue(path, `must be ${scalarKind}`);
        return;
      case 'in':
        if (
          !Array.isArray(value) ||
          value.length === 0 ||
          value.length > SEGMENT_LIMITS.maxInValues
        ) {
          this.issue(path, `must be an array of 1 to ${SEGMENT_LIMITS.maxInValues} values`);
          return;
        }
        value.forEach((v, i) => {
          if (!scalarOk(v)) this.issue(`${path}[${i}]`, `must be ${scalarKind}`);
        });
        return;
      case 'contains':
        this.text(value, path);
        return;
      case 'gt':
      case 'lt':
        if (typeof value !== 'number' || !Number.isFinite(value)) {
          this.issue(path, 'must be a number');
        }
        return;
      case 'before':
      case 'after':
        if (typeof value !== 'string' || isoDateToMs(value) === undefined) {
          this.issue(
            path,
            'must be an ISO 8601 date such as "2024-05-01" or "2024-05-01T12:00:00Z"',
          );
        }
        return;
      case 'exists':
        return;
    }
  }

  private event(input: Json, path: string): void {
    this.onlyKeys(input, path, ['event', 'atLeast', 'withinDays']);
    this.text(input.event, `${path}.event`, 200);
    this.window(input, path);
  }

  private engagement(input: Json, path: string): void {
    this.onlyKeys(input, path, ['engagement', 'campaign', 'atLeast', 'withinDays']);
    const action = input.engagement;
    if (typeof action !== 'string' || !(ACTION_NAMES as string[]).includes(action)) {
      this.issue(
        `${path}.engagement`,
        `unknown engagement ${JSON.stringify(action)}; expected one of ${list(ACTION_NAMES)}`,
      );
    }
    if (input.campaign !== undefined) this.text(input.campaign, `${path}.campaign`, 200);
    this.window(input, path);
  }

  /** `atLeast` and `withinDays`, shared by event and engagement conditions. */
  private window(input: Json, path: string): void {
    if (input.atLeast !== undefined) {
      this.integer(input.atLeast, `${path}.atLeast`, SEGMENT_LIMITS.maxAtLeast);
    }
    if (input.withinDays !== undefined) {
      this.integer(input.withinDays, `${path}.withinDays`, SEGMENT_LIMITS.maxWithinDays);
    }
  }
}

/** Every problem of `input` as a segment condition; empty when it is valid. */
export function segmentIssues(input: unknown, path = 'conditions'): SegmentIssue[] {
  const checker = new Checker();
  checker.condition(input, path, 1);
  return checker.issues;
}

/** The input as a condition, or ERR_SEGMENT_INVALID naming the first problem's path. */
export function parseSegmentCondition(input: unknown, path = 'conditions'): SegmentCondition {
  const [first] = segmentIssues(input, path);
  if (first) {
    throw new SluiceError('ERR_SEGMENT_INVALID', `${first.path}: ${first.message}`, {
      field: first.path,
    });
  }
  return input as SegmentCondition;
}
