/**
 * An online backup of a SQLite database through SQLite's backup API
 * (better-sqlite3's `backup()`): a consistent copy while Sluice keeps
 * writing, WAL included, page by page without blocking the writer for long.
 * The copy is written beside the target and renamed into place when it is
 * complete and checked, so a failed or interrupted backup never leaves a
 * half-written file under the target's name. The copy is checked
 * (`quick_check`) before it gets that name.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { SluiceError } from '../../core/errors.js';
import { mapSqliteError } from './sqlite-errors.js';

export interface BackupResult {
  /** Pages copied (of the database's page size). */
  pages: number;
  bytes: number;
}

export async function backupSqlite(
  sourcePath: string,
  targetPath: string,
  options: { force?: boolean } = {},
): Promise<BackupResult> {
  if (!options.force && existsSync(targetPath)) {
    throw new SluiceError(
      'ERR_VALIDATION',
      `file: ${targetPath} exists; pass --force to overwrite it`,
      { field: 'file' },
    );
  }
  if (!existsSync(sourcePath)) {
    throw new SluiceError('ERR_VALIDATION', `database.url: no database file at ${sourcePath}`, {
      field: 'database.url',
    });
  }
  const partial = `${targetPath}.partial-${process.pid}`;
  let source: Database.Database | undefined;
  try {
    source = new Database(sourcePath, { fileMustExist: true });
    // Wait for Sluice's write lock rather than fail, as the server does.
    source.pragma('busy_timeout = 5000');
    const progress = await source.backup(partial);
    // The copy is one self-contained file: rollback journal, not WAL (Sluice
    // switches it back to WAL when it opens it).
    const copy = new Database(partial);
    let pageSize: number;
    try {
      copy.pragma('journal_mode = DELETE');
      const check = copy.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`the copy failed its check: ${String(check)}`);
      pageSize = Number(copy.pragma('page_size', { simple: true }));
    } finally {
      copy.close();
    }
    renameSync(partial, targetPath);
    return { pages: progress.totalPages, bytes: progress.totalPages * pageSize };
  } catch (error) {
    for (const suffix of ['', '-wal', '-shm', '-journal'])
      rmSync(partial + suffix, { force: true });
    throw mapSqliteError(error);
  } finally {
    source?.close();
  }
}
