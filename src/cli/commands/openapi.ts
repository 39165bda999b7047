import type { Command } from 'commander';
import { openapiDocument } from '../../http/app.js';
import { CONFIG_FLAG, CONFIG_HELP, configFrom } from './shared.js';

export function registerOpenapi(program: Command): void {
  program
    .command('openapi')
    .description('print the OpenAPI document of the HTTP API (also served at /openapi.json)')
    .option(CONFIG_FLAG, CONFIG_HELP)
    .action(async (options: { config?: string }) => {
      const document = await openapiDocument(configFrom(options));
      process.stdout.write(JSON.stringify(document, null, 2) + '\n');
    });
}
