/**
 * One contacts import in a process of its own, so that its peak RSS is the
 * import's. Prints {rows, seconds, peakRssMb, cpuSeconds, summary} as JSON.
 *
 *   node dist/bench/import-child.js <database url> <file> <csv|ndjson> [schema]
 *   node dist/bench/import-child.js parse-only <file>   (the CSV reader alone)
 */
import { createReadStream } from 'node:fs';
import { CsvReader, type CsvRecord } from '../src/core/csv-reader.js';
import { importContacts, resolveImportList } from '../src/import/contact-import.js';
import { openStore } from '../src/store/open-store.js';

const [url = '', file = '', format = 'csv', schema] = process.argv.slice(2);
const started = performance.now();
const cpu = process.cpuUsage();

async function parseOnly(): Promise<number> {
  const reader = new CsvReader();
  const out: CsvRecord[] = [];
  const decoder = new TextDecoder();
  let rows = 0;
  for await (const chunk of createReadStream(file)) {
    reader.push(decoder.decode(chunk as Buffer, { stream: true }), out);
    rows += out.length;
    out.length = 0;
  }
  reader.end(out);
  return rows + out.length - 1;
}

async function importFile(): Promise<{ rows: number; summary: unknown }> {
  const store = await openStore(url, { poolSize: 2, ...(schema ? { schema } : {}) });
  try {
    await store.migrate();
    const list = await resolveImportList(store, 'bench', Date.now());
    const summary = await importContacts(store, createReadStream(file), {
      format: format === 'ndjson' ? 'ndjson' : 'csv',
      at: Date.now(),
      listId: list.id,
      // SLUICE_BENCH_IMPORT_WINDOW: rows sorted together (WINDOW_SIZE by default).
      ...(process.env.SLUICE_BENCH_IMPORT_WINDOW
        ? { windowSize: Number(process.env.SLUICE_BENCH_IMPORT_WINDOW) }
        : {}),
    });
    return { rows: summary.imported + summary.skipped, summary };
  } finally {
    await store.close();
  }
}

const result = url === 'parse-only' ? { rows: await parseOnly(), summary: {} } : await importFile();
const used = process.cpuUsage(cpu);
console.log(
  JSON.stringify({
    ...result,
    seconds: (performance.now() - started) / 1000,
    cpuSeconds: (used.user + used.system) / 1e6,
    // maxRSS is in KiB: the high-water mark of the whole process.
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  }),
);
