/**
 * `sluice backup`: an online copy of the SQLite database while a Sluice
 * process writes to it; the copy opens and holds what was committed; an
 * existing file is refused without --force; PostgreSQL points at pg_dump.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { makeTempDir, startTestSluice, type TestSluice } from '../helpers/sluice.js';

const BIN = new URL('../../src/cli/bin.js', import.meta.url).pathname;

function sluice(dir: string, args: string[]) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '' },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('sluice backup', () => {
  const dir = makeTempDir('sluice-backup-');
  let node: TestSluice | undefined;
  after(async () => {
    await node?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('copies the SQLite database while Sluice runs, and refuses to overwrite without --force', async () => {
    const running = await startTestSluice({ delivery: { enabled: false } });
    node = running;
    const accepted: string[] = [];
    for (let i = 0; i < 30; i++) {
      const reply = await running.api<{ id: string }>('POST', '/v1/messages', {
        from: 'app@example.com',
        to: `b${i}@example.org`,
        subject: 'Backed up',
        text: 'x',
      });
      assert.equal(reply.status, 202);
      accepted.push(reply.body.id);
    }
    const configFile = join(dir, 'sluice.config.json');
    writeFileSync(
      configFile,
      JSON.stringify({ database: { url: `sqlite:${join(running.dir, 'sluice.db')}` } }),
    );
    const target = join(dir, 'copy.db');
    // Accepts keep coming while the backup runs.
    const more = Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        running.api('POST', '/v1/messages', {
          from: 'app@example.com',
          to: `during${i}@example.org`,
          subject: 'x',
          text: 'x',
        }),
      ),
    );
    const result = sluice(dir, ['backup', target, '--config', configFile]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^backed up .* to .*copy\.db: \d+ pages/);
    await more;

    const copy = new Database(target, { readonly: true });
    const ids = new Set(
      (copy.prepare('SELECT id FROM messages').all() as { id: string }[]).map((r) => r.id),
    );
    assert.equal(copy.pragma('integrity_check', { simple: true }), 'ok');
    copy.close();
    for (const id of accepted) assert.ok(ids.has(id), `${id} is in the copy`);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('.partial-')),
      [],
      'no partial file left',
    );

    const refused = sluice(dir, ['backup', target, '--config', configFile]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /copy\.db exists; pass --force to overwrite it/);
    const forced = sluice(dir, ['backup', target, '--force', '--config', configFile]);
    assert.equal(forced.code, 0, forced.stderr);
  });

  it('points at pg_dump for PostgreSQL, without the password, and writes nothing', () => {
    const configFile = join(dir, 'pg.json');
    writeFileSync(
      configFile,
      JSON.stringify({ database: { url: 'postgres://sluice:pg-secret@db.internal:5432/sluice' } }),
    );
    const target = join(dir, 'pg.dump');
    const result = sluice(dir, ['backup', target, '--config', configFile]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /pg_dump --format=custom --file .*pg\.dump/);
    assert.ok(!result.stderr.includes('pg-secret'), 'the password is not printed');
    assert.equal(existsSync(target), false);
  });
});
