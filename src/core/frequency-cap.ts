/**
 * Frequency caps: at most N journey messages to one contact in any window
 * of a given length. Caps from the configuration count every journey's
 * messages (`scope: all`); a journey's own cap counts only its messages.
 * The store checks and records a send in one transaction (locking the
 * contact on PostgreSQL), so concurrent runs cannot both take the last slot.
 */
import { durationMs, type FrequencyCap } from './journey.js';

export interface CapRule {
  /** `all`: messages of every journey; otherwise a journey id. */
  scope: 'all' | { journeyId: string };
  limit: number;
  windowMs: number;
}

/** The caps a send of `journeyId` must respect. */
export function capsFor(
  configured: readonly { messages: number; perMs: number }[],
  journeyId: string,
  own: FrequencyCap | undefined,
): CapRule[] {
  const rules: CapRule[] = configured.map((c) => ({
    scope: 'all',
    limit: c.messages,
    windowMs: c.perMs,
  }));
  const ownMs = own ? durationMs(own.per) : undefined;
  if (own && ownMs !== undefined) {
    rules.push({ scope: { journeyId }, limit: own.messages, windowMs: ownMs });
  }
  return rules;
}

/**
 * The first rule that one more send at `now` would break, given the send
 * times counted for each rule's scope (`sentAt(rule)` returns them).
 */
export function brokenCap(
  rules: readonly CapRule[],
  now: number,
  countSince: (rule: CapRule, since: number) => number,
): CapRule | undefined {
  return rules.find((rule) => countSince(rule, now - rule.windowMs) >= rule.limit);
}
