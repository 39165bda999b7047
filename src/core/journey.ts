/**
 * Journeys: what happens to a contact after a trigger (docs/journeys.md).
 *
 * Glossary
 * - *definition*: the JSON a user writes: an entry (an event, or entering a
 *   segment), steps, a re-entry policy, an optional frequency cap and quiet
 *   hours. Validated here; every problem is reported with its JSON path
 *   (`steps[2].then[0].template`), as segments do.
 * - *program*: the definition compiled to a flat list of instructions, so a
 *   run's position is one integer (`pc`). Nested `then`/`else`/`onTimeout`
 *   lists become conditional jumps; `goto` becomes a jump to the named step.
 * - *run*: one contact going through one version of a journey (the store
 *   keeps each version's definition, so editing a journey never moves a
 *   running contact onto a step that means something else).
 *
 * Program, for `[A, branch(if C then [B] else [D]), E]`:
 *
 *   0 A
 *   1 branch C, else → 4        (true falls through)
 *   2 B
 *   3 jump → 5
 *   4 D
 *   5 E
 *   6 (end: the run completes)
 *
 * A `wait-for` is `wait-for E, timeout → T`: the event moves the run to the
 * next instruction (its `then` list), the timeout to T (its `onTimeout`).
 */
import { parseEmail } from './address.js';
import type { Address, Stream } from './message.js';
import { SluiceError } from './errors.js';
import {
  matchesProperties,
  propertyConditionIssues,
  type PropertyCondition,
} from './journey-conditions.js';
import { segmentIssues, type SegmentCondition, type SegmentIssue } from './segment.js';

export { matchesProperties };

export const JOURNEY_STATUSES = ['draft', 'active', 'paused'] as const;
export type JourneyStatus = (typeof JOURNEY_STATUSES)[number];

export type JourneyEntry =
  | { event: string; where?: PropertyCondition }
  /** Entering the segment (docs/segments.md): membership is kept per event. */
  | { segment: string };

/** `once`: never again; `always`: every trigger; `{cooldown}`: again once that long has passed since the last entry. */
export type ReentryPolicy = 'once' | 'always' | { cooldown: string };

export interface FrequencyCap {
  /** At most this many messages … */
  messages: number;
  /** … in any window of this length ("1d", "12h"). */
  per: string;
}

/** Local wall-clock times "HH:MM"; a window may cross midnight ("21:00" to "08:00"). */
export interface QuietHours {
  start: string;
  end: string;
}

export type BranchCondition =
  /** The contact matches a segment condition now (evaluated for this contact only). */
  | { contact: SegmentCondition }
  /** The event that started the run has these properties. */
  | { event: PropertyCondition }
  /** The contact opened (clicked) a message of this run: of the step `step`, or any. */
  | { engagement: 'opened' | 'clicked'; step?: string };

export type StepTarget = JourneyStep[] | { goto: string };

export type JourneyStep = { id?: string } & (
  | { type: 'send'; template: string; stream?: Stream; from?: string | Address }
  | { type: 'wait'; duration: string }
  | {
      type: 'wait-for';
      event: string;
      timeout: string;
      then?: StepTarget;
      onTimeout?: StepTarget;
    }
  | { type: 'branch'; if: BranchCondition; then: StepTarget; else?: StepTarget }
  | { type: 'exit' }
);

export interface JourneyDefinition {
  entry: JourneyEntry;
  /** Sender of every `send` without its own `from`. */
  from: string | Address;
  steps: JourneyStep[];
  /** Default `once`. */
  reentry?: ReentryPolicy;
  frequencyCap?: FrequencyCap;
  quietHours?: QuietHours;
}

export const JOURNEY_LIMITS = {
  /** Steps over all nesting levels. */
  maxSteps: 200,
  maxDepth: 10,
  /** Longest wait or timeout: a year. */
  maxDurationMs: 366 * 86_400_000,
  maxCapMessages: 10_000,
} as const;

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/;
const DURATION_UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const EVENT_NAME = /^[A-Za-z0-9._:-]{1,128}$/;
const STEP_ID = /^[A-Za-z0-9_-]{1,64}$/;
const CLOCK_TIME = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Milliseconds of "30s", "2h", "1d", "2w"; undefined when not a duration. */
export function durationMs(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2] as keyof typeof DURATION_UNITS]);
}

/** Minutes after midnight of "HH:MM"; undefined when malformed. */
export function clockMinutes(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const m = CLOCK_TIME.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : undefined;
}

// ── validation ─────────────────────────────────────────────────────────

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const STEP_KEYS: Record<string, string[]> = {
  send: ['template', 'stream', 'from'],
  wait: ['duration'],
  'wait-for': ['event', 'timeout', 'then', 'onTimeout'],
  branch: ['if', 'then', 'else'],
  exit: [],
};

class JourneyChecker {
  readonly issues: SegmentIssue[] = [];
  readonly stepIds = new Map<string, string>();
  readonly sendIds = new Set<string>();
  /** References checked once every id is known: [id, path, must be a send]. */
  readonly references: [string, string, boolean][] = [];
  private steps = 0;

  issue(path: string, message: string): void {
    this.issues.push({ path, message });
  }

  onlyKeys(input: Json, path: string, allowed: readonly string[]): void {
    for (const key of Object.keys(input)) {
      if (!allowed.includes(key)) {
        const where = path === '' ? key : `${path}.${key}`;
        this.issue(where, `unknown key; expected ${allowed.join(', ')}`);
      }
    }
  }

  duration(value: unknown, path: string): void {
    const ms = durationMs(value);
    if (ms === undefined || ms < 1 || ms > JOURNEY_LIMITS.maxDurationMs) {
      this.issue(path, 'must be a duration such as "30m", "2h", "1d" or "1w", of at most 366 days');
    }
  }

  eventName(value: unknown, path: string): void {
    if (typeof value !== 'string' || !EVENT_NAME.test(value)) {
      this.issue(path, 'must be an event name: 1 to 128 letters, digits or "._:-"');
    }
  }

  address(value: unknown, path: string): void {
    try {
      if (typeof value === 'string') parseEmail(value, path);
      else if (isObject(value) && typeof value.email === 'string') {
        this.onlyKeys(value, path, ['email', 'name']);
        parseEmail(value.email, `${path}.email`);
        if (
          value.name !== undefined &&
          (typeof value.name !== 'string' || /[\r\n]/.test(value.name))
        ) {
          this.issue(`${path}.name`, 'must be a string without line breaks');
        }
      } else this.issue(path, 'must be an email address or {"email", "name"}');
    } catch (error) {
      const field = error instanceof SluiceError ? (error.details.field ?? path) : path;
      this.issue(field, error instanceof Error ? error.message.replace(/^[^:]*: /, '') : 'invalid');
    }
  }

  stepList(input: unknown, path: string, depth: number): void {
    if (depth > JOURNEY_LIMITS.maxDepth) {
      this.issue(path, `nested too deep; at most ${JOURNEY_LIMITS.maxDepth} levels`);
      return;
    }
    if (!Array.isArray(input)) {
      this.issue(path, 'must be an array of steps');
      return;
    }
    input.forEach((step, i) => this.step(step, `${path}[${i}]`, depth));
  }

  target(input: unknown, path: string, depth: number): void {
    if (isObject(input) && 'goto' in input) {
      this.onlyKeys(input, path, ['goto']);
      if (typeof input.goto !== 'string') this.issue(`${path}.goto`, 'must be a step id');
      else this.references.push([input.goto, `${path}.goto`, false]);
      return;
    }
    this.stepList(input, path, depth + 1);
  }

  step(input: unknown, path: string, depth: number): void {
    this.steps += 1;
    if (this.steps === JOURNEY_LIMITS.maxSteps + 1) {
      this.issue(path, `too many steps; at most ${JOURNEY_LIMITS.maxSteps}`);
    }
    if (!isObject(input)) {
      this.issue(path, 'must be an object');
      return;
    }
    const type = input.type;
    if (typeof type !== 'string' || !(type in STEP_KEYS)) {
      this.issue(
        `${path}.type`,
        `unknown step type ${JSON.stringify(type)}; expected one of ${Object.keys(STEP_KEYS).join(', ')}`,
      );
      return;
    }
    this.onlyKeys(input, path, ['type', 'id', ...(STEP_KEYS[type] ?? [])]);
    if (input.id !== undefined) {
      if (typeof input.id !== 'string' || !STEP_ID.test(input.id)) {
        this.issue(`${path}.id`, 'must be 1 to 64 letters, digits, "_" or "-"');
      } else if (this.stepIds.has(input.id)) {
        this.issue(`${path}.id`, `"${input.id}" is the id of ${this.stepIds.get(input.id)} too`);
      } else {
        this.stepIds.set(input.id, path);
        if (type === 'send') this.sendIds.add(input.id);
      }
    }
    switch (type) {
      case 'send':
        if (
          typeof input.template !== 'string' ||
          input.template.length === 0 ||
          input.template.length > 200
        ) {
          this.issue(`${path}.template`, 'must be a template id');
        }
        if (
          input.stream !== undefined &&
          input.stream !== 'transactional' &&
          input.stream !== 'bulk'
        ) {
          this.issue(`${path}.stream`, 'must be "transactional" or "bulk"');
        }
        if (input.from !== undefined) this.address(input.from, `${path}.from`);
        return;
      case 'wait':
        this.duration(input.duration, `${path}.duration`);
        return;
      case 'wait-for':
        this.eventName(input.event, `${path}.event`);
        this.duration(input.timeout, `${path}.timeout`);
        if (input.then !== undefined) this.target(input.then, `${path}.then`, depth);
        if (input.onTimeout !== undefined) this.target(input.onTimeout, `${path}.onTimeout`, depth);
        return;
      case 'branch':
        this.condition(input.if, `${path}.if`);
        if (input.then === undefined) this.issue(`${path}.then`, 'is required');
        else this.target(input.then, `${path}.then`, depth);
        if (input.else !== undefined) this.target(input.else, `${path}.else`, depth);
        return;
      default:
        return;
    }
  }

  condition(input: unknown, path: string): void {
    if (!isObject(input)) {
      this.issue(path, 'must be an object holding one of contact, event, engagement');
      return;
    }
    if ('contact' in input) {
      this.onlyKeys(input, path, ['contact']);
      this.issues.push(...segmentIssues(input.contact, `${path}.contact`));
    } else if ('event' in input) {
      this.onlyKeys(input, path, ['event']);
      this.issues.push(...propertyConditionIssues(input.event, `${path}.event`));
    } else if ('engagement' in input) {
      this.onlyKeys(input, path, ['engagement', 'step']);
      if (input.engagement !== 'opened' && input.engagement !== 'clicked') {
        this.issue(`${path}.engagement`, 'must be "opened" or "clicked"');
      }
      if (input.step !== undefined) {
        if (typeof input.step !== 'string') this.issue(`${path}.step`, 'must be a step id');
        else this.references.push([input.step, `${path}.step`, true]);
      }
    } else {
      this.issue(path, 'must hold one of contact, event, engagement');
    }
  }

  resolveReferences(): void {
    for (const [id, path, mustSend] of this.references) {
      if (!this.stepIds.has(id)) this.issue(path, `no step has the id "${id}"`);
      else if (mustSend && !this.sendIds.has(id))
        this.issue(path, `step "${id}" is not a send step`);
    }
  }
}

/** Every problem of `input` as a journey definition; empty when it is valid. */
export function journeyIssues(input: unknown): SegmentIssue[] {
  const c = new JourneyChecker();
  if (!isObject(input)) return [{ path: '', message: 'must be an object' }];
  c.onlyKeys(input, '', ['entry', 'from', 'steps', 'reentry', 'frequencyCap', 'quietHours']);
  const entry = input.entry;
  if (!isObject(entry)) c.issue('entry', 'must be {"event", "where"?} or {"segment"}');
  else if ('segment' in entry) {
    c.onlyKeys(entry, 'entry', ['segment']);
    if (typeof entry.segment !== 'string' || entry.segment.length === 0) {
      c.issue('entry.segment', 'must be a segment id');
    }
  } else {
    c.onlyKeys(entry, 'entry', ['event', 'where']);
    c.eventName(entry.event, 'entry.event');
    if (entry.where !== undefined) {
      c.issues.push(...propertyConditionIssues(entry.where, 'entry.where'));
    }
  }
  if (input.from === undefined)
    c.issue('from', 'is required: the sender of the journey’s messages');
  else c.address(input.from, 'from');
  if (!Array.isArray(input.steps) || input.steps.length === 0) {
    c.issue('steps', 'must be an array of at least one step');
  } else c.stepList(input.steps, 'steps', 1);
  const reentry = input.reentry;
  if (reentry !== undefined && reentry !== 'once' && reentry !== 'always') {
    if (isObject(reentry) && 'cooldown' in reentry) {
      c.onlyKeys(reentry, 'reentry', ['cooldown']);
      c.duration(reentry.cooldown, 'reentry.cooldown');
    } else c.issue('reentry', 'must be "once", "always" or {"cooldown": "7d"}');
  }
  if (input.frequencyCap !== undefined) {
    const cap = input.frequencyCap;
    if (!isObject(cap)) c.issue('frequencyCap', 'must be {"messages", "per"}');
    else {
      c.onlyKeys(cap, 'frequencyCap', ['messages', 'per']);
      const n = cap.messages;
      if (
        typeof n !== 'number' ||
        !Number.isInteger(n) ||
        n < 1 ||
        n > JOURNEY_LIMITS.maxCapMessages
      ) {
        c.issue(
          'frequencyCap.messages',
          `must be an integer from 1 to ${JOURNEY_LIMITS.maxCapMessages}`,
        );
      }
      c.duration(cap.per, 'frequencyCap.per');
    }
  }
  if (input.quietHours !== undefined) {
    c.issues.push(...quietHoursIssues(input.quietHours, 'quietHours'));
  }
  c.resolveReferences();
  return c.issues;
}

export function quietHoursIssues(input: unknown, path: string): SegmentIssue[] {
  if (!isObject(input)) return [{ path, message: 'must be {"start": "21:00", "end": "08:00"}' }];
  const issues: SegmentIssue[] = [];
  for (const key of Object.keys(input)) {
    if (key !== 'start' && key !== 'end') {
      issues.push({ path: `${path}.${key}`, message: 'unknown key; expected start, end' });
    }
  }
  for (const key of ['start', 'end'] as const) {
    if (clockMinutes(input[key]) === undefined) {
      issues.push({ path: `${path}.${key}`, message: 'must be a local time "HH:MM" (24-hour)' });
    }
  }
  if (issues.length === 0 && input.start === input.end) {
    issues.push({ path: `${path}.end`, message: 'must differ from start' });
  }
  return issues;
}

/** The input as a definition, or ERR_JOURNEY_INVALID naming the first problem's path. */
export function parseJourneyDefinition(input: unknown, prefix = ''): JourneyDefinition {
  const [first] = journeyIssues(input);
  if (first) {
    const field =
      prefix === '' ? first.path : first.path === '' ? prefix : `${prefix}.${first.path}`;
    throw new SluiceError('ERR_JOURNEY_INVALID', `${field || 'definition'}: ${first.message}`, {
      field,
    });
  }
  return input as JourneyDefinition;
}

// ── compilation ────────────────────────────────────────────────────────

export type Instruction =
  | { op: 'send'; template: string; stream: Stream; from: Address; stepId?: string }
  | { op: 'wait'; ms: number }
  | { op: 'wait-for'; event: string; timeoutMs: number; timeoutPc: number }
  | { op: 'branch'; if: BranchCondition; elsePc: number }
  | { op: 'jump'; to: number }
  | { op: 'exit' };

/** A runnable journey: instructions, and where each step id starts. */
export interface JourneyProgram {
  instructions: Instruction[];
  /** Step id → index of its first instruction. */
  labels: Map<string, number>;
}

function toAddress(from: string | Address): Address {
  return typeof from === 'string' ? { email: parseEmail(from, 'from') } : from;
}

/** Compiles a validated definition. */
export function compileJourney(definition: JourneyDefinition): JourneyProgram {
  const out: Instruction[] = [];
  const labels = new Map<string, number>();
  const gotos: { at: number; id: string }[] = [];
  const journeyFrom = toAddress(definition.from);

  const emitTarget = (target: StepTarget | undefined): void => {
    if (target === undefined) return;
    if (!Array.isArray(target)) {
      gotos.push({ at: out.length, id: target.goto });
      out.push({ op: 'jump', to: -1 });
      return;
    }
    emitList(target);
  };
  /** `head` then `target` (true path), `alt` (false path); both join after. */
  const emitFork = (
    alt: StepTarget | undefined,
    patchElse: (pc: number) => void,
    then?: StepTarget,
  ) => {
    emitTarget(then);
    const jumpAt = out.length;
    out.push({ op: 'jump', to: -1 });
    patchElse(out.length);
    emitTarget(alt);
    out[jumpAt] = { op: 'jump', to: out.length };
  };
  const emitList = (steps: JourneyStep[]): void => {
    for (const step of steps) {
      if (step.id !== undefined) labels.set(step.id, out.length);
      switch (step.type) {
        case 'send':
          out.push({
            op: 'send',
            template: step.template,
            stream: step.stream ?? 'transactional',
            from: step.from === undefined ? journeyFrom : toAddress(step.from),
            ...(step.id !== undefined ? { stepId: step.id } : {}),
          });
          break;
        case 'wait':
          out.push({ op: 'wait', ms: durationMs(step.duration) ?? 0 });
          break;
        case 'exit':
          out.push({ op: 'exit' });
          break;
        case 'wait-for': {
          const at = out.length;
          const instruction = {
            op: 'wait-for' as const,
            event: step.event,
            timeoutMs: durationMs(step.timeout) ?? 0,
            timeoutPc: -1,
          };
          out.push(instruction);
          emitFork(step.onTimeout, (pc) => (instruction.timeoutPc = pc), step.then);
          out[at] = instruction;
          break;
        }
        case 'branch': {
          const instruction = { op: 'branch' as const, if: step.if, elsePc: -1 };
          out.push(instruction);
          emitFork(step.else, (pc) => (instruction.elsePc = pc), step.then);
          break;
        }
      }
    }
  };
  emitList(definition.steps);
  for (const { at, id } of gotos) {
    const to = labels.get(id);
    if (to === undefined) throw new Error(`unvalidated goto ${id}`);
    out[at] = { op: 'jump', to };
  }
  return { instructions: out, labels };
}

/** The re-entry policy as data: how long after an entry the contact may enter again (Infinity: never; 0: always). */
export function reentryCooldownMs(policy: ReentryPolicy | undefined): number {
  if (policy === undefined || policy === 'once') return Number.POSITIVE_INFINITY;
  if (policy === 'always') return 0;
  return durationMs(policy.cooldown) ?? Number.POSITIVE_INFINITY;
}

/** Every send step of a definition with its JSON path (`steps[2].then[0]`), to check the templates exist. */
export function sendSteps(definition: JourneyDefinition): { path: string; template: string }[] {
  const found: { path: string; template: string }[] = [];
  const walk = (target: StepTarget | undefined, path: string): void => {
    if (!Array.isArray(target)) return;
    target.forEach((step, i) => {
      const at = `${path}[${i}]`;
      if (step.type === 'send') found.push({ path: at, template: step.template });
      else if (step.type === 'branch') {
        walk(step.then, `${at}.then`);
        walk(step.else, `${at}.else`);
      } else if (step.type === 'wait-for') {
        walk(step.then, `${at}.then`);
        walk(step.onTimeout, `${at}.onTimeout`);
      }
    });
  };
  walk(definition.steps, 'steps');
  return found;
}

/** The events a definition's wait-for steps wait for. */
export function waitedEvents(definition: JourneyDefinition): string[] {
  return compileJourney(definition).instructions.flatMap((i) =>
    i.op === 'wait-for' ? [i.event] : [],
  );
}
