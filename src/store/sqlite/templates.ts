import type { Page, PageQuery, Template, TemplateStore } from '../../core/ports/store.js';
import { afterCursor, fetchSize, toPage } from '../paging.js';
import { templateFromRow, type TemplateRow } from '../rows.js';
import { promised } from './sqlite-errors.js';
import type { StatementCache } from './statement-cache.js';

type TemplatePatch = Parameters<TemplateStore['update']>[1];

const SQL = {
  insert: `INSERT INTO templates (id, name, subject, html, text, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)`,
  get: `SELECT * FROM templates WHERE id = ?`,
  getMany: `SELECT * FROM templates WHERE id IN (SELECT value FROM json_each(?))`,
  page: `SELECT * FROM templates WHERE id > ? ORDER BY id LIMIT ?`,
  update: `UPDATE templates SET name = ?, subject = ?, html = ?, text = ?, updated_at = ?
    WHERE id = ? RETURNING *`,
  delete: `DELETE FROM templates WHERE id = ?`,
} as const;

/** A patch field: absent keeps the stored value, null clears it. */
function patched(stored: string | null, value: string | null | undefined): string | null {
  return value === undefined ? stored : value;
}

export class SqliteTemplateStore implements TemplateStore {
  constructor(private readonly cache: StatementCache) {}

  create(template: Template): Promise<Template> {
    return promised(
      () => {
        this.cache
          .get(SQL.insert)
          .run(
            template.id,
            template.name,
            template.subject,
            template.html ?? null,
            template.text ?? null,
            template.createdAt,
            template.updatedAt,
          );
        return { ...template };
      },
      { id: template.id, name: template.name },
    );
  }

  get(id: string): Promise<Template | undefined> {
    return promised(() => {
      const row = this.cache.get<TemplateRow>(SQL.get).get(id);
      return row ? templateFromRow(row) : undefined;
    });
  }

  /** In the order asked; unknown ids are left out. */
  getMany(ids: string[]): Promise<Template[]> {
    return promised(() => {
      const rows = this.cache.get<TemplateRow>(SQL.getMany).all(JSON.stringify(ids));
      const byId = new Map(rows.map((row) => [row.id, templateFromRow(row)]));
      return [...new Set(ids)].flatMap((id) => byId.get(id) ?? []);
    });
  }

  list(query: PageQuery): Promise<Page<Template>> {
    return promised(() => {
      const rows = this.cache.get<TemplateRow>(SQL.page).all(afterCursor(query), fetchSize(query));
      return toPage(rows.map(templateFromRow), query);
    });
  }

  update(id: string, patch: TemplatePatch): Promise<Template | undefined> {
    const run = this.cache.transaction(() => {
      const stored = this.cache.get<TemplateRow>(SQL.get).get(id);
      if (!stored) return undefined;
      const row = this.cache
        .get<TemplateRow>(SQL.update)
        .get(
          patch.name ?? stored.name,
          patch.subject ?? stored.subject,
          patched(stored.html, patch.html),
          patched(stored.text, patch.text),
          patch.at,
          id,
        );
      return row ? templateFromRow(row) : undefined;
    });
    return promised(() => run.immediate(), { name: patch.name });
  }

  delete(id: string): Promise<boolean> {
    return promised(() => this.cache.get(SQL.delete).run(id).changes > 0);
  }
}
