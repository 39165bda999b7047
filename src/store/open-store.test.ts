import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { isSluiceError } from '../core/errors.js';
import { openStore, parseDatabaseUrl, redactDatabaseUrl } from './open-store.js';
import { SQLITE_MIGRATIONS } from './sqlite/migrations.js';

function assertInvalid(url: string): void {
  assert.throws(
    () => parseDatabaseUrl(url),
    (error: unknown) =>
      isSluiceError(error) &&
      error.code === 'ERR_VALIDATION' &&
      error.details.field === 'database.url' &&
      error.message.startsWith('database.url: '),
  );
}

describe('parseDatabaseUrl', () => {
  it('reads sqlite: paths relative to the working directory', () => {
    assert.deepEqual(parseDatabaseUrl('sqlite:./data/s.db'), {
      dialect: 'sqlite',
      path: resolve('data/s.db'),
    });
    assert.deepEqual(parseDatabaseUrl('sqlite:///var/lib/s.db'), {
      dialect: 'sqlite',
      path: '/var/lib/s.db',
    });
    assert.deepEqual(parseDatabaseUrl('sqlite::memory:'), { dialect: 'sqlite', path: ':memory:' });
  });

  it('takes postgres:// and postgresql:// URLs as they are', () => {
    for (const url of ['postgres://u:p@db:5432/sluice', 'postgresql://db/sluice']) {
      assert.deepEqual(parseDatabaseUrl(url), { dialect: 'postgres', connectionString: url });
    }
  });

  it('refuses anything else with ERR_VALIDATION on database.url', () => {
    for (const url of [
      '',
      'sqlite:',
      'mysql://db/x',
      'postgres://',
      'postgres://[bad/x',
      './x.db',
    ]) {
      assertInvalid(url);
    }
  });
});

describe('redactDatabaseUrl', () => {
  it('hides the password, wherever it is', () => {
    assert.equal(
      redactDatabaseUrl('postgres://sluice:s3cr@t@db:5432/sluice'),
      'postgres://sluice:***@db:5432/sluice',
    );
    assert.equal(
      redactDatabaseUrl('postgresql://db/sluice?user=a&password=hunter2&sslmode=require'),
      'postgresql://db/sluice?user=a&password=***&sslmode=require',
    );
    assert.equal(redactDatabaseUrl('postgres://sluice@db/sluice'), 'postgres://sluice@db/sluice');
    assert.equal(redactDatabaseUrl('sqlite:./data/s.db'), 'sqlite:./data/s.db');
  });
});

describe('openStore', () => {
  it('opens a SQLite file, creating its folder, without migrating', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-open-'));
    const path = join(dir, 'a', 'b', 'sluice.db');
    const store = await openStore(`sqlite:${path}`);
    try {
      assert.equal(store.dialect, 'sqlite');
      assert.ok(existsSync(path));
      await store.ping();
      assert.deepEqual(
        await store.migrate(),
        SQLITE_MIGRATIONS.map((m) => m.id),
        'nothing was applied before',
      );
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects a bad URL', async () => {
    await assert.rejects(openStore('mongodb://x'), { code: 'ERR_VALIDATION' });
  });
});
