import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { configReference, REFERENCE_BEGIN, REFERENCE_END } from './docs.js';
import { envVariables } from './env.js';
import { ConfigError, loadConfig, withSinkPort } from './load.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function writeConfig(name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
  return path;
}

function loadError(options: Parameters<typeof loadConfig>[0]): string {
  try {
    loadConfig(options);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.message;
  }
  assert.fail('expected the configuration to be refused');
}

describe('loadConfig', () => {
  it('runs on defaults with no file: the capture relay is the only relay', () => {
    const config = loadConfig({ env: {}, cwd: dir });
    assert.equal(config.http.port, 8025);
    assert.equal(config.database.url, 'sqlite:./sluice-data/sluice.db');
    assert.equal(config.sink.enabled, true);
    assert.deepEqual(
      config.relays.map((r) => [r.name, r.port]),
      [['sink', 2525]],
    );
    assert.deepEqual(config.pools, [
      { name: 'default', relays: ['sink'], strategy: 'round-robin' },
    ]);
    assert.deepEqual(config.routing, { transactional: 'default', bulk: 'default', rules: [] });
    assert.equal(config.delivery.retry.maxAgeMs, 3 * 86_400_000);
    assert.equal(config.http.bodyLimit, 1024 * 1024);
    assert.ok(Object.isFrozen(config.delivery.retry), 'the configuration is frozen');
  });

  it('reads the file, converts units, and lets the environment override it', () => {
    const file = writeConfig('ok.json', {
      http: { port: 9000, bodyLimit: '64kb' },
      relays: [{ name: 'a', host: 'relay.example', port: 587, auth: { user: 'u', pass: 'p' } }],
      delivery: { retry: { initialDelay: '30s', maxAge: '2h' }, lease: 90000 },
    });
    const config = loadConfig({
      file,
      env: {
        SLUICE_HTTP_PORT: '9100',
        SLUICE_ADMIN_API_KEY: 'x'.repeat(32),
        SLUICE_TEST_DATABASE_URL: 'ignored',
      },
      cwd: dir,
    });
    assert.equal(config.http.port, 9100);
    assert.equal(config.http.bodyLimit, 65536);
    assert.equal(config.auth.adminApiKey, 'x'.repeat(32));
    assert.equal(config.delivery.retry.initialDelayMs, 30_000);
    assert.equal(config.delivery.retry.maxAgeMs, 7_200_000);
    assert.equal(config.delivery.leaseMs, 90_000);
    assert.equal(config.sink.enabled, false, 'auto: no sink when relays are configured');
    assert.deepEqual(config.relays[0]?.auth, { user: 'u', pass: 'p' });
    assert.deepEqual(config.source.env, ['SLUICE_ADMIN_API_KEY', 'SLUICE_HTTP_PORT']);
  });

  it('takes arrays from the environment as JSON', () => {
    const config = loadConfig({
      env: { SLUICE_RELAYS: JSON.stringify([{ name: 'r1', host: '127.0.0.1', port: 2526 }]) },
      cwd: dir,
    });
    assert.deepEqual(
      config.relays.map((r) => r.name),
      ['r1'],
    );
    assert.equal(config.relays[0]?.pipelining, 'full', 'pipelining defaults to full');
  });

  it("takes a relay's pipelining mode, and names the field when it is not one", () => {
    const relay = { name: 'r1', host: '127.0.0.1', port: 2526 };
    const config = loadConfig({
      env: { SLUICE_RELAYS: JSON.stringify([{ ...relay, pipelining: 'envelope' }]) },
      cwd: dir,
    });
    assert.equal(config.relays[0]?.pipelining, 'envelope');
    assert.match(
      loadError({
        env: { SLUICE_RELAYS: JSON.stringify([{ ...relay, pipelining: 'yes' }]) },
        cwd: dir,
      }),
      /"relays\[0\]\.pipelining": expected one of "full", "envelope", "off"/,
    );
  });

  const refusals: [string, Parameters<typeof loadConfig>[0], RegExp][] = [
    [
      'an unknown top-level key',
      { file: writeConfig('u1.json', { htp: {} }), env: {} },
      /"htp" is unknown.*expected one of: http,/,
    ],
    [
      'an unknown nested key',
      { file: writeConfig('u2.json', { http: { prot: 1 } }), env: {} },
      /"http.prot" is unknown.*host, port/,
    ],
    [
      'a key of the wrong type',
      { file: writeConfig('t.json', { http: { port: 'x' } }), env: {} },
      /"http.port".*expected an integer/,
    ],
    [
      'an out-of-range port from the environment',
      { env: { SLUICE_HTTP_PORT: '70000' } },
      /"http.port".*at most 65535.*70000/,
    ],
    [
      'a bad duration',
      { file: writeConfig('d.json', { delivery: { lease: '5 minutes' } }), env: {} },
      /"delivery.lease".*A duration/,
    ],
    [
      'a bad strategy',
      {
        file: writeConfig('s.json', {
          relays: [{ name: 'a', host: 'h' }],
          pools: [{ name: 'p', relays: ['a'], strategy: 'random' }],
        }),
        env: {},
      },
      /"pools\[0\].strategy".*"round-robin"/,
    ],
    [
      'a pool naming an unknown relay',
      {
        file: writeConfig('p.json', {
          relays: [{ name: 'a', host: 'h' }],
          pools: [{ name: 'p', relays: ['b'] }],
        }),
        env: {},
      },
      /"pools\[0\].relays\[0\]": no relay is named "b"/,
    ],
    [
      'a duplicate relay name',
      {
        file: writeConfig('dup.json', {
          relays: [
            { name: 'a', host: 'h' },
            { name: 'a', host: 'i' },
          ],
        }),
        env: {},
      },
      /"relays\[1\].name": "a" is used twice/,
    ],
    [
      'routing to an unknown pool',
      { file: writeConfig('r.json', { routing: { bulk: 'nope' } }), env: {} },
      /"routing.bulk": no pool is named "nope"/,
    ],
    [
      'no relay and no sink',
      { file: writeConfig('n.json', { sink: { enabled: false } }), env: {} },
      /"relays": expected at least one relay/,
    ],
    [
      'an unknown SLUICE_ variable',
      { env: { SLUICE_HTTP_PROT: '1' } },
      /SLUICE_HTTP_PROT is not a Sluice setting/,
    ],
    [
      'a relay list that is not JSON',
      { env: { SLUICE_RELAYS: '[{' } },
      /SLUICE_RELAYS must hold JSON/,
    ],
    [
      'a file that is not JSON',
      { file: writeConfig('bad.json', '{"http": '), env: {} },
      /is not valid JSON/,
    ],
    ['a missing explicit file', { file: join(dir, 'missing.json'), env: {} }, /does not exist/],
    [
      'a short admin key',
      { env: { SLUICE_ADMIN_API_KEY: 'short' } },
      /"auth.adminApiKey".*at least 24 characters/,
    ],
  ];
  for (const [what, options, expected] of refusals) {
    it(`refuses ${what}, naming the key`, () => {
      assert.match(loadError({ cwd: dir, ...options }), expected);
    });
  }

  it('gives the capture relay its real port when it listens on port 0', () => {
    const config = loadConfig({ env: { SLUICE_SINK_PORT: '0' }, cwd: dir });
    const running = withSinkPort(config, 40123);
    assert.equal(running.relays[0]?.port, 40123);
    assert.equal(running.sink.port, 40123);
  });

  it('names every leaf key as an environment variable', () => {
    const names = [...envVariables().keys()];
    for (const name of [
      'SLUICE_DATABASE_URL',
      'SLUICE_DELIVERY_RETRY_MAX_AGE',
      'SLUICE_RELAYS',
      'SLUICE_LOG_LEVEL',
    ]) {
      assert.ok(names.includes(name), `${name} is known`);
    }
  });
});

describe('docs/configuration.md', () => {
  it('holds the reference generated from the schema (run `sluice config-docs` after changing it)', () => {
    const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
    const start = doc.indexOf(REFERENCE_BEGIN);
    const end = doc.indexOf(REFERENCE_END);
    assert.ok(start >= 0 && end > start, 'the generated block is present');
    assert.equal(doc.slice(start, end + REFERENCE_END.length) + '\n', configReference());
  });
});

describe('tracking', () => {
  const secret = 'x'.repeat(32);
  it('needs publicUrl and secret together, and publicUrl for opens and clicks', () => {
    assert.match(
      loadError({ env: { SLUICE_TRACKING_PUBLIC_URL: 'https://t.example.com' }, cwd: dir }),
      /tracking\.secret/,
    );
    assert.match(loadError({ env: { SLUICE_TRACKING_SECRET: secret }, cwd: dir }), /publicUrl/);
    assert.match(loadError({ env: { SLUICE_TRACKING_OPENS: 'true' }, cwd: dir }), /publicUrl/);
    assert.match(
      loadError({
        env: {
          SLUICE_TRACKING_PUBLIC_URL: 'https://t.example.com',
          SLUICE_TRACKING_SECRET: 'short',
        },
        cwd: dir,
      }),
      /tracking\.secret/,
    );
  });
  it('strips the trailing slash of publicUrl', () => {
    const config = loadConfig({
      env: {
        SLUICE_TRACKING_PUBLIC_URL: 'https://t.example.com/mail/',
        SLUICE_TRACKING_SECRET: secret,
        SLUICE_TRACKING_CLICKS: 'true',
      },
      cwd: dir,
    });
    assert.deepEqual(config.tracking, {
      publicUrl: 'https://t.example.com/mail',
      secret,
      opens: false,
      clicks: true,
      transactional: false,
    });
  });
});

describe('node', () => {
  it('defaults to all, and takes api or worker on PostgreSQL', () => {
    assert.equal(loadConfig({ env: {}, cwd: dir }).node?.role, 'all');
    const config = loadConfig({
      env: { SLUICE_NODE_ROLE: 'worker', SLUICE_DATABASE_URL: 'postgres://db.example/sluice' },
      cwd: dir,
    });
    assert.equal(config.node?.role, 'worker');
  });

  it('refuses api and worker on SQLite, naming node.role', () => {
    for (const role of ['api', 'worker']) {
      const message = loadError({ env: { SLUICE_NODE_ROLE: role }, cwd: dir });
      assert.match(message, /node\.role/);
      assert.match(message, /SQLite is single-process; use PostgreSQL to split roles/);
    }
  });

  it('bounds heap growth at 30 % by default; 0 leaves it to V8; a negative value is refused', () => {
    assert.equal(loadConfig({ env: {}, cwd: dir }).node?.heapGrowthPercent, 30);
    const v8s = loadConfig({ env: { SLUICE_NODE_HEAP_GROWTH_PERCENT: '0' }, cwd: dir });
    assert.equal(v8s.node?.heapGrowthPercent, 0);
    const message = loadError({ env: { SLUICE_NODE_HEAP_GROWTH_PERCENT: '-5' }, cwd: dir });
    assert.match(message, /node\.heapGrowthPercent/);
  });
});
