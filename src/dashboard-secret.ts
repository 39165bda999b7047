/**
 * The key that signs dashboard sessions: `dashboard.sessionSecret` when
 * configured (needed for sessions valid on several nodes), otherwise one
 * generated on the first start and kept in `<dataDir>/dashboard-session-secret`
 * (mode 0600), so a restart does not sign everyone out.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const FILE = 'dashboard-session-secret';
const MIN_LENGTH = 32;

export function dashboardSessionSecret(options: {
  sessionSecret?: string;
  dataDir: string;
}): string {
  if (options.sessionSecret) return options.sessionSecret;
  const dir = resolve(options.dataDir);
  const file = join(dir, FILE);
  try {
    const kept = readFileSync(file, 'utf8').trim();
    if (kept.length >= MIN_LENGTH) return kept;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, secret + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return secret;
}
