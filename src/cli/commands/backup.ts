import type { Command } from 'commander';
import { resolve } from 'node:path';
import { parseDatabaseUrl, redactDatabaseUrl } from '../../store/open-store.js';
import { CONFIG_FLAG, CONFIG_HELP, configFrom } from './shared.js';

/**
 * `sluice backup <file>`: SQLite's online backup of the configured database
 * (safe while Sluice runs). For PostgreSQL the tool is pg_dump (or the
 * provider's backups); the command says so and exits 2 without writing.
 */
export function registerBackup(program: Command): void {
  program
    .command('backup')
    .description(
      'copy the SQLite database to <file> while Sluice runs (online backup); for PostgreSQL, use pg_dump',
    )
    .argument('<file>', 'where to write the copy')
    .option('--force', 'overwrite <file> if it exists')
    .option(CONFIG_FLAG, CONFIG_HELP)
    .action(async (file: string, options: { config?: string; force?: boolean }) => {
      const config = configFrom(options);
      const target = parseDatabaseUrl(config.database.url);
      if (target.dialect === 'postgres') {
        process.stderr.write(
          `sluice: the database is PostgreSQL; back it up with pg_dump (or your provider's backups and point-in-time recovery):\n` +
            `  pg_dump --format=custom --file ${file} '${redactDatabaseUrl(config.database.url)}'\n` +
            `restore into an empty database with pg_restore --no-owner --dbname <url> ${file} (docs/operations.md#backup-and-restore)\n`,
        );
        process.exitCode = 2;
        return;
      }
      if (target.path === ':memory:') {
        process.stderr.write('sluice: an in-memory database cannot be backed up\n');
        process.exitCode = 2;
        return;
      }
      const { backupSqlite } = await import('../../store/sqlite/backup.js');
      const started = Date.now();
      const result = await backupSqlite(target.path, resolve(file), {
        ...(options.force ? { force: true } : {}),
      });
      process.stdout.write(
        `backed up ${target.path} to ${resolve(file)}: ${result.pages} pages, ${(result.bytes / 1_048_576).toFixed(1)} MB in ${Date.now() - started} ms\n`,
      );
    });
}
