/**
 * Journey rows as both dialects return them, and their mapping. JSON
 * columns (definitions, run triggers) arrive as text from SQLite and parsed
 * from PostgreSQL, so the caller passes a decoder.
 */
import type { JourneyDefinition, JourneyStatus } from '../core/journey.js';
import type { Journey, JourneyRun, JourneyRunStatus, RunTrigger } from '../core/ports/store.js';
import type { JsonDecoder } from './rows.js';

export interface JourneyRow {
  id: string;
  name: string;
  status: string;
  version: number;
  definition: unknown;
  activated_at: number | null;
  created_at: number;
  updated_at: number;
}

export function journeyFromRow(row: JourneyRow, decode: JsonDecoder): Journey {
  return {
    id: row.id,
    name: row.name,
    status: row.status as JourneyStatus,
    version: Number(row.version),
    definition: decode(row.definition) as JourneyDefinition,
    ...(row.activated_at !== null ? { activatedAt: Number(row.activated_at) } : {}),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

export interface RunRow {
  id: string;
  journey_id: string;
  version: number;
  contact_id: string;
  trigger_key: string;
  trigger: unknown;
  status: string;
  pc: number;
  next_at: number;
  wait_event: string | null;
  waiting_since: number | null;
  lease_owner: string | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

export function runFromRow(row: RunRow, decode: JsonDecoder): JourneyRun {
  const run: JourneyRun = {
    id: row.id,
    journeyId: row.journey_id,
    version: Number(row.version),
    contactId: row.contact_id,
    triggerKey: row.trigger_key,
    trigger: decode(row.trigger) as RunTrigger,
    status: row.status as JourneyRunStatus,
    pc: Number(row.pc),
    nextAt: Number(row.next_at),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
  if (row.wait_event !== null) run.waitEvent = row.wait_event;
  if (row.waiting_since !== null) run.waitingSince = Number(row.waiting_since);
  if (row.lease_owner !== null) run.leaseOwner = row.lease_owner;
  if (row.last_error !== null) run.lastError = row.last_error;
  return run;
}

export function emptyRunCounts(): Record<JourneyRunStatus, number> {
  return { active: 0, completed: 0, exited: 0, failed: 0 };
}

/**
 * SQLite and PostgreSQL store an infinite cool-down ("once") the same way:
 * as the largest safe integer, which no `at - entered_at` reaches.
 */
export function cooldownParam(ms: number): number {
  return Number.isFinite(ms) ? Math.max(0, Math.floor(ms)) : Number.MAX_SAFE_INTEGER;
}
