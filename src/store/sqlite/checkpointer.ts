/**
 * Checkpoints off the event loop. In WAL mode SQLite copies the WAL's pages
 * back into the database file at a checkpoint, and by default the
 * connection that commits past `wal_autocheckpoint` pages does it, inside
 * that commit: on the one thread that also serves the API and drives the
 * SMTP sockets. At 20,000 pages that held the loop for 30–120 ms every few
 * thousand triggered sends (bench/triggers: the event loop's max delay), a
 * stall every email queued behind it waits out.
 *
 * So the server's store runs a worker thread with its own connection
 * (./checkpoint-worker.ts) that makes a PASSIVE checkpoint every
 * `intervalMs`: it copies the frames written since the last one without
 * waiting for the writer or making it wait. Under a steady load it never
 * catches up completely (the writer appends meanwhile), and only a
 * checkpoint that finds nothing left to copy lets the writer start the WAL
 * over; so the main connection keeps its `wal_autocheckpoint`, but when it
 * fires, the frames not yet copied are those of the last interval, not of
 * the last 20,000 pages: a small checkpoint, after which the WAL restarts.
 * Should the thread die, the main connection checkpoints as before (and the
 * error is logged). Durability is unchanged: commits are fsynced to the WAL
 * as before; a checkpoint only moves pages that are already durable.
 */
import { Worker } from 'node:worker_threads';
import { unavailableError } from '../store-errors.js';

export interface CheckpointerOptions {
  path: string;
  /** How often the thread checkpoints. */
  intervalMs: number;
  /** Told when a checkpoint fails or the thread ends unexpectedly. */
  onError: (message: string) => void;
}

interface WorkerMessage {
  kind: 'ready' | 'checkpointed' | 'error' | 'rows' | 'query-failed';
  copied?: number;
  message?: string;
  id?: number;
  rows?: unknown[];
}

export class BackgroundCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private stopping = false;
  private running = true;
  /** Reads sent to the thread and not answered yet, by id. */
  private readonly pending = new Map<
    number,
    { resolve: (rows: unknown[]) => void; reject: (error: Error) => void }
  >();
  private nextQuery = 1;
  /** Reads answered on the thread (for tests). */
  reads = 0;
  /** Pages copied back so far (for tests). */
  copied = 0;
  checkpoints = 0;

  private constructor(worker: Worker, onError: (message: string) => void) {
    this.worker = worker;
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (message: WorkerMessage) => {
      if (message.kind === 'checkpointed') {
        this.checkpoints += 1;
        this.copied += message.copied ?? 0;
      } else if (message.kind === 'error') onError(`WAL checkpoint failed: ${message.message}`);
      else if (message.kind === 'rows' || message.kind === 'query-failed') this.answer(message);
    });
    worker.on('error', (error) => onError(`the checkpoint thread failed: ${error.message}`));
    worker.once('exit', (code) => {
      this.running = false;
      for (const { reject } of this.pending.values()) {
        reject(unavailableError('the checkpoint thread ended before it answered'));
      }
      this.pending.clear();
      if (!this.stopping) onError(`the checkpoint thread exited (${code})`);
    });
    // It must not keep a CLI command or a test alive.
    worker.unref();
  }

  /** Starts the thread; resolves once its connection is open. */
  static async start(options: CheckpointerOptions): Promise<BackgroundCheckpointer> {
    const worker = new Worker(new URL('./checkpoint-worker.js', import.meta.url), {
      workerData: { path: options.path, intervalMs: options.intervalMs },
    });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (message: { kind: string }): void => {
        if (message.kind !== 'ready') return;
        worker.off('message', onMessage);
        worker.off('error', reject);
        resolve();
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    return new BackgroundCheckpointer(worker, options.onError);
  }

  /**
   * Runs a read on the thread's connection and resolves with its rows:
   * for aggregates over whole tables (metrics), which hold the event loop
   * for as long as they take when run on the main connection (60 ms for a
   * count by status over 1M messages). It sees what is committed, not the
   * main connection's open transaction. Undefined once the thread is
   * stopping or gone: the caller reads on its own connection instead.
   */
  query<R>(sql: string, params: unknown[] = []): Promise<R[]> | undefined {
    if (!this.running || this.stopping) return undefined;
    const id = this.nextQuery++;
    // An answer on its way keeps the process alive (the thread is unref'd otherwise).
    if (this.pending.size === 0) this.worker.ref();
    return new Promise<R[]>((resolve, reject) => {
      this.pending.set(id, { resolve: (rows) => resolve(rows as R[]), reject });
      this.worker.postMessage({ kind: 'query', id, sql, params });
    });
  }

  private answer(message: WorkerMessage): void {
    const waiter = message.id === undefined ? undefined : this.pending.get(message.id);
    if (!waiter || message.id === undefined) return;
    this.pending.delete(message.id);
    if (this.pending.size === 0 && !this.stopping) this.worker.unref();
    this.reads += 1;
    if (message.kind === 'rows') waiter.resolve(message.rows ?? []);
    else waiter.reject(new Error(`a read on the checkpoint thread failed: ${message.message}`));
  }

  /** Asks for a checkpoint now (tests; the timer does it otherwise). */
  checkpointNow(): void {
    this.worker.postMessage('checkpoint');
  }

  /** Ends the thread and closes its connection. */
  async stop(): Promise<void> {
    if (this.stopping) return this.exited;
    this.stopping = true;
    // Held again until it has closed its connection: the caller waits for that.
    this.worker.ref();
    this.worker.postMessage('stop');
    await this.exited;
  }
}
