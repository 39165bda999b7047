import type { Page, PageQuery, Template, TemplateStore } from '../../core/ports/store.js';
import { afterCursor, fetchSize, toPage } from '../paging.js';
import { templateFromRow, type TemplateRow } from '../rows.js';
import type { PgDatabase } from './pg-database.js';

type TemplatePatch = Parameters<TemplateStore['update']>[1];

const SQL = {
  insert: `INSERT INTO templates (id, name, subject, html, text, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)`,
  get: `SELECT * FROM templates WHERE id = $1`,
  getMany: `SELECT * FROM templates WHERE id = ANY($1::text[])`,
  page: `SELECT * FROM templates WHERE id > $1 ORDER BY id LIMIT $2`,
  /** html and text: a flag says whether the patch has the key (absent keeps, null clears). */
  update: `UPDATE templates SET
      name = coalesce($2, name),
      subject = coalesce($3, subject),
      html = CASE WHEN $4::boolean THEN $5 ELSE html END,
      text = CASE WHEN $6::boolean THEN $7 ELSE text END,
      updated_at = $8
    WHERE id = $1 RETURNING *`,
  delete: `DELETE FROM templates WHERE id = $1`,
} as const;

export class PgTemplateStore implements TemplateStore {
  constructor(private readonly db: PgDatabase) {}

  async create(template: Template): Promise<Template> {
    await this.db.query(SQL.insert, [
      template.id,
      template.name,
      template.subject,
      template.html ?? null,
      template.text ?? null,
      template.createdAt,
      template.updatedAt,
    ]);
    return { ...template };
  }

  async get(id: string): Promise<Template | undefined> {
    const [row] = await this.db.rows<TemplateRow>(SQL.get, [id]);
    return row ? templateFromRow(row) : undefined;
  }

  /** In the order asked; unknown ids are left out. */
  async getMany(ids: string[]): Promise<Template[]> {
    if (ids.length === 0) return [];
    const rows = await this.db.rows<TemplateRow>(SQL.getMany, [ids]);
    const byId = new Map(rows.map((row) => [row.id, templateFromRow(row)]));
    return [...new Set(ids)].flatMap((id) => byId.get(id) ?? []);
  }

  async list(query: PageQuery): Promise<Page<Template>> {
    const rows = await this.db.rows<TemplateRow>(SQL.page, [afterCursor(query), fetchSize(query)]);
    return toPage(rows.map(templateFromRow), query);
  }

  async update(id: string, patch: TemplatePatch): Promise<Template | undefined> {
    const [row] = await this.db.rows<TemplateRow>(SQL.update, [
      id,
      patch.name ?? null,
      patch.subject ?? null,
      patch.html !== undefined,
      patch.html ?? null,
      patch.text !== undefined,
      patch.text ?? null,
      patch.at,
    ]);
    return row ? templateFromRow(row) : undefined;
  }

  async delete(id: string): Promise<boolean> {
    return ((await this.db.query(SQL.delete, [id])).rowCount ?? 0) > 0;
  }
}
