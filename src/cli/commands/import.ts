/**
 * `sluice import contacts.csv --list newsletter`: the contacts importer
 * (src/import/contact-import.ts) run straight against the configured
 * database, no server needed. Progress goes to stderr (rewritten in place
 * on a terminal, a line every few seconds otherwise), the summary to stdout
 * (as JSON with --json). Exit code 1 only when not one row was imported;
 * an unusable header or file is a user error (exit 2).
 */
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { extname } from 'node:path';
import type { Command } from 'commander';
import { systemClock } from '../../core/clock.js';
import { SluiceError } from '../../core/errors.js';
import {
  IMPORT_FORMATS,
  importContacts,
  resolveImportList,
  type ImportFormat,
  type ImportProgress,
  type ImportSummary,
} from '../../import/contact-import.js';
import { openStore } from '../../store/open-store.js';
import { CONFIG_FLAG, CONFIG_HELP, configFrom } from './shared.js';

interface ImportOptions {
  list?: string;
  format?: string;
  json?: boolean;
  config?: string;
}

/** Progress lines when stderr is not a terminal: often enough to see it move, rarely enough for a log. */
const LOG_PROGRESS_EVERY_MS = 5_000;
/** On a terminal the line is rewritten in place; more often would only flicker. */
const TTY_PROGRESS_EVERY_MS = 250;

export function registerImport(program: Command): void {
  program
    .command('import')
    .description(
      'import contacts from a CSV or NDJSON file (upsert by email) into the configured database',
    )
    .argument('<file>', 'the file; - reads standard input')
    .option(
      '-l, --list <list>',
      'add the contacts to this list (id or name; a new name creates it)',
    )
    .option('-f, --format <format>', 'csv or ndjson (default: from the file name, else csv)')
    .option('--json', 'print the summary as JSON')
    .option(CONFIG_FLAG, CONFIG_HELP)
    .action(async (file: string, options: ImportOptions) => {
      const config = configFrom(options);
      const format = formatFor(file, options.format);
      if (file !== '-') await readable(file);
      const store = await openStore(config.database.url, { poolSize: 2 });
      try {
        await store.migrate();
        const started = performance.now();
        const at = systemClock.now();
        const list = options.list ? await resolveImportList(store, options.list, at) : undefined;
        const progress = progressLine(started);
        const source = file === '-' ? process.stdin : createReadStream(file);
        const summary = await importContacts(store, source, {
          format,
          at,
          ...(list ? { listId: list.id } : {}),
          onProgress: (p) => progress.update(p),
        });
        progress.done(summary);
        const seconds = (performance.now() - started) / 1000;
        process.stdout.write(
          options.json
            ? JSON.stringify({ ...summary, seconds }) + '\n'
            : summaryText(summary, seconds, options.list),
        );
        if (summary.imported === 0) process.exitCode = 1;
      } finally {
        await store.close();
      }
    });
}

function formatFor(file: string, given: string | undefined): ImportFormat {
  if (given !== undefined) {
    const format = IMPORT_FORMATS.find((f) => f === given.toLowerCase());
    if (!format) {
      throw new SluiceError('ERR_IMPORT_FORMAT', `--format must be csv or ndjson, not "${given}"`, {
        field: 'format',
      });
    }
    return format;
  }
  const extension = extname(file).toLowerCase();
  return extension === '.ndjson' || extension === '.jsonl' ? 'ndjson' : 'csv';
}

async function readable(file: string): Promise<void> {
  try {
    await access(file);
  } catch {
    throw new SluiceError('ERR_NOT_FOUND', `cannot read ${file}: no such file`, { field: 'file' });
  }
}

function progressLine(started: number) {
  const tty = process.stderr.isTTY;
  const every = tty ? TTY_PROGRESS_EVERY_MS : LOG_PROGRESS_EVERY_MS;
  let last = started;
  const line = (p: ImportProgress, now: number): string => {
    const seconds = Math.max((now - started) / 1000, 0.001);
    const rate = Math.round(p.rows / seconds);
    return `${fmt(p.rows)} rows read, ${fmt(p.imported)} imported, ${fmt(p.skipped)} errors, ${fmt(rate)} rows/s`;
  };
  return {
    update(p: ImportProgress): void {
      const now = performance.now();
      if (now - last < every) return;
      last = now;
      process.stderr.write(tty ? `\r\x1b[2K${line(p, now)}` : `${line(p, now)}\n`);
    },
    done(summary: ImportSummary): void {
      const rows = summary.imported + summary.skipped;
      const text = `${line({ rows, imported: summary.imported, skipped: summary.skipped }, performance.now())}, done`;
      process.stderr.write(tty ? `\r\x1b[2K${text}\n` : `${text}\n`);
    },
  };
}

function summaryText(summary: ImportSummary, seconds: number, list: string | undefined): string {
  const into = list ? ` into list ${list} (${summary.listId})` : '';
  const lines = [
    `imported ${fmt(summary.imported)} rows${into} in ${seconds.toFixed(1)} s: ` +
      `${fmt(summary.created)} contacts created, ${fmt(summary.updated)} updated, ` +
      `${fmt(summary.skipped)} rows skipped`,
  ];
  for (const error of summary.errors) {
    lines.push(`  line ${error.line}${error.field ? ` (${error.field})` : ''}: ${error.reason}`);
  }
  if (summary.skipped > summary.errors.length) {
    lines.push(`  … and ${fmt(summary.skipped - summary.errors.length)} more`);
  }
  return lines.join('\n') + '\n';
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
