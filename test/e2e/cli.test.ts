/**
 * The `sluice` command as a user runs it: a bad configuration stops the start
 * with one line naming the key (exit 2), config-check masks secrets,
 * migrate applies and then finds nothing to apply, config-docs prints the
 * reference.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { makeTempDir } from '../helpers/sluice.js';

const BIN = new URL('../../src/cli/bin.js', import.meta.url).pathname;
const dir = makeTempDir('sluice-cli-');
after(() => rmSync(dir, { recursive: true, force: true }));

function sluice(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('the sluice command', () => {
  it('refuses to serve with an unknown key, naming it, exit code 2', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ http: { prot: 8025 } }));
    const result = sluice(['serve', '--config', file]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^sluice: config key "http.prot" is unknown/);
    assert.doesNotMatch(result.stderr, /at .*\.js/, 'no stack trace for a user error');
  });

  it('refuses a bad environment override the same way', () => {
    const result = sluice(['serve'], { SLUICE_HTTP_PORT: 'eighty' });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /config key "http.port".*expected an integer.*"eighty"/);
  });

  it('config-check prints the configuration with every secret masked', () => {
    const file = join(dir, 'secret.json');
    writeFileSync(
      file,
      JSON.stringify({
        database: { url: 'postgres://sluice:db-secret-pw@db.internal:5432/sluice' },
        relays: [
          { name: 'mx', host: 'smtp.example.net', auth: { user: 'u', pass: 'relay-secret-pw' } },
        ],
      }),
    );
    const result = sluice(['config-check', '--config', file], {
      SLUICE_ADMIN_API_KEY: 'admin-secret-key-0123456789',
    });
    assert.equal(result.code, 0, result.stderr);
    for (const secret of ['db-secret-pw', 'relay-secret-pw', 'admin-secret-key-0123456789']) {
      assert.ok(!result.stdout.includes(secret), `${secret} is masked`);
    }
    const shown = JSON.parse(result.stdout) as { relays: { host: string }[] };
    assert.equal(shown.relays[0]?.host, 'smtp.example.net');
  });

  it('migrate applies the migrations once', () => {
    const env = { SLUICE_DATABASE_URL: `sqlite:${join(dir, 'cli.db')}` };
    const first = sluice(['migrate'], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /applied \d+ migration\(s\)/);
    const second = sluice(['migrate'], env);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /is up to date/);
  });

  it('config-docs prints the generated reference', () => {
    const result = sluice(['config-docs']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /\| `database.url` \| `SLUICE_DATABASE_URL` \|/);
  });
});
