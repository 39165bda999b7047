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

export interface CheckpointerOptions {
  path: string;
  /** How often the thread checkpoints. */
  intervalMs: number;
  /** Told when a checkpoint fails or the thread ends unexpectedly. */
  onError: (message: string) => void;
}

export class BackgroundCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private stopping = false;
  /** Pages copied back so far (for tests). */
  copied = 0;
  checkpoints = 0;

  private constructor(worker: Worker, onError: (message: string) => void) {
    this.worker = worker;
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (message: { kind: string; copied?: number; message?: string }) => {
      if (message.kind === 'checkpointed') {
        this.checkpoints += 1;
        this.copied += message.copied ?? 0;
      } else if (message.kind === 'error') onError(`WAL checkpoint failed: ${message.message}`);
    });
    worker.on('error', (error) => onError(`the checkpoint thread failed: ${error.message}`));
    worker.once('exit', (code) => {
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
