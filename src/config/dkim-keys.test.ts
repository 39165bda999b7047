/**
 * DKIM keys and the VERP bounce domain in the configuration: keys are read
 * and checked at load, a bad one is refused with a message naming it, and
 * the key material shows up neither in errors nor in `sluice config-check`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { writeTestKey } from '../../test/helpers/dkim.js';
import { ConfigError, loadConfig } from './load.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-dkim-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const rsa = writeTestKey(dir, 'rsa', 'rsa');
const ed = writeTestKey(dir, 'ed', 'ed25519');
const weak = writeTestKey(dir, 'weak', 'rsa-1024');
const ec = writeTestKey(dir, 'ec', 'ec');
const notPem = join(dir, 'not-a-key.pem');
writeFileSync(notPem, 'SECRET-LOOKING-CONTENT-0123456789\n');

/** The base64 lines of a PEM file: what must never be printed. */
function keyMaterial(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0 && !line.startsWith('-----'));
}

function configFile(name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
}

function loadError(value: unknown, env: Record<string, string> = {}): string {
  try {
    loadConfig({ file: configFile('bad.json', value), env, cwd: dir });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.message;
  }
  assert.fail('expected the configuration to be refused');
}

describe('dkim and bounces configuration', () => {
  it('reads RSA and Ed25519 keys, deriving the algorithm and the default headers', () => {
    const config = loadConfig({
      file: configFile('ok.json', {
        dkim: [
          { domain: 'Example.COM', selector: 'rsa1', privateKeyFile: 'rsa.pem' },
          {
            domain: 'example.com',
            selector: 'ed1',
            privateKeyFile: ed.file,
            algorithm: 'ed25519-sha256',
            headers: ['From', 'Subject'],
          },
        ],
        bounces: { returnPathDomain: 'Bounces.Example.com' },
      }),
      env: {},
      cwd: dir,
    });
    const dkim = config.dkim ?? [];
    assert.deepEqual(
      dkim.map((k) => [k.domain, k.selector, k.algorithm, k.privateKeyFile]),
      [
        ['example.com', 'rsa1', 'rsa-sha256', resolve(dir, 'rsa.pem')],
        ['example.com', 'ed1', 'ed25519-sha256', ed.file],
      ],
    );
    assert.ok(dkim[0]?.headers.includes('List-Unsubscribe-Post'));
    assert.deepEqual(dkim[1]?.headers, ['From', 'Subject']);
    assert.deepEqual(config.bounces, { returnPathDomain: 'bounces.example.com' });
    const printed = JSON.stringify(config);
    for (const line of [...keyMaterial(rsa.file), ...keyMaterial(ed.file)]) {
      assert.ok(!printed.includes(line), 'no key material in the configuration object');
    }
  });

  it('defaults to no keys and no bounce domain', () => {
    const config = loadConfig({ env: {}, cwd: dir });
    assert.deepEqual(config.dkim, []);
    assert.deepEqual(config.bounces, {});
  });

  it('takes the bounce domain from SLUICE_BOUNCES_RETURN_PATH_DOMAIN', () => {
    const config = loadConfig({
      env: { SLUICE_BOUNCES_RETURN_PATH_DOMAIN: 'b.example.com' },
      cwd: dir,
    });
    assert.equal(config.bounces?.returnPathDomain, 'b.example.com');
  });

  const refused: [string, unknown, RegExp][] = [
    [
      'a missing file',
      { dkim: [{ domain: 'example.com', selector: 's', privateKeyFile: 'nope.pem' }] },
      /^config key "dkim\[0\]\.privateKeyFile": cannot read .*nope\.pem \(ENOENT\)$/,
    ],
    [
      'an RSA key of 1024 bits',
      {
        dkim: [
          { domain: 'example.com', selector: 's', privateKeyFile: rsa.file },
          { domain: 'example.org', selector: 's', privateKeyFile: weak.file },
        ],
      },
      /^config key "dkim\[1\]\.privateKeyFile": .*weak\.pem: an RSA key of 1024 bits is too weak; use at least 2048$/,
    ],
    [
      'an EC key',
      { dkim: [{ domain: 'example.com', selector: 's', privateKeyFile: ec.file }] },
      /^config key "dkim\[0\]\.privateKeyFile": .*a key of type ec cannot sign DKIM/,
    ],
    [
      'a file that is not a PEM key',
      { dkim: [{ domain: 'example.com', selector: 's', privateKeyFile: notPem }] },
      /^config key "dkim\[0\]\.privateKeyFile": .*not-a-key\.pem does not hold a PEM private key/,
    ],
    [
      'an unknown algorithm',
      {
        dkim: [
          { domain: 'example.com', selector: 's', privateKeyFile: rsa.file, algorithm: 'rsa-sha1' },
        ],
      },
      /^config key "dkim\[0\]\.algorithm".*expected one of "rsa-sha256", "ed25519-sha256", got "rsa-sha1"$/,
    ],
    [
      'an algorithm that does not match the key',
      {
        dkim: [
          {
            domain: 'example.com',
            selector: 's',
            privateKeyFile: rsa.file,
            algorithm: 'ed25519-sha256',
          },
        ],
      },
      /^config key "dkim\[0\]\.algorithm": "ed25519-sha256" does not match the key in .*rsa\.pem, which is for rsa-sha256$/,
    ],
    [
      'a header list without From',
      {
        dkim: [
          { domain: 'example.com', selector: 's', privateKeyFile: rsa.file, headers: ['Subject'] },
        ],
      },
      /^config key "dkim\[0\]\.headers": must include From$/,
    ],
    [
      'an unknown key',
      { dkim: [{ domain: 'example.com', selector: 's', privateKeyFile: rsa.file, key: 'x' }] },
      /^config key "dkim\[0\]\.key" is unknown/,
    ],
    [
      'a bounce domain that is not a domain',
      { bounces: { returnPathDomain: 'not a domain' } },
      /^config key "bounces\.returnPathDomain"/,
    ],
  ];
  for (const [what, value, expected] of refused) {
    it(`refuses ${what}, naming the key`, () => {
      const message = loadError(value);
      assert.match(message, expected);
      assert.ok(!message.includes('SECRET-LOOKING'), 'the file content is not echoed');
    });
  }

  it('sluice config-check prints the key files, never the keys', () => {
    const file = configFile('check.json', {
      dkim: [
        { domain: 'example.com', selector: 'rsa1', privateKeyFile: rsa.file },
        { domain: 'example.com', selector: 'ed1', privateKeyFile: ed.file },
      ],
    });
    const bin = join(dirname(fileURLToPath(import.meta.url)), '../cli/bin.js');
    const run = spawnSync(process.execPath, [bin, 'config-check', '--config', file], {
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    });
    assert.equal(run.status, 0, run.stderr);
    const shown = JSON.parse(run.stdout) as { dkim: { privateKeyFile: string }[] };
    assert.deepEqual(
      shown.dkim.map((k) => k.privateKeyFile),
      [rsa.file, ed.file],
    );
    for (const line of [...keyMaterial(rsa.file), ...keyMaterial(ed.file)]) {
      assert.ok(!run.stdout.includes(line) && !run.stderr.includes(line));
    }
  });
});
