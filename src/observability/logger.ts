/**
 * The process logger: pino, JSON lines on stdout. Secrets are redacted by
 * path wherever they could appear (request headers, relay credentials, the
 * admin key); the database URL is logged only through `redactDatabaseUrl`.
 */
import { pino, type Logger } from 'pino';

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'password',
  'pass',
  'apiKey',
  'adminApiKey',
  '*.password',
  '*.pass',
  '*.apiKey',
  '*.adminApiKey',
  'auth.pass',
  'relay.auth.pass',
  'config.auth',
  'config.relays[*].auth',
  'config.tracking.secret',
  'tracking.secret',
  'secret',
  '*.secret',
  'sessionSecret',
  '*.sessionSecret',
  'config.dashboard.sessionSecret',
  'config.alerts.webhooks[*].secret',
];

export function createLogger(
  level: string,
  destination?: pino.DestinationStream,
  base: Record<string, unknown> = {},
): Logger {
  return pino(
    {
      level,
      base: { ...base, pid: process.pid },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

export type { Logger };
