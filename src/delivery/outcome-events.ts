import type { EventBus, SluiceEventMap } from '../core/events.js';
import type { ClaimedMessage } from '../core/message.js';
import type { SendResult, Settlement } from '../core/outcome.js';

/** The event for a settlement the store applied (metrics and logs follow the database). */
export function emitSettled(
  events: EventBus<SluiceEventMap>,
  message: ClaimedMessage,
  settlement: Settlement,
  result: SendResult | undefined,
  latencyMs: number,
): void {
  const reason = settlement.lastError ?? '';
  switch (settlement.status) {
    case 'delivered':
      events.emit('send:delivered', {
        id: message.id,
        relay: result?.relay ?? '',
        latencyMs,
        sinceAcceptMs: settlement.at - message.createdAt,
        ...(message.eventReceivedAt !== undefined
          ? { sinceEventMs: settlement.at - message.eventReceivedAt }
          : {}),
      });
      return;
    case 'deferred':
      events.emit('send:deferred', {
        id: message.id,
        ...(result?.relay !== undefined ? { relay: result.relay } : {}),
        reason,
      });
      return;
    case 'bounced':
      events.emit('send:bounced', {
        id: message.id,
        relay: result?.relay ?? '',
        code: result?.code ?? 0,
        reason,
        category: settlement.bounceCategory ?? 'unknown',
      });
      return;
    case 'expired':
      events.emit('message:expired', { id: message.id });
      return;
    case 'failed':
      events.emit('message:failed', { id: message.id, reason });
      return;
    case 'suppressed':
      events.emit('message:suppressed', { id: message.id });
      return;
  }
}
