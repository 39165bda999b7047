/**
 * The suppression list: addresses Sluice does not send to. Filled by hard
 * bounces whose rule says so (bad-mailbox, see bounce.ts) and by operators
 * through the API. A message to a suppressed address ends `suppressed`
 * without any SMTP.
 *
 * Addresses are compared whole and case-insensitively: the key is the
 * address lower-cased. RFC 5321 lets a local part be case-sensitive, but no
 * mailbox provider in practice distinguishes Ann@ from ann@, and a
 * suppression that a change of case slips past would not protect anything.
 */
import type { BounceCategory } from './bounce.js';

export interface Suppression {
  /** Lower-cased. */
  email: string;
  reason: string;
  /** The bounce category, for suppressions made by a bounce. */
  category?: BounceCategory;
  /** The message whose bounce added (or last renewed) the entry. */
  sourceMessageId?: string;
  createdAt: number;
  updatedAt: number;
}

/** What adds or renews an entry; `createdAt` stays that of the first add. */
export interface SuppressionUpsert {
  email: string;
  reason: string;
  category?: BounceCategory;
  sourceMessageId?: string;
  at: number;
}

export function suppressionKey(email: string): string {
  return email.trim().toLowerCase();
}
