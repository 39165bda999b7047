/**
 * Bounce classification: what a receiving server's reply means for the
 * message and for the address. Pure; the rules themselves are data
 * (bounce-rules.ts holds the built-in table, an operator file may add more
 * in front of it, see bounce-rules-file.ts).
 *
 * Glossary:
 * - category: why the mail was refused, in words an operator can act on
 *   (BOUNCE_CATEGORIES below).
 * - permanent: the message should not be tried again (a bounce). A 4xx reply
 *   is never permanent, whatever a rule says: the server asked for a retry.
 * - suppress: the address itself is bad; later mail to it is not sent.
 *   Only `bad-mailbox` suppresses, and a 5.7.x reply never does (X.7 is
 *   "security or policy": a verdict on the sender, not on the address;
 *   Yandex answers "550 5.7.1 No such user!", which is classified
 *   bad-mailbox and still not suppressed).
 *
 * Matching: rules are tried in order; the first whose every given condition
 * holds wins. When none does: 5xx → unknown (permanent), anything else →
 * transient.
 */

export const BOUNCE_CATEGORIES = [
  'bad-mailbox',
  'mailbox-full',
  'policy',
  'spam-block',
  'rate-limited',
  'dns',
  'content',
  'transient',
  'unknown',
] as const;
export type BounceCategory = (typeof BOUNCE_CATEGORIES)[number];

export function isBounceCategory(value: unknown): value is BounceCategory {
  return (BOUNCE_CATEGORIES as readonly unknown[]).includes(value);
}

/** One row of the rules table. At least one of `enhanced`, `code`, `pattern`. */
export interface BounceRule {
  /**
   * Enhanced status code prefix (RFC 3463), matched by whole parts:
   * "5.1.1" matches 5.1.1 only, "5.7" any 5.7.x, "4" any 4.x.x.
   */
  enhanced?: string;
  /** SMTP reply code: exact (550) or with `x` wildcards ("5xx", "55x"). */
  code?: number | string;
  /** A regular expression, matched case-insensitively anywhere in the reply text. */
  pattern?: string;
  category: BounceCategory;
  permanent: boolean;
  suppress: boolean;
  /** Why the rule exists; shown by `sluice bounce-check`. */
  note?: string;
}

export interface ReplyInput {
  code?: number;
  enhancedCode?: string;
  /** The reply line (or the local reason when there was no reply). */
  text: string;
}

export interface Classification {
  category: BounceCategory;
  permanent: boolean;
  suppress: boolean;
  /** Which rule decided: `operator` or `builtin` with its index, or the fallback. */
  matched: { source: 'operator' | 'builtin'; index: number; note?: string } | { source: 'default' };
}

/** A rule ready to be matched: its pattern compiled once. */
interface CompiledRule {
  rule: BounceRule;
  source: 'operator' | 'builtin';
  index: number;
  enhancedParts?: string[];
  code?: RegExp;
  pattern?: RegExp;
}

export type ReplyClassifier = (reply: ReplyInput) => Classification;

/**
 * A classifier over operator rules (tried first) and built-in rules.
 * Rules must already be valid (validateBounceRules); a bad pattern throws here.
 */
export function createReplyClassifier(
  builtin: readonly BounceRule[],
  operator: readonly BounceRule[] = [],
): ReplyClassifier {
  const compiled = [
    ...operator.map((rule, index) => compile(rule, 'operator', index)),
    ...builtin.map((rule, index) => compile(rule, 'builtin', index)),
  ];
  return (reply) => classifyWith(compiled, reply);
}

function compile(rule: BounceRule, source: 'operator' | 'builtin', index: number): CompiledRule {
  return {
    rule,
    source,
    index,
    ...(rule.enhanced !== undefined ? { enhancedParts: enhancedParts(rule.enhanced) } : {}),
    ...(rule.code !== undefined ? { code: codeMatcher(rule.code) } : {}),
    ...(rule.pattern !== undefined ? { pattern: new RegExp(rule.pattern, 'i') } : {}),
  };
}

function enhancedParts(prefix: string): string[] {
  return prefix.split('.').filter((part) => part !== '');
}

function codeMatcher(code: number | string): RegExp {
  return new RegExp(`^${String(code).toLowerCase().replaceAll('x', '\\d')}$`);
}

function classifyWith(rules: readonly CompiledRule[], input: ReplyInput): Classification {
  const reply = withParsedCodes(input);
  const found = rules.find((r) => matches(r, reply));
  const base: Classification = found
    ? {
        category: found.rule.category,
        permanent: found.rule.permanent,
        suppress: found.rule.suppress,
        matched: {
          source: found.source,
          index: found.index,
          ...(found.rule.note ? { note: found.rule.note } : {}),
        },
      }
    : fallback(reply);
  // Without a reply code (a refused connection, a timeout) nothing is final;
  // a 4xx asked for a retry, whatever a rule says.
  const permanent = base.permanent && reply.code !== undefined && reply.code >= 500;
  const suppress =
    base.suppress &&
    permanent &&
    base.category === 'bad-mailbox' &&
    !(reply.enhancedCode ?? '').startsWith('5.7.');
  return { ...base, permanent, suppress };
}

function fallback(reply: ReplyInput): Classification {
  const permanent = reply.code !== undefined && reply.code >= 500;
  return {
    category: permanent ? 'unknown' : 'transient',
    permanent,
    suppress: false,
    matched: { source: 'default' },
  };
}

function matches(rule: CompiledRule, reply: ReplyInput): boolean {
  if (rule.enhancedParts) {
    const actual = reply.enhancedCode?.split('.') ?? [];
    if (!rule.enhancedParts.every((part, i) => actual[i] === part)) return false;
  }
  if (rule.code && (reply.code === undefined || !rule.code.test(String(reply.code)))) return false;
  if (rule.pattern && !rule.pattern.test(reply.text)) return false;
  return true;
}

/** Fills in the code and enhanced code from the text when the caller did not give them. */
function withParsedCodes(reply: ReplyInput): ReplyInput {
  if (reply.code !== undefined && reply.enhancedCode !== undefined) return reply;
  const parsed = parseReplyLine(reply.text);
  return {
    text: reply.text,
    ...((reply.code ?? parsed.code) !== undefined ? { code: reply.code ?? parsed.code } : {}),
    ...((reply.enhancedCode ?? parsed.enhancedCode) !== undefined
      ? { enhancedCode: reply.enhancedCode ?? parsed.enhancedCode }
      : {}),
  };
}

/**
 * The reply code and enhanced status code of a reply line as an operator
 * pastes it: "550 5.1.1 <a@b>: User unknown", "550-5.1.1 The email account…",
 * or a code followed by text with the enhanced code further on
 * ("553 Sorry, … (#5.7.1)"). The enhanced code's class must agree with
 * the reply code's.
 */
export function parseReplyLine(line: string): ReplyInput {
  const text = line.replace(/\s*\r?\n\s*/g, ' ').trim();
  const head = /^([245]\d\d)(?:[ -]|$)/.exec(text);
  const code = head ? Number(head[1]) : undefined;
  const found = /(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d]|\.\d)/.exec(text);
  const enhancedCode =
    found && (code === undefined || String(code)[0] === found[1])
      ? `${found[1]}.${found[2]}.${found[3]}`
      : undefined;
  return {
    text,
    ...(code !== undefined ? { code } : {}),
    ...(enhancedCode !== undefined ? { enhancedCode } : {}),
  };
}
