import type { ApiKeyRecord, ApiKeyStore } from '../../core/ports/store.js';
import { apiKeyFromRow, type ApiKeyRow } from '../rows.js';
import type { PgDatabase } from './pg-database.js';

const SQL = {
  insert: `INSERT INTO api_keys (id, name, hash, prefix, created_at, revoked_at)
    VALUES ($1, $2, $3, $4, $5, $6)`,
  findByHash: `SELECT * FROM api_keys WHERE hash = $1`,
  countActive: `SELECT count(*) AS n FROM api_keys WHERE revoked_at IS NULL`,
} as const;

export class PgApiKeyStore implements ApiKeyStore {
  constructor(private readonly db: PgDatabase) {}

  async create(key: ApiKeyRecord): Promise<void> {
    await this.db.query(SQL.insert, [
      key.id,
      key.name,
      key.hash,
      key.prefix,
      key.createdAt,
      key.revokedAt ?? null,
    ]);
  }

  /** Revoked keys are returned too (with revokedAt): the caller tells "revoked" from "unknown". */
  async findByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    const [row] = await this.db.rows<ApiKeyRow>(SQL.findByHash, [hash], 'sluice_api_key_by_hash');
    return row ? apiKeyFromRow(row) : undefined;
  }

  async countActive(): Promise<number> {
    const [row] = await this.db.rows<{ n: number }>(SQL.countActive);
    return Number(row?.n ?? 0);
  }
}
