import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig } from './load.js';

describe('bounces.rulesFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-rules-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  function load(rules: string): ReturnType<typeof loadConfig> {
    writeFileSync(join(dir, 'rules.json'), rules);
    writeFileSync(
      join(dir, 'sluice.config.json'),
      JSON.stringify({ bounces: { rulesFile: 'rules.json' } }),
    );
    return loadConfig({ env: {}, cwd: dir });
  }

  it('reads the operator rules at load, relative to the working folder', () => {
    const config = load(
      JSON.stringify([
        { pattern: 'frozen', category: 'bad-mailbox', permanent: true, suppress: true },
      ]),
    );
    assert.equal(config.bounces?.rulesFile, join(dir, 'rules.json'));
    assert.deepEqual(config.bounces?.rules, [
      { pattern: 'frozen', category: 'bad-mailbox', permanent: true, suppress: true },
    ]);
  });

  it('stops with an error naming the rule index and field', () => {
    const bad = JSON.stringify([
      { code: 550, category: 'policy', permanent: true, suppress: false },
      { enhanced: '5.7.1', category: 'bad-mailbox', permanent: true, suppress: true },
    ]);
    assert.throws(
      () => load(bad),
      (error: unknown) =>
        error instanceof ConfigError &&
        /^config key "bounces\.rulesFile": .*rules\.json: rules\[1\]\.suppress: a 5\.7\.x reply never suppresses/.test(
          error.message,
        ),
    );
    assert.throws(() => load('[{'), /rules\.json is not valid JSON/);
  });

  it('has no operator rules when the key is absent', () => {
    const config = loadConfig({ env: {}, cwd: mkdtempSync(join(dir, 'empty-')) });
    assert.equal(config.bounces?.rules, undefined);
  });
});
