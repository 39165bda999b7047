/**
 * Durable commits without waiting for the disk on the event loop.
 *
 * With `synchronous=FULL`, SQLite fsyncs the WAL inside COMMIT, and
 * better-sqlite3 runs COMMIT on the calling thread: the one thread that also
 * parses HTTP requests and drives the SMTP sockets sits in fsync (0.7 ms at
 * the median on this project's virtual disk, 4 ms at p99) once per events
 * batch and once per accept batch. bench/triggers measured that at 12 – 19 %
 * of the event loop at 500 – 1,000 events/s.
 *
 * Here a durable write commits with `synchronous=NORMAL` (its frames reach
 * the WAL file through the page cache, no fsync: ./deferred-commit.ts), and
 * its caller is answered only once an fdatasync of the WAL file, run on
 * libuv's thread pool, has finished after that commit. fdatasync flushes
 * every written page of the file, whichever descriptor wrote it, so once it
 * returns the commit is on disk as surely as FULL would have made it:
 *
 *   commit A (NORMAL) ─► sync() ──► fdatasync starts ──► done: A is durable ─► A's caller answered
 *   commit B (NORMAL) ─► sync() ─┘ (B was written before it started: the same fdatasync covers B)
 *   commit C (NORMAL, while that fdatasync runs) ─► sync() ─► waits for the next fdatasync
 *
 * Requests made while an fdatasync runs share the next one: one fdatasync
 * per batch of batches, like a group commit of the disk.
 *
 * What changes: between its COMMIT and the end of the fdatasync (about a
 * millisecond), a write is visible to this process's other work (the worker
 * may claim an accepted message and send it) while a power cut could still
 * undo it. Its caller has not been answered, so it retries: with its
 * idempotency key it gets the message that was sent, or, the row being
 * gone, a second one: at least once, as after any crash (docs/storage.md).
 * A crash of the process loses nothing: the operating system holds the
 * pages.
 *
 * Checkpoints stay safe: a checkpoint fsyncs the WAL before copying frames
 * and the database after (with NORMAL or FULL alike), so the WAL is only
 * restarted over frames that are already in a durable database file.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { errorMessage } from '../../core/errors.js';
import { unavailableError } from '../store-errors.js';

export class WalSync {
  /** The fdatasync running now, if any. */
  private running: Promise<void> | undefined;
  /** The fdatasync that starts once the running one ends, shared by everyone who asked meanwhile. */
  private queued: Promise<void> | undefined;
  /**
   * The WAL file, opened at the first sync and kept until close(): SQLite
   * deletes and makes the WAL anew only when the last connection to the
   * database closes, and the store's own connection stays open until after
   * close(). Opening and closing it at every sync cost ~20 µs of the event
   * loop per triggered email (two more round trips through the thread pool).
   */
  private handle: Promise<FileHandle> | undefined;
  private closed = false;
  /** fdatasyncs made (for tests). */
  syncs = 0;

  constructor(private readonly walPath: string) {}

  /** Resolves once everything this connection committed before the call is on disk. */
  sync(): Promise<void> {
    if (!this.running) return this.start();
    // The running one may have started before the caller's commit: wait for the next.
    this.queued ??= this.running.then(
      () => this.startQueued(),
      () => this.startQueued(),
    );
    return this.queued;
  }

  /** Waits for the syncs asked for, then closes the file; a sync asked for afterwards fails. */
  async close(): Promise<void> {
    await Promise.allSettled([this.running, this.queued]);
    this.closed = true;
    const handle = this.handle;
    this.handle = undefined;
    if (handle) await handle.then((h) => h.close()).catch(() => undefined);
  }

  private startQueued(): Promise<void> {
    this.queued = undefined;
    return this.start();
  }

  private start(): Promise<void> {
    const run = this.datasync();
    this.running = run;
    const clear = (): void => {
      if (this.running === run) this.running = undefined;
    };
    run.then(clear, clear);
    return run;
  }

  private async datasync(): Promise<void> {
    this.syncs += 1;
    try {
      if (this.closed) throw new Error('the store is closed');
      this.handle ??= open(this.walPath, 'r');
      const handle = await this.handle.catch((error: unknown) => {
        this.handle = undefined; // the next sync tries again
        throw error;
      });
      await handle.datasync();
    } catch (error) {
      throw unavailableError(`fdatasync of ${this.walPath} failed (${errorMessage(error)})`, error);
    }
  }
}
