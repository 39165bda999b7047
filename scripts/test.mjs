// Runs the test suite: builds, then runs every compiled *.test.js under
// dist/ with node:test. Node 20 does not expand globs for --test, so the
// files are listed here. Extra arguments are passed to node --test, e.g.
//   npm test -- --test-name-pattern=outbox
// and SLUICE_TEST_FILES=store limits the files to those whose path contains it.
// Each test has 10 minutes and the whole run 40 (below).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const build = spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...find(path));
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}
const filter = process.env.SLUICE_TEST_FILES;
const files = [...find('dist/src'), ...find('dist/test')]
  .filter((f) => !filter || f.includes(filter))
  .sort();
if (!process.env.SLUICE_TEST_DATABASE_URL) {
  console.log('# SLUICE_TEST_DATABASE_URL is not set: the PostgreSQL tests will be skipped.');
}
// Bounds, so that a hung test fails the run instead of holding CI until its
// own limit: any one test gets 10 minutes (the longest, the chaos test, takes
// about 2 on a loaded machine), the whole suite 40 (it takes ~3 when idle).
// A test file whose process does not exit after its tests ended is only
// caught by the second bound.
const SUITE_LIMIT_MS = 40 * 60_000;
const result = spawnSync(
  process.execPath,
  [
    '--enable-source-maps',
    '--test',
    '--test-concurrency=2',
    '--test-timeout=600000',
    ...process.argv.slice(2),
    ...files,
  ],
  { stdio: 'inherit', timeout: SUITE_LIMIT_MS, killSignal: 'SIGKILL' },
);
if (result.error?.code === 'ETIMEDOUT') {
  console.error(`# the suite ran past ${SUITE_LIMIT_MS / 60_000} minutes and was stopped`);
  process.exit(1);
}
process.exit(result.status ?? 1);
