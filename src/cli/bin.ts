#!/usr/bin/env node
/**
 * The `sluice` command. Each subcommand lives in src/cli/commands/.
 * Expected failures (a bad configuration, an unreachable database) end with
 * one line on stderr and exit code 2; anything else is a bug and shows its stack.
 */
import { Command } from 'commander';
import { isSluiceError } from '../core/errors.js';
import { ConfigError } from '../config/load.js';
import { registerBackup } from './commands/backup.js';
import { registerBounceCheck } from './commands/bounce-check.js';
import { registerConfigCommands } from './commands/config.js';
import { registerImport } from './commands/import.js';
import { registerMigrate } from './commands/migrate.js';
import { registerOpenapi } from './commands/openapi.js';
import { registerServe } from './commands/serve.js';
import { registerSink } from './commands/sink.js';

const program = new Command()
  .name('sluice')
  .description(
    'Self-hosted email delivery: campaigns and triggered mail through a farm of SMTP relays.',
  )
  .showHelpAfterError();

registerServe(program);
registerMigrate(program);
registerImport(program);
registerSink(program);
registerOpenapi(program);
registerConfigCommands(program);
registerBounceCheck(program);
registerBackup(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ConfigError || isSluiceError(error)) {
    process.stderr.write(`sluice: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`sluice: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
