import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { createLogger } from '../../observability/logger.js';
import { startCaptureRelay } from '../../sink/capture-relay.js';

export function registerSink(program: Command): void {
  program
    .command('sink')
    .description(
      'run only the capture relay: an SMTP server that accepts every message and logs it',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'SMTP port', parseInteger('--port'), 2525)
    .option('--keep <n>', 'messages kept in memory', parseInteger('--keep'), 1000)
    .action(async (options: { host: string; port: number; keep: number }) => {
      const logger = createLogger('info');
      const sink = await startCaptureRelay({ ...options, logger });
      process.stdout.write(`capture relay listening on smtp://${options.host}:${sink.port}\n`);
      const stop = () => {
        sink.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
}

function parseInteger(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`${flag} must be a whole number, got "${value}"`);
    return n;
  };
}
