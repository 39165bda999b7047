import type { Command } from 'commander';
import { relative } from 'node:path';
import { startSluice, type RunningSluice } from '../../main.js';
import { CONFIG_FLAG, CONFIG_HELP, configFrom } from './shared.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run Sluice: the HTTP API, the delivery worker and, by default, the capture relay')
    .option(CONFIG_FLAG, CONFIG_HELP)
    .action(async (options: { config?: string }) => {
      const sluice = await startSluice(configFrom(options));
      process.stdout.write(banner(sluice));
      handleSignals(sluice);
    });
}

/** SIGTERM/SIGINT stop gracefully; a second signal exits at once. */
function handleSignals(sluice: RunningSluice): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      sluice.logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    stopping = true;
    sluice.logger.info({ signal }, 'shutting down');
    sluice.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        sluice.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

function banner(sluice: RunningSluice): string {
  const base = sluice.config.http.publicUrl?.replace(/\/$/, '') ?? sluice.url;
  const lines = [
    '',
    'Sluice is running.',
    ...(sluice.config.dashboard?.enabled !== false && sluice.config.node?.role !== 'worker'
      ? [`  Dashboard      ${base}/ui`]
      : []),
    `  API            ${base}/v1`,
    `  API docs       ${base}/docs`,
  ];
  if (sluice.config.sink.enabled) {
    lines.push(
      `  Captured mail  ${base}/v1/sink/messages   (capture relay: smtp://${sluice.config.sink.host}:${sluice.config.sink.port})`,
    );
  }
  lines.push(`  Metrics        ${base}/metrics`, `  Health         ${base}/readyz`);
  const generated = sluice.adminKey.generated;
  if (generated) {
    const file = relative(process.cwd(), generated.file) || generated.file;
    lines.push(
      '',
      `  Admin API key  ${generated.key}`,
      `                 (shown once; also saved to ${file}, mode 0600)`,
      '',
      'Send a test message:',
      `  curl -s -X POST ${base}/v1/messages \\`,
      `    -H "Authorization: Bearer $(cat ${file})" -H 'Content-Type: application/json' \\`,
      `    -d '{"from":"hello@example.com","to":"you@example.com","subject":"Hi {{ name }}","text":"It works.","variables":{"name":"there"}}'`,
    );
  }
  return lines.join('\n') + '\n\n';
}
