/**
 * A fast path for the commonest Liquid templates: text and outputs of a
 * variable, `{{ contact.first_name }}` or `{{ contact.city | default: 'x' }}`.
 *
 * Why: liquidjs evaluates every output through generators, ~10 µs and
 * ~25 KB of garbage to render the ~2 KB template of bench/campaign, about a
 * third of what a campaign message allocated (docs/benchmarks.md), paid per
 * recipient. Here a parsed template becomes a plan once (text pieces and
 * property paths), and a render with the plan is string concatenation.
 *
 * It never decides anything liquidjs would decide differently: a render
 * takes the fast path only when every value it reads is unambiguous, else it
 * returns `undefined` and the caller renders with liquidjs as before. So an
 * absent variable (strict mode's error, or the `default`), arrays, `size`,
 * `first`, `last`, drops, `toLiquid`, null, booleans and objects all go to
 * liquidjs. Unambiguous means, at each step of the path, an own property
 * (the engines read own properties only) of a plain object, and at the end
 * a string or a number: liquidjs writes those as `String(value)`, and its
 * `default` returns them unchanged unless the string is empty.
 */
import { Output, TokenKind, type Template, type Token } from 'liquidjs';

interface Lookup {
  path: readonly string[];
  /** `| default: literal`: an empty string is not taken (liquidjs writes the literal). */
  orDefault: boolean;
}

/** Text and lookups in template order. */
export type FastPlan = readonly (string | Lookup)[];

/** Properties liquidjs computes (readProperty) instead of reading. */
const COMPUTED = new Set(['size', 'first', 'last']);

/** The plan of a parsed template, or `undefined` when it has anything but text and plain outputs. */
export function fastPlan(templates: readonly Template[]): FastPlan | undefined {
  const plan: (string | Lookup)[] = [];
  for (const template of templates) {
    if (template instanceof Output) {
      const lookup = lookupOf(template);
      if (!lookup) return undefined;
      plan.push(lookup);
      continue;
    }
    const text = (template as { str?: unknown }).str;
    if (template.token.kind !== TokenKind.HTML || typeof text !== 'string') return undefined;
    plan.push(text);
  }
  return plan;
}

function lookupOf(output: Output): Lookup | undefined {
  const { initial, filters } = output.value;
  const [token, ...rest] = initial.postfix;
  if (!token || rest.length > 0 || token.kind !== TokenKind.PropertyAccess) return undefined;
  const access = token as Token & { variable?: unknown; props?: readonly Token[] };
  if (access.variable !== undefined || !access.props || access.props.length === 0) return undefined;
  const path: string[] = [];
  for (const prop of access.props) {
    const content = (prop as { content?: unknown }).content;
    const named = prop.kind === TokenKind.Word || prop.kind === TokenKind.Quoted;
    if (!named || typeof content !== 'string' || COMPUTED.has(content)) return undefined;
    path.push(content);
  }
  if (filters.length === 0) return { path, orDefault: false };
  // One `default` with one literal argument: evaluating it can neither fail nor read data.
  const [filter, ...more] = filters;
  if (more.length > 0 || filter?.name !== 'default' || filter.args.length !== 1) return undefined;
  const arg = filter.args[0];
  if (Array.isArray(arg) || !arg) return undefined;
  const literal =
    (arg as Token).kind === TokenKind.Quoted || (arg as Token).kind === TokenKind.Number;
  return literal ? { path, orDefault: true } : undefined;
}

/** The output, or `undefined` when a value is not unambiguous (see the header): render with liquidjs. */
export function renderFast(plan: FastPlan, data: Record<string, unknown>): string | undefined {
  let out = '';
  for (const step of plan) {
    if (typeof step === 'string') {
      out += step;
      continue;
    }
    let value: unknown = data;
    for (const key of step.path) {
      if (!isPlainObject(value) || !Object.hasOwn(value, key)) return undefined;
      value = value[key];
    }
    if (typeof value === 'number') out += String(value);
    else if (typeof value === 'string' && !(step.orDefault && value === '')) out += value;
    else return undefined;
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  // liquidjs reads what `toLiquid()` returns instead of the object itself.
  return typeof (value as { toLiquid?: unknown }).toLiquid !== 'function';
}
