/**
 * The first admin API key. With `auth.adminApiKey` (SLUICE_ADMIN_API_KEY) the
 * chosen key is stored (hashed) if it is not there yet. Otherwise, on a first
 * start with no active key, a key is generated, stored hashed, written to
 * `<dataDir>/admin-api-key` with mode 0600 and returned so that the caller
 * prints it once. The key itself is never logged.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { apiKeyDisplayPrefix, generateApiKey, hashApiKey } from './core/api-keys.js';
import type { Clock } from './core/clock.js';
import { newId } from './core/ids.js';
import type { Store } from './core/ports/store.js';

export interface AdminKeyOutcome {
  /** Set only when a key was generated now: print it once. */
  generated?: { key: string; file: string };
  seeded: boolean;
}

export async function ensureAdminKey(
  store: Store,
  options: { adminApiKey?: string; dataDir: string },
  clock: Clock,
): Promise<AdminKeyOutcome> {
  if (options.adminApiKey) {
    const hash = hashApiKey(options.adminApiKey);
    if (!(await store.apiKeys.findByHash(hash))) {
      await store.apiKeys.create({
        id: newId('apiKey'),
        name: 'admin (seeded)',
        hash,
        prefix: apiKeyDisplayPrefix(options.adminApiKey),
        createdAt: clock.now(),
      });
    }
    return { seeded: true };
  }
  if ((await store.apiKeys.countActive()) > 0) return { seeded: false };
  const key = generateApiKey();
  const dir = resolve(options.dataDir);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'admin-api-key');
  // Written before it is stored: if the write fails, no key exists that nobody knows.
  writeFileSync(file, key + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  await store.apiKeys.create({
    id: newId('apiKey'),
    name: 'admin',
    hash: hashApiKey(key),
    prefix: apiKeyDisplayPrefix(key),
    createdAt: clock.now(),
  });
  return { generated: { key, file }, seeded: false };
}
