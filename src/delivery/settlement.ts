/**
 * From what an attempt came to, to the row change that records it. Pure.
 *
 *   SendResult / local outcome        → status     attempt outcome
 *   delivered (2xx after DATA)        → delivered  delivered
 *   bounced (5xx but 503), its bounce
 *     rule permanent                  → bounced    bounced
 *   deferred (4xx, 503, no connection,
 *     timeout, drop), or a 5xx whose
 *     rule is not permanent;
 *     retry scheduled                 → deferred   deferred   dueAt = nextAttemptAt(…)
 *   deferred, no retry left (maxAge)  → expired    deferred
 *   render / MIME error (no SMTP)     → failed     failed
 *
 * Every deferred or bounced attempt carries its bounce category (the rules
 * of core/bounce-rules.ts), and so does the message. A bounce whose rule
 * says `suppress` puts the recipient on the suppression list in the same
 * store transaction as the settlement.
 */
import type { AttemptRecord, ClaimedMessage } from '../core/message.js';
import type { ReplyClassifier } from '../core/bounce.js';
import { classifyReply } from '../core/bounce-rules.js';
import type { SendResult, Settlement } from '../core/outcome.js';
import { nextAttemptAt, type RetryPolicy } from '../core/retry.js';

export interface AttemptTiming {
  /** When the SMTP transaction started (or preparation, for a local failure). */
  startedAt: number;
  finishedAt: number;
}

export interface SettlementContext {
  owner: string;
  policy: RetryPolicy;
  random?: () => number;
  /** The bounce rules (operator's, then built-in); default: the built-in ones. */
  classify?: ReplyClassifier;
}

export function settlementForSend(
  message: ClaimedMessage,
  result: SendResult,
  timing: AttemptTiming,
  context: SettlementContext,
): Settlement {
  const attemptNo = message.attempts + 1;
  const base = { id: message.id, leaseOwner: context.owner, at: timing.finishedAt };
  const attempt: AttemptRecord = {
    messageId: message.id,
    attempt: attemptNo,
    ...(result.relay !== undefined ? { relay: result.relay } : {}),
    startedAt: timing.startedAt,
    finishedAt: timing.finishedAt,
    outcome: result.kind,
    ...(result.code !== undefined ? { code: result.code } : {}),
    ...('enhancedCode' in result && result.enhancedCode
      ? { enhancedCode: result.enhancedCode }
      : {}),
    response: result.response,
  };
  if (result.kind === 'delivered') return { ...base, status: 'delivered', attempt };
  const verdict = (context.classify ?? classifyReply)({
    ...(result.code !== undefined ? { code: result.code } : {}),
    ...(result.enhancedCode ? { enhancedCode: result.enhancedCode } : {}),
    text: result.response,
  });
  const category = verdict.category;
  if (result.kind === 'bounced' && verdict.permanent) {
    return {
      ...base,
      status: 'bounced',
      lastError: result.response,
      attempt: { ...attempt, category },
      bounceCategory: category,
      ...(verdict.suppress
        ? {
            suppress: {
              email: message.to.email,
              reason: result.response,
              category,
              sourceMessageId: message.id,
              at: timing.finishedAt,
            },
          }
        : {}),
    };
  }
  // A 4xx, no reply at all, or a 5xx whose rule says it is temporary.
  const deferredAttempt: AttemptRecord = { ...attempt, outcome: 'deferred', category };
  const dueAt = nextAttemptAt(
    context.policy,
    attemptNo,
    timing.finishedAt,
    message.expiresAt,
    context.random,
  );
  if (dueAt === undefined) {
    return {
      ...base,
      status: 'expired',
      lastError: `${result.response} (not delivered within the maximum age; no further retries)`,
      attempt: deferredAttempt,
      bounceCategory: category,
    };
  }
  return {
    ...base,
    status: 'deferred',
    dueAt,
    lastError: result.response,
    attempt: deferredAttempt,
    bounceCategory: category,
  };
}

/** A message that cannot be built (template missing, render or MIME error): final, no SMTP. */
export function settlementForFailure(
  message: ClaimedMessage,
  reason: string,
  at: number,
  owner: string,
): Settlement {
  return {
    id: message.id,
    leaseOwner: owner,
    status: 'failed',
    lastError: reason,
    at,
    attempt: {
      messageId: message.id,
      attempt: message.attempts + 1,
      startedAt: at,
      finishedAt: at,
      outcome: 'failed',
      response: reason,
    },
  };
}

/**
 * Not attempted for a local reason (the store could not load templates):
 * tried again after the usual delay, no attempt recorded, since none was made.
 */
export function settlementForPostponed(
  message: ClaimedMessage,
  reason: string,
  at: number,
  context: SettlementContext,
): Settlement {
  const dueAt = nextAttemptAt(
    context.policy,
    Math.max(1, message.attempts),
    at,
    message.expiresAt,
    context.random,
  );
  const base = { id: message.id, leaseOwner: context.owner, at };
  if (dueAt === undefined) return { ...base, status: 'expired', lastError: reason };
  return { ...base, status: 'deferred', dueAt, lastError: reason };
}

/**
 * Held back before any SMTP (a throttle, or no relay of the pool available):
 * due again at `retryAt`, no attempt recorded since none was made; expired
 * once past the maximum age like any deferral.
 */
export function settlementForThrottled(
  message: ClaimedMessage,
  held: { retryAt: number; reason: string },
  at: number,
  owner: string,
): Settlement {
  const base = { id: message.id, leaseOwner: owner, at };
  if (at >= message.expiresAt) return { ...base, status: 'expired', lastError: held.reason };
  const dueAt = Math.min(held.retryAt, message.expiresAt);
  return { ...base, status: 'deferred', dueAt, lastError: held.reason };
}
