/**
 * The background checkpointer's thread (./checkpointer.ts): its own
 * connection to the database file, copying WAL pages back into the file
 * with PASSIVE checkpoints, which never wait for the writer on the main
 * thread and never make it wait. Messages: 'checkpoint' runs one now;
 * 'stop' closes the connection and ends the thread; `{ kind: 'query' }`
 * runs a read (an aggregate over a whole table, which would hold the main
 * thread's event loop for as long) and answers with its rows. Reports each
 * checkpoint's result, or its error, to the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { errorMessage } from '../../core/errors.js';

interface Options {
  path: string;
  intervalMs: number;
}

const port = parentPort;
if (!port) throw new Error('checkpoint-worker.js runs as a worker thread');
const { path, intervalMs } = workerData as Options;
const db = new Database(path);
db.pragma('busy_timeout = 5000');
// FULL: the WAL is fsynced before pages are copied, the file after.
db.pragma('synchronous = FULL');

interface CheckpointRow {
  busy: number;
  log: number;
  checkpointed: number;
}

function checkpoint(): void {
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)') as CheckpointRow[];
    port?.postMessage({ kind: 'checkpointed', log: row?.log ?? 0, copied: row?.checkpointed ?? 0 });
  } catch (error) {
    port?.postMessage({
      kind: 'error',
      message: errorMessage(error),
    });
  }
}

/** A read asked for by the main thread (BackgroundCheckpointer.query). */
interface Query {
  kind: 'query';
  id: number;
  sql: string;
  params: unknown[];
}

const statements = new Map<string, Database.Statement>();

function query({ id, sql, params }: Query): void {
  try {
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      if (!statement.readonly) throw new Error('only reads run on the checkpoint thread');
      statements.set(sql, statement);
    }
    port?.postMessage({ kind: 'rows', id, rows: statement.all(...params) });
  } catch (error) {
    port?.postMessage({ kind: 'query-failed', id, message: errorMessage(error) });
  }
}

const timer = setInterval(checkpoint, intervalMs);
port.on('message', (message: unknown) => {
  if (typeof message === 'object' && message !== null && (message as Query).kind === 'query') {
    query(message as Query);
  }
  if (message === 'checkpoint') checkpoint();
  if (message === 'stop') {
    clearInterval(timer);
    db.close();
    port.close();
  }
});
port.postMessage({ kind: 'ready' });
