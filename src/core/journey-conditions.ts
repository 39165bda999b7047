/**
 * Property conditions: tests on an event's `properties` (a journey's entry
 * filter, a branch on the triggering event), evaluated in memory on the one
 * event at hand. The leaves mirror the attribute conditions of segments
 * (core/segment.ts) with the same two-valued semantics: a missing property
 * makes a leaf false, so `not` is the exact complement, and values compare
 * with their JSON type (the string "42" is not the number 42).
 */
import { ATTRIBUTE_NAME, SEGMENT_LIMITS, type Scalar, type SegmentIssue } from './segment.js';

export const PROPERTY_OPS = ['eq', 'ne', 'in', 'contains', 'gt', 'lt', 'exists'] as const;
export type PropertyOp = (typeof PROPERTY_OPS)[number];

export type PropertyLeaf =
  | { property: string; op: 'eq' | 'ne'; value: Scalar }
  | { property: string; op: 'in'; value: Scalar[] }
  | { property: string; op: 'contains'; value: string }
  | { property: string; op: 'gt' | 'lt'; value: number }
  | { property: string; op: 'exists' };

export type PropertyCondition =
  | { and: PropertyCondition[] }
  | { or: PropertyCondition[] }
  | { not: PropertyCondition }
  | PropertyLeaf;

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

/** Every problem of `input` as a property condition, each with its JSON path. */
export function propertyConditionIssues(input: unknown, path: string, depth = 1): SegmentIssue[] {
  const issues: SegmentIssue[] = [];
  const issue = (p: string, message: string) => issues.push({ path: p, message });
  if (depth > SEGMENT_LIMITS.maxDepth) {
    issue(path, `nested too deep; at most ${SEGMENT_LIMITS.maxDepth} levels`);
    return issues;
  }
  if (!isObject(input)) {
    issue(path, 'must be an object');
    return issues;
  }
  const onlyKeys = (allowed: string[]) => {
    for (const key of Object.keys(input)) {
      if (!allowed.includes(key))
        issue(`${path}.${key}`, `unknown key; expected ${allowed.join(', ')}`);
    }
  };
  if ('and' in input || 'or' in input) {
    const key = 'and' in input ? 'and' : 'or';
    onlyKeys([key]);
    const items = input[key];
    if (!Array.isArray(items)) {
      issue(`${path}.${key}`, 'must be an array of conditions');
      return issues;
    }
    items.forEach((item, i) =>
      issues.push(...propertyConditionIssues(item, `${path}.${key}[${i}]`, depth + 1)),
    );
    return issues;
  }
  if ('not' in input) {
    onlyKeys(['not']);
    issues.push(...propertyConditionIssues(input.not, `${path}.not`, depth + 1));
    return issues;
  }
  if (!('property' in input)) {
    issue(path, 'must hold one of and, or, not, property');
    return issues;
  }
  const op = input.op;
  onlyKeys(op === 'exists' ? ['property', 'op'] : ['property', 'op', 'value']);
  if (typeof input.property !== 'string' || !ATTRIBUTE_NAME.test(input.property)) {
    issue(`${path}.property`, 'must be 1 to 64 characters of letters, digits, "_", "." or "-"');
  }
  if (typeof op !== 'string' || !(PROPERTY_OPS as readonly string[]).includes(op)) {
    issue(
      `${path}.op`,
      `unknown operator ${JSON.stringify(op)}; expected one of ${PROPERTY_OPS.join(', ')}`,
    );
    return issues;
  }
  const value = input.value;
  const at = `${path}.value`;
  switch (op as PropertyOp) {
    case 'eq':
    case 'ne':
      if (!isScalar(value)) issue(at, 'must be a string, number or boolean');
      break;
    case 'in':
      if (
        !Array.isArray(value) ||
        value.length === 0 ||
        value.length > SEGMENT_LIMITS.maxInValues
      ) {
        issue(at, `must be an array of 1 to ${SEGMENT_LIMITS.maxInValues} values`);
      } else {
        value.forEach((v, i) => {
          if (!isScalar(v)) issue(`${at}[${i}]`, 'must be a string, number or boolean');
        });
      }
      break;
    case 'contains':
      if (typeof value !== 'string' || value.length === 0 || value.length > 1000) {
        issue(at, 'must be a string of 1 to 1000 characters');
      }
      break;
    case 'gt':
    case 'lt':
      if (typeof value !== 'number' || !Number.isFinite(value)) issue(at, 'must be a number');
      break;
    case 'exists':
      break;
  }
  return issues;
}

/** Whether `properties` satisfy a validated condition. */
export function matchesProperties(
  condition: PropertyCondition,
  properties: Record<string, unknown>,
): boolean {
  if ('and' in condition) return condition.and.every((c) => matchesProperties(c, properties));
  if ('or' in condition) return condition.or.some((c) => matchesProperties(c, properties));
  if ('not' in condition) return !matchesProperties(condition.not, properties);
  const actual = Object.hasOwn(properties, condition.property)
    ? properties[condition.property]
    : undefined;
  switch (condition.op) {
    case 'eq':
      return actual === condition.value;
    case 'ne':
      return actual !== condition.value;
    case 'in':
      return condition.value.some((v) => v === actual);
    case 'contains':
      return typeof actual === 'string' && actual.includes(condition.value);
    case 'gt':
      return typeof actual === 'number' && actual > condition.value;
    case 'lt':
      return typeof actual === 'number' && actual < condition.value;
    case 'exists':
      return actual !== undefined && actual !== null;
  }
}
