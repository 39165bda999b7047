import type { BounceCategory } from './bounce.js';
import type { AttemptRecord, FinalStatus } from './message.js';
import type { SuppressionUpsert } from './suppression.js';

/**
 * What one send attempt came to. A value, never an exception: a relay
 * answering 550 is an ordinary day, not an error.
 */
export type SendResult =
  | { kind: 'delivered'; relay: string; code: number; response: string }
  /** 4xx, a refused or dropped connection, a timeout: try again later. */
  | { kind: 'deferred'; relay?: string; code?: number; enhancedCode?: string; response: string }
  /** 5xx: the receiver will not take it. */
  | { kind: 'bounced'; relay: string; code: number; enhancedCode?: string; response: string };

/**
 * How a claimed message leaves the worker: the row change the store applies
 * in one batch, guarded by the lease owner (a worker whose lease was taken
 * over must not overwrite the new owner's work).
 */
export type Settlement = (
  | {
      id: string;
      leaseOwner: string;
      status: FinalStatus;
      lastError?: string;
      attempt?: AttemptRecord;
      at: number;
    }
  | {
      id: string;
      leaseOwner: string;
      status: 'deferred';
      dueAt: number;
      lastError: string;
      attempt?: AttemptRecord;
      at: number;
    }
) & {
  /** Recorded on the message (cleared when absent): the category of a bounce or deferral. */
  bounceCategory?: BounceCategory;
  /** Added to the suppression list in the same transaction, if the settlement applies. */
  suppress?: SuppressionUpsert;
};
