import { sha256Hex } from './sha256.js';
import { ID_PREFIXES, timeHex } from './ids.js';

/**
 * Ids derived from what they stand for, so that doing a thing twice names
 * the same row: a journey's message is (run id, instruction index), a run
 * started by an event is (journey id, trigger key). Like newId's, they start
 * with a time (12 hex digits: the trigger's receipt, for a message its run's)
 * so that rows inserted together sort together; 20 hex digits of a SHA-256
 * of the parts follow.
 */
function derived(prefix: string, time: string, ...parts: string[]): string {
  const hash = sha256Hex(parts.join('\u0000'));
  return `${prefix}_${time}${hash.slice(0, 20)}`;
}

/** The time part of an id made by newId or here (its first 12 hex digits). */
function timeOf(id: string): string {
  const digits = id.slice(id.indexOf('_') + 1, id.indexOf('_') + 13);
  return /^[0-9a-f]{12}$/.test(digits) ? digits : timeHex(0);
}

/** The id of the message a run's `send` at `pc` makes. */
export function journeyMessageId(runId: string, pc: number): string {
  return derived(ID_PREFIXES.message, timeOf(runId), 'journey-send', runId, String(pc));
}

/** The id of the run a trigger received at `receivedAt` starts in a journey. */
export function journeyRunId(journeyId: string, triggerKey: string, receivedAt: number): string {
  return derived('run', timeHex(receivedAt), journeyId, triggerKey);
}
