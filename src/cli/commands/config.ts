import type { Command } from 'commander';
import { configReference } from '../../config/docs.js';
import { redactDatabaseUrl } from '../../store/open-store.js';
import { CONFIG_FLAG, CONFIG_HELP, configFrom } from './shared.js';

export function registerConfigCommands(program: Command): void {
  program
    .command('config-check')
    .description(
      'validate the configuration and print it as Sluice understands it (secrets masked)',
    )
    .option(CONFIG_FLAG, CONFIG_HELP)
    .action((options: { config?: string }) => {
      const config = configFrom(options);
      const shown = {
        ...config,
        database: { ...config.database, url: redactDatabaseUrl(config.database.url) },
        auth: config.auth.adminApiKey ? { adminApiKey: '[redacted]' } : {},
        relays: config.relays.map((r) =>
          r.auth ? { ...r, auth: { user: r.auth.user, pass: '[redacted]' } } : r,
        ),
        ...(config.tracking?.secret
          ? { tracking: { ...config.tracking, secret: '[redacted]' } }
          : {}),
        ...(config.dashboard?.sessionSecret
          ? { dashboard: { ...config.dashboard, sessionSecret: '[redacted]' } }
          : {}),
        ...(config.alerts
          ? {
              alerts: {
                ...config.alerts,
                webhooks: config.alerts.webhooks.map((w) => ({ ...w, secret: '[redacted]' })),
              },
            }
          : {}),
      };
      process.stdout.write(JSON.stringify(shown, null, 2) + '\n');
    });
  program
    .command('config-docs')
    .description(
      'print the configuration reference table generated from the schema (docs/configuration.md)',
    )
    .action(() => {
      process.stdout.write(configReference());
    });
}
