/**
 * Reads the operator's bounce rules (`bounces.rulesFile`, docs/bounces.md)
 * when the configuration is loaded, so that a bad rule stops the start (and
 * `sluice config-check`) with a message naming the rule's index and field.
 * The rules are kept in the frozen configuration as plain data; the worker
 * compiles them once.
 */
import { readFileSync } from 'node:fs';
import type { BounceRule } from '../core/bounce.js';
import { validateBounceRules } from '../core/bounce-rule-validation.js';

export type BounceRulesResult = { ok: true; rules: BounceRule[] } | { ok: false; problem: string };

/** `path` is absolute. A problem says which file and, for a bad rule, `[i].field`. */
export function readBounceRulesFile(path: string): BounceRulesResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return { ok: false, problem: `cannot read ${path}: ${(error as Error).message}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { ok: false, problem: `${path} is not valid JSON: ${(error as Error).message}` };
  }
  try {
    return { ok: true, rules: validateBounceRules(parsed, 'rules') };
  } catch (error) {
    return { ok: false, problem: `${path}: ${(error as Error).message}` };
  }
}
