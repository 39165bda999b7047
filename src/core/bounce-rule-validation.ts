/**
 * Checks an operator's bounce rules (a JSON array, see docs/bounces.md)
 * before they are used: every problem names the rule's index and field,
 * e.g. `[3].category: expected one of bad-mailbox, …`. The guards of the
 * classifier (only bad-mailbox suppresses, never on 5.7.x) are refused here
 * too, so a rule cannot promise what it would not do.
 */
import { BOUNCE_CATEGORIES, isBounceCategory, type BounceRule } from './bounce.js';
import { SluiceError } from './errors.js';

const RULE_KEYS = ['enhanced', 'code', 'pattern', 'category', 'permanent', 'suppress', 'note'];
const ENHANCED_PREFIX = /^[245](\.\d{1,3}){0,2}$/;
const CODE_WITH_WILDCARDS = /^[245][0-9x][0-9x]$/i;

/** The rules, checked; throws ERR_VALIDATION naming `${source}[i].field`. */
export function validateBounceRules(value: unknown, source: string): BounceRule[] {
  if (!Array.isArray(value)) throw invalid(source, 'expected an array of rules');
  return value.map((entry, index) => validateRule(entry, `${source}[${index}]`));
}

function validateRule(entry: unknown, at: string): BounceRule {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw invalid(at, 'expected an object');
  }
  const raw = entry as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!RULE_KEYS.includes(key)) {
      throw invalid(`${at}.${key}`, `unknown field; expected one of: ${RULE_KEYS.join(', ')}`);
    }
  }
  const rule: BounceRule = {
    category: category(raw.category, `${at}.category`),
    permanent: bool(raw.permanent, `${at}.permanent`),
    suppress: bool(raw.suppress, `${at}.suppress`),
  };
  if (raw.enhanced !== undefined) {
    if (typeof raw.enhanced !== 'string' || !ENHANCED_PREFIX.test(raw.enhanced)) {
      throw invalid(
        `${at}.enhanced`,
        `expected an enhanced status code prefix such as "5.1.1", "5.7" or "4", got ${JSON.stringify(raw.enhanced)}`,
      );
    }
    rule.enhanced = raw.enhanced;
  }
  if (raw.code !== undefined) rule.code = code(raw.code, `${at}.code`);
  if (raw.pattern !== undefined) rule.pattern = pattern(raw.pattern, `${at}.pattern`);
  if (raw.note !== undefined) {
    if (typeof raw.note !== 'string') throw invalid(`${at}.note`, 'expected a string');
    rule.note = raw.note;
  }
  if (rule.enhanced === undefined && rule.code === undefined && rule.pattern === undefined) {
    throw invalid(at, 'a rule needs at least one of enhanced, code, pattern');
  }
  if (rule.suppress) {
    if (rule.category !== 'bad-mailbox') {
      throw invalid(`${at}.suppress`, 'only a bad-mailbox rule may suppress the address');
    }
    if (!rule.permanent) {
      throw invalid(`${at}.suppress`, 'a rule that suppresses must be permanent');
    }
    if (rule.enhanced === '5.7' || rule.enhanced?.startsWith('5.7.')) {
      throw invalid(`${at}.suppress`, 'a 5.7.x reply never suppresses the address');
    }
  }
  return rule;
}

function category(value: unknown, at: string) {
  if (!isBounceCategory(value)) {
    throw invalid(
      at,
      `expected one of ${BOUNCE_CATEGORIES.join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function bool(value: unknown, at: string): boolean {
  if (typeof value !== 'boolean')
    throw invalid(at, `expected true or false, got ${JSON.stringify(value)}`);
  return value;
}

function code(value: unknown, at: string): number | string {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 200 && value <= 599) {
    return value;
  }
  if (typeof value === 'string' && CODE_WITH_WILDCARDS.test(value)) return value.toLowerCase();
  throw invalid(at, `expected a reply code such as 550 or "5xx", got ${JSON.stringify(value)}`);
}

function pattern(value: unknown, at: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(at, 'expected a non-empty string');
  try {
    new RegExp(value, 'i');
  } catch (error) {
    throw invalid(at, `not a valid regular expression: ${(error as Error).message}`);
  }
  return value;
}

function invalid(field: string, problem: string): SluiceError {
  return new SluiceError('ERR_VALIDATION', `${field}: ${problem}`, { field });
}
