/**
 * Segments on SQLite. The stored-segment statements are cached; the
 * selection statements are compiled per condition (segment-sql.ts) and
 * prepared each time, since their text changes with the condition and
 * caching them would grow without bound.
 */
import type { Contact, Page, PageQuery, Segment, SegmentStore } from '../../core/ports/store.js';
import type { SegmentCondition } from '../../core/segment.js';
import { afterCursor, fetchSize, toPage } from '../paging.js';
import { contactFromRow, decodeJsonText, type ContactRow } from '../rows.js';
import { segmentFromRow, type SegmentRow } from '../segment-rows.js';
import { sqliteSegmentWhere } from './segment-sql.js';
import { promised } from './sqlite-errors.js';
import type { StatementCache } from './statement-cache.js';

const SQL = {
  insert: `INSERT INTO segments (id, name, conditions, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?)`,
  get: `SELECT * FROM segments WHERE id = ?`,
  page: `SELECT * FROM segments WHERE id > ? ORDER BY id LIMIT ?`,
  update: `UPDATE segments SET name = coalesce(?, name), conditions = coalesce(?, conditions),
    updated_at = ? WHERE id = ? RETURNING *`,
  delete: `DELETE FROM segments WHERE id = ?`,
} as const;

export class SqliteSegmentStore implements SegmentStore {
  constructor(private readonly cache: StatementCache) {}

  create(segment: Segment): Promise<Segment> {
    return promised(
      () => {
        this.cache
          .get(SQL.insert)
          .run(
            segment.id,
            segment.name,
            JSON.stringify(segment.conditions),
            segment.createdAt,
            segment.updatedAt,
          );
        return { ...segment };
      },
      { id: segment.id, name: segment.name },
    );
  }

  get(id: string): Promise<Segment | undefined> {
    return promised(() => {
      const row = this.cache.get<SegmentRow>(SQL.get).get(id);
      return row ? segmentFromRow(row, decodeJsonText) : undefined;
    });
  }

  list(query: PageQuery): Promise<Page<Segment>> {
    return promised(() => {
      const rows = this.cache.get<SegmentRow>(SQL.page).all(afterCursor(query), fetchSize(query));
      return toPage(
        rows.map((row) => segmentFromRow(row, decodeJsonText)),
        query,
      );
    });
  }

  update(
    id: string,
    patch: { name?: string; conditions?: SegmentCondition; at: number },
  ): Promise<Segment | undefined> {
    return promised(
      () => {
        const row = this.cache
          .get<SegmentRow>(SQL.update)
          .get(
            patch.name ?? null,
            patch.conditions === undefined ? null : JSON.stringify(patch.conditions),
            patch.at,
            id,
          );
        return row ? segmentFromRow(row, decodeJsonText) : undefined;
      },
      { id, ...(patch.name !== undefined ? { name: patch.name } : {}) },
    );
  }

  delete(id: string): Promise<boolean> {
    return promised(() => this.cache.get(SQL.delete).run(id).changes > 0);
  }

  count(conditions: SegmentCondition, now: number): Promise<number> {
    return promised(() => {
      const where = sqliteSegmentWhere(conditions, now);
      const row = this.cache.db
        .prepare<unknown[], { n: number }>(
          `SELECT count(*) AS n FROM contacts c WHERE ${where.sql}`,
        )
        .get(...where.values);
      return row?.n ?? 0;
    });
  }

  async preview(conditions: SegmentCondition, now: number, limit: number): Promise<Contact[]> {
    return (await this.select(conditions, now, { limit })).items;
  }

  select(conditions: SegmentCondition, now: number, query: PageQuery): Promise<Page<Contact>> {
    return promised(() => {
      const where = sqliteSegmentWhere(conditions, now);
      const rows = this.cache.db
        .prepare<unknown[], ContactRow>(
          `SELECT c.* FROM contacts c WHERE c.id > ? AND ${where.sql} ORDER BY c.id LIMIT ?`,
        )
        .all(afterCursor(query), ...where.values, fetchSize(query));
      return toPage(
        rows.map((row) => contactFromRow(row, decodeJsonText)),
        query,
      );
    });
  }
}
