import type { ApiKeyRecord, ApiKeyStore } from '../../core/ports/store.js';
import { apiKeyFromRow, type ApiKeyRow } from '../rows.js';
import { promised } from './sqlite-errors.js';
import type { StatementCache } from './statement-cache.js';

const SQL = {
  insert: `INSERT INTO api_keys (id, name, hash, prefix, created_at, revoked_at)
    VALUES (?, ?, ?, ?, ?, ?)`,
  findByHash: `SELECT * FROM api_keys WHERE hash = ?`,
  countActive: `SELECT count(*) AS n FROM api_keys WHERE revoked_at IS NULL`,
} as const;

export class SqliteApiKeyStore implements ApiKeyStore {
  constructor(private readonly cache: StatementCache) {}

  create(key: ApiKeyRecord): Promise<void> {
    return promised(
      () => {
        this.cache
          .get(SQL.insert)
          .run(key.id, key.name, key.hash, key.prefix, key.createdAt, key.revokedAt ?? null);
      },
      { id: key.id, hash: key.hash },
    );
  }

  /** Revoked keys are returned too (with revokedAt): the caller tells "revoked" from "unknown". */
  findByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    return promised(() => {
      const row = this.cache.get<ApiKeyRow>(SQL.findByHash).get(hash);
      return row ? apiKeyFromRow(row) : undefined;
    });
  }

  countActive(): Promise<number> {
    return promised(() => this.cache.get<{ n: number }>(SQL.countActive).get()?.n ?? 0);
  }
}
