/**
 * Bearer API keys for /v1/*.
 *
 * The key is hashed (SHA-256, see core/api-keys.ts) and looked up by hash.
 * Positive lookups are cached for a short time so that a busy sender does
 * not cost a database round trip per request; the price is that a revoked
 * key keeps working for up to CACHE_TTL_MS on a process that saw it
 * recently. Unknown keys are never cached (a flood of bad keys cannot evict
 * good ones, and a key created a moment ago works at once).
 */
import type { FastifyRequest } from 'fastify';
import { hashApiKey } from '../core/api-keys.js';
import type { Clock } from '../core/clock.js';
import { SluiceError } from '../core/errors.js';
import type { ApiKeyRecord, ApiKeyStore } from '../core/ports/store.js';

/** How long a verified key is trusted without asking the store again. */
export const CACHE_TTL_MS = 30_000;
/** Distinct keys remembered; a deployment has a handful, this is a safety bound. */
export const CACHE_MAX_ENTRIES = 1_000;

declare module 'fastify' {
  interface FastifyRequest {
    /** The id of the API key the request came with; set on /v1 routes. */
    apiKeyId: string;
  }
}

export class ApiKeyVerifier {
  private readonly cache = new Map<string, { record: ApiKeyRecord; expiresAt: number }>();

  constructor(
    /** Read lazily: the store may be a stand-in that is never used (openapiDocument). */
    private readonly store: { readonly apiKeys: Pick<ApiKeyStore, 'findByHash'> },
    private readonly clock: Clock,
  ) {}

  /** The key record for an `Authorization` header value; throws a 401 error otherwise. */
  async verify(authorization: string | undefined): Promise<ApiKeyRecord> {
    const key = bearerToken(authorization);
    if (key === undefined) {
      throw new SluiceError(
        'ERR_AUTH_REQUIRED',
        'Send the API key as "Authorization: Bearer <key>".',
      );
    }
    const hash = hashApiKey(key);
    const now = this.clock.now();
    const cached = this.cache.get(hash);
    if (cached && cached.expiresAt > now) return cached.record;
    if (cached) this.cache.delete(hash);

    const record = await this.store.apiKeys.findByHash(hash);
    if (!record || record.revokedAt !== undefined) {
      throw new SluiceError('ERR_AUTH_INVALID', 'The API key is unknown or revoked.');
    }
    if (this.cache.size >= CACHE_MAX_ENTRIES) {
      // Map keeps insertion order: drop the oldest entry.
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(hash, { record, expiresAt: now + CACHE_TTL_MS });
    return record;
  }

  /** An onRequest hook that authenticates and records the key id on the request. */
  hook() {
    return async (request: FastifyRequest): Promise<void> => {
      const record = await this.verify(request.headers.authorization);
      request.apiKeyId = record.id;
    };
  }
}

function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}
