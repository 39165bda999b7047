import { createHash } from 'node:crypto';
import { ID_PREFIXES } from './ids.js';

/**
 * Ids derived from what they stand for, so that doing a thing twice names
 * the same row: a journey's message is (run id, instruction index), a run
 * started by an event is (journey id, trigger key).
 */
function derived(prefix: string, ...parts: string[]): string {
  return `${prefix}_${createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32)}`;
}

/** The id of the message a run's `send` at `pc` makes. */
export function journeyMessageId(runId: string, pc: number): string {
  return derived(ID_PREFIXES.message, 'journey-send', runId, String(pc));
}

/** The id of the run a trigger starts in a journey. */
export function journeyRunId(journeyId: string, triggerKey: string): string {
  return derived('run', journeyId, triggerKey);
}
