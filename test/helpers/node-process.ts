/**
 * Sluice nodes as real child processes (`node dist/src/cli/bin.js serve
 * --config <file>`), for tests that kill them (-9), restart them, and run
 * several at once on one PostgreSQL database.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_ADMIN_KEY } from './sluice.js';

const BIN = new URL('../../src/cli/bin.js', import.meta.url).pathname;

export interface NodeProcess {
  readonly name: string;
  readonly process: ChildProcess;
  /** Base URL of the node's HTTP API. */
  readonly url: string;
  /** Exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** stdout and stderr so far (for failure messages). */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Writes `config` (JSON) as `<dir>/<name>.json` and returns its path. */
export function writeNodeConfig(dir: string, name: string, config: object): string {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(config));
  return file;
}

/** Starts a node and resolves once it prints its API address (fails after `timeoutMs`). */
export async function startNodeProcess(
  name: string,
  configFile: string,
  timeoutMs = 20_000,
): Promise<NodeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--config', configFile], {
    env: { PATH: process.env.PATH ?? '', SLUICE_ADMIN_API_KEY: TEST_ADMIN_KEY },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Not left running: a child nobody holds keeps the test process alive.
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start in time:\n${output}`));
    }, timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /API\s+(http:\/\/[^\s]+)\/v1/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}:\n${output}`));
    });
  });
  // Keep draining stdout so that the child never blocks on a full pipe.
  child.stdout?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  });
  return {
    name,
    process: child,
    url,
    exited,
    output: () => output,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
