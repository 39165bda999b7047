import type { Segment } from '../core/ports/store.js';
import type { SegmentCondition } from '../core/segment.js';
import type { JsonDecoder } from './rows.js';

export interface SegmentRow {
  id: string;
  name: string;
  conditions: unknown;
  created_at: number;
  updated_at: number;
}

/** Stored conditions were validated on the way in, so they are read back as they are. */
export function segmentFromRow(row: SegmentRow, decode: JsonDecoder): Segment {
  return {
    id: row.id,
    name: row.name,
    conditions: decode(row.conditions) as SegmentCondition,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
