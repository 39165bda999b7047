/**
 * `sluice import` as a user runs it: a CSV with a BOM, CRLF and a quoted line
 * break goes into a new list in the configured SQLite database, with a
 * progress line on stderr and the summary on stdout; nothing imported is
 * exit code 1, an unusable header exit code 2.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openStore } from '../../src/store/open-store.js';
import { makeTempDir } from '../helpers/sluice.js';

const BIN = new URL('../../src/cli/bin.js', import.meta.url).pathname;
const dir = makeTempDir('sluice-cli-import-');
after(() => rmSync(dir, { recursive: true, force: true }));
const DATABASE = `sqlite:${join(dir, 'sluice.db')}`;

function sluice(args: string[], input?: string) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', SLUICE_DATABASE_URL: DATABASE },
    encoding: 'utf8',
    timeout: 60_000,
    ...(input !== undefined ? { input } : {}),
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('sluice import', () => {
  it('imports a CSV file into a new list, reporting progress and bad rows', async () => {
    const rows = Array.from({ length: 3000 }, (_, i) => `user${i}@example.test,User ${i}\r\n`);
    rows[1499] = 'not-an-address,Nobody\r\n';
    const file = join(dir, 'contacts.csv');
    writeFileSync(
      file,
      '\ufeffemail,first_name\r\n' + rows.join('') + 'last@example.test,"Two\r\nLines"\r\n',
    );
    const result = sluice(['import', 'contacts.csv', '--list', 'newsletter', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.equal(summary.imported, 3000);
    assert.equal(summary.created, 3000);
    assert.equal(summary.skipped, 1);
    assert.deepEqual(summary.errors, [
      { line: 1501, field: 'email', reason: 'email: "not-an-address" has no @ and domain' },
    ]);
    assert.match(result.stderr, /3,001 rows read, 3,000 imported, 1 errors, [\d,]+ rows\/s, done/);

    const store = await openStore(DATABASE);
    try {
      const list = await store.lists.getByName('newsletter');
      assert.equal(list?.id, summary.listId);
      assert.equal(list?.memberCount, 3000);
      const last = await store.contacts.getByEmail('last@example.test');
      assert.deepEqual(last?.attributes, { first_name: 'Two\r\nLines' });
    } finally {
      await store.close();
    }
  });

  it('reads NDJSON from standard input, printing a readable summary', () => {
    const input = '{"email":"user1@example.test","attributes":{"plan":"pro"}}\n{"email":"x"}\n';
    const result = sluice(['import', '-', '--format', 'ndjson', '--list', 'newsletter'], input);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /^imported 1 rows into list newsletter \(lst_\w+\) in [\d.]+ s: 0 contacts created, 1 updated, 1 rows skipped\n/,
    );
    assert.match(result.stdout, /line 2 \(email\): email: "x" has no @ and domain/);
  });

  it('ends with exit code 1 when not one row could be imported, 2 for an unusable header', () => {
    writeFileSync(join(dir, 'bad.csv'), 'email\nnope\n');
    const none = sluice(['import', 'bad.csv']);
    assert.equal(none.code, 1);
    assert.match(none.stdout, /imported 0 rows/);

    writeFileSync(join(dir, 'header.csv'), 'mail,name\nx@example.test,X\n');
    const header = sluice(['import', 'header.csv']);
    assert.equal(header.code, 2);
    assert.equal(header.stderr, 'sluice: CSV header (line 1): there is no "email" column.\n');

    const missing = sluice(['import', 'missing.csv']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read missing\.csv/);
  });
});
