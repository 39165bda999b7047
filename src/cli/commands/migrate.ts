import type { Command } from 'commander';
import { openStore, redactDatabaseUrl } from '../../store/open-store.js';
import { CONFIG_FLAG, CONFIG_HELP, configFrom } from './shared.js';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations and exit (serve also applies them at start)')
    .option(CONFIG_FLAG, CONFIG_HELP)
    .action(async (options: { config?: string }) => {
      const config = configFrom(options);
      const store = await openStore(config.database.url, { poolSize: 1 });
      try {
        const applied = await store.migrate();
        const where = redactDatabaseUrl(config.database.url);
        process.stdout.write(
          applied.length
            ? `applied ${applied.length} migration(s) to ${where}: ${applied.join(', ')}\n`
            : `${where} is up to date\n`,
        );
      } finally {
        await store.close();
      }
    });
}
