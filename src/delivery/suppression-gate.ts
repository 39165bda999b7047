/**
 * The suppression check of a claimed batch: one `suppressedAmong` query for
 * all its recipients, before anything is rendered or sent. A message to a
 * suppressed address ends `suppressed` with no SMTP and no attempt row; its
 * lastError says why.
 */
import type { ClaimedMessage } from '../core/message.js';
import type { Settlement } from '../core/outcome.js';
import type { Store } from '../core/ports/store.js';
import { suppressionKey } from '../core/suppression.js';
import type { DeliveryLogger } from './logger.js';

/** The batch's suppressed recipients (lower-cased), or undefined when the store failed. */
export async function loadSuppressed(
  store: Store,
  batch: readonly ClaimedMessage[],
  logger: DeliveryLogger,
): Promise<ReadonlySet<string> | undefined> {
  try {
    return await store.suppressions.suppressedAmong(batch.map((m) => m.to.email));
  } catch (error) {
    logger.error({ err: error }, 'checking the suppression list failed; postponing the batch');
    return undefined;
  }
}

export function isSuppressed(suppressed: ReadonlySet<string>, message: ClaimedMessage): boolean {
  return suppressed.has(suppressionKey(message.to.email));
}

export function settlementForSuppressed(
  message: ClaimedMessage,
  at: number,
  owner: string,
): Settlement {
  return {
    id: message.id,
    leaseOwner: owner,
    status: 'suppressed',
    lastError: `not sent: ${message.to.email} is on the suppression list`,
    at,
  };
}
