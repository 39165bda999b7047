/**
 * Segments on PostgreSQL. Selection statements are compiled per condition
 * (segment-sql.ts) and sent unnamed: their text changes with the condition.
 */
import type { Contact, Page, PageQuery, Segment, SegmentStore } from '../../core/ports/store.js';
import type { SegmentCondition } from '../../core/segment.js';
import { afterCursor, fetchSize, toPage } from '../paging.js';
import { contactFromRow, decodeJsonb, type ContactRow } from '../rows.js';
import { segmentFromRow, type SegmentRow } from '../segment-rows.js';
import type { PgDatabase } from './pg-database.js';
import { postgresSegmentWhere } from './segment-sql.js';

const SQL = {
  insert: `INSERT INTO segments (id, name, conditions, created_at, updated_at)
    VALUES ($1, $2, $3::jsonb, $4, $5)`,
  get: `SELECT * FROM segments WHERE id = $1`,
  page: `SELECT * FROM segments WHERE id > $1 ORDER BY id LIMIT $2`,
  update: `UPDATE segments SET name = coalesce($2, name),
    conditions = coalesce($3::jsonb, conditions), updated_at = $4
    WHERE id = $1 RETURNING *`,
  delete: `DELETE FROM segments WHERE id = $1`,
} as const;

export class PgSegmentStore implements SegmentStore {
  constructor(private readonly db: PgDatabase) {}

  async create(segment: Segment): Promise<Segment> {
    await this.db.query(SQL.insert, [
      segment.id,
      segment.name,
      JSON.stringify(segment.conditions),
      segment.createdAt,
      segment.updatedAt,
    ]);
    return { ...segment };
  }

  async get(id: string): Promise<Segment | undefined> {
    const [row] = await this.db.rows<SegmentRow>(SQL.get, [id]);
    return row ? segmentFromRow(row, decodeJsonb) : undefined;
  }

  async list(query: PageQuery): Promise<Page<Segment>> {
    const rows = await this.db.rows<SegmentRow>(SQL.page, [afterCursor(query), fetchSize(query)]);
    return toPage(
      rows.map((row) => segmentFromRow(row, decodeJsonb)),
      query,
    );
  }

  async update(
    id: string,
    patch: { name?: string; conditions?: SegmentCondition; at: number },
  ): Promise<Segment | undefined> {
    const [row] = await this.db.rows<SegmentRow>(SQL.update, [
      id,
      patch.name ?? null,
      patch.conditions === undefined ? null : JSON.stringify(patch.conditions),
      patch.at,
    ]);
    return row ? segmentFromRow(row, decodeJsonb) : undefined;
  }

  async delete(id: string): Promise<boolean> {
    return ((await this.db.query(SQL.delete, [id])).rowCount ?? 0) > 0;
  }

  async count(conditions: SegmentCondition, now: number): Promise<number> {
    const where = postgresSegmentWhere(conditions, now);
    const [row] = await this.db.rows<{ n: number }>(
      `SELECT count(*)::int AS n FROM contacts c WHERE ${where.sql}`,
      where.values,
    );
    return row?.n ?? 0;
  }

  async preview(conditions: SegmentCondition, now: number, limit: number): Promise<Contact[]> {
    return (await this.select(conditions, now, { limit })).items;
  }

  async select(
    conditions: SegmentCondition,
    now: number,
    query: PageQuery,
  ): Promise<Page<Contact>> {
    const where = postgresSegmentWhere(conditions, now, [afterCursor(query), fetchSize(query)]);
    const rows = await this.db.rows<ContactRow>(
      `SELECT c.* FROM contacts c WHERE c.id > $1 AND ${where.sql} ORDER BY c.id LIMIT $2`,
      where.values,
    );
    return toPage(
      rows.map((row) => contactFromRow(row, decodeJsonb)),
      query,
    );
  }
}
