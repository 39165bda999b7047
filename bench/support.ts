/**
 * Shared pieces of the benchmarks: Postfix's smtp-sink/smtp-source as the
 * same-run baseline, free ports, timing and summary statistics.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export const SMTP_SINK = '/usr/sbin/smtp-sink';
export const SMTP_SOURCE = '/usr/sbin/smtp-source';

/** Installs Debian's postfix (for smtp-sink/smtp-source) when missing. */
export function ensurePostfixTools(): boolean {
  if (existsSync(SMTP_SINK) && existsSync(SMTP_SOURCE)) return true;
  console.log('# installing postfix for smtp-sink/smtp-source (apt-get) …');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
  spawnSync('apt-get', ['install', '-y', '-qq', 'postfix'], { stdio: 'ignore', env });
  return existsSync(SMTP_SINK) && existsSync(SMTP_SOURCE);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface Sink {
  port: number;
  /** Resolves when the sink has received `count` messages (smtp-sink -M exits). */
  done: Promise<void>;
  kill(): void;
}

/**
 * smtp-sink that exits after `count` messages: time is taken at the sink.
 * `flags` go before the address (`-p`: no PIPELINING, `-8`: no 8BITMIME …).
 */
export async function startSmtpSink(count: number, flags: string[] = []): Promise<Sink> {
  const port = await freePort();
  // As root, smtp-sink insists on dropping privileges to a named user.
  const privileges = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  const child = spawn(
    SMTP_SINK,
    [...privileges, ...flags, '-M', String(count), `127.0.0.1:${port}`, '1000'],
    {
      stdio: 'ignore',
    },
  );
  const done = new Promise<void>((resolve, reject) => {
    child.once('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`smtp-sink exited ${code ?? signal}`)),
    );
  });
  // Wait until it listens.
  for (let i = 0; i < 200; i++) {
    if (await canConnect(port)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  return { port, done, kill: () => child.kill('SIGKILL') };
}

async function canConnect(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The raw limit of the C tools: smtp-source → smtp-sink, timed at the sink. */
export async function smtpSourceToSink(
  count: number,
  sessions: number,
  size: number,
): Promise<number> {
  return (await smtpSourceRun(count, sessions, size)).msgPerSec;
}

/** smtp-source → smtp-sink, with what the run cost the whole machine (µs a message; NaN off Linux). */
export async function smtpSourceRun(
  count: number,
  sessions: number,
  size: number,
): Promise<{ msgPerSec: number; machineUsPerMessage: number }> {
  const sink = await startSmtpSink(count);
  const meter = machineCpuMeter();
  const started = process.hrtime.bigint();
  const source = spawn(
    SMTP_SOURCE,
    [
      '-s',
      String(sessions),
      '-d',
      '-m',
      String(count),
      '-l',
      String(size),
      '-f',
      'a@example.test',
      '-t',
      'b@example.test',
      `127.0.0.1:${sink.port}`,
    ],
    { stdio: 'ignore' },
  );
  await sink.done;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const machineUsPerMessage = meter.perMessage(count);
  source.kill('SIGKILL');
  return { msgPerSec: count / seconds, machineUsPerMessage };
}

/**
 * The whole machine's busy CPU time (every process and the kernel) from
 * now until `perMessage(count)`, as µs a message, from Linux's /proc/stat;
 * NaN where there is none. On 2 cores a baseline and Sluice share the cores
 * with their relays, so the figure per message says what each path costs
 * the machine, not only its own process.
 */
export function machineCpuMeter(): { perMessage(count: number): number } {
  const busy = (): number | undefined => {
    try {
      const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
        .trim()
        .split(/\s+/)
        .slice(1)
        .map(Number);
      // user nice system idle iowait irq softirq steal: all but idle and iowait.
      const total = fields.slice(0, 8).reduce((sum, n) => sum + n, 0);
      return total - (fields[3] ?? 0) - (fields[4] ?? 0);
    } catch {
      return undefined;
    }
  };
  const start = busy();
  return {
    perMessage: (count) => {
      const end = busy();
      // USER_HZ is 100 on Linux: a jiffy is 10 ms, 10,000 µs.
      return start === undefined || end === undefined ? NaN : ((end - start) * 10_000) / count;
    },
  };
}

export function stats(values: number[]): { min: number; median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    min: sorted[0] ?? NaN,
    median: sorted[Math.floor(sorted.length / 2)] ?? NaN,
    max: sorted[sorted.length - 1] ?? NaN,
  };
}

export function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function line(label: string, values: number[], unit: string, baseline?: number): string {
  const s = stats(values);
  const ratio = baseline ? `  ×${(s.median / baseline).toFixed(3)} of baseline` : '';
  return `${label.padEnd(58)} median ${fmt(s.median).padStart(8)} ${unit}  (min ${fmt(s.min)}, max ${fmt(s.max)})${ratio}`;
}

/**
 * A benchmark's verdict on one of an issue's targets (they are checked by
 * the benchmarks, on the 2-core development machine, not by timed tests).
 * `met` undefined: this run cannot tell (say why in `measured`).
 */
export function targetLine(
  issue: number,
  target: string,
  met: boolean | undefined,
  measured: string,
): string {
  const verdict = met === undefined ? 'not checked by this run' : met ? 'met' : 'MISSED';
  return `  target (issue ${issue}): ${target}: ${verdict} (${measured})`;
}
