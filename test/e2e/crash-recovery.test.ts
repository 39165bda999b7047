/**
 * kill -9 of a Sluice process in the middle of delivery, then a restart on
 * the same SQLite file: every message accepted with a 202 is delivered, none
 * is missing at the relay, and duplicates are no more than the messages that
 * were in flight (claimed, not yet settled) at the kill.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { startScriptedRelay, type ScriptedRelay } from '../helpers/smtp-farm.js';
import { callApi, makeTempDir, relayAt, TEST_ADMIN_KEY, waitFor } from '../helpers/sluice.js';

const COUNT = 400;
const BIN = new URL('../../src/cli/bin.js', import.meta.url).pathname;

interface Child {
  process: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

/** Node processes started and not yet exited. */
const STARTED = new Set<ChildProcess>();

async function startChild(configFile: string): Promise<Child> {
  const child = spawn(process.execPath, [BIN, 'serve', '--config', configFile], {
    env: { PATH: process.env.PATH ?? '', SLUICE_ADMIN_API_KEY: TEST_ADMIN_KEY },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  STARTED.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      STARTED.delete(child);
      resolve(code);
    }),
  );
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`sluice did not start in time:\n${output}`)),
      20_000,
    );
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
      reject(new Error(`sluice exited with ${code}:\n${output}`));
    });
  });
  return { process: child, url, exited };
}

describe('crash recovery (SQLite, one process)', () => {
  let relay: ScriptedRelay;
  let dir: string;
  let child: Child | undefined;
  before(async () => {
    // A slow relay keeps the run going long enough to be killed in the middle.
    relay = await startScriptedRelay({ behaviour: () => ({ slowMs: 15 }) });
    dir = makeTempDir('sluice-crash-');
  });
  after(async () => {
    // Every process a test started, also those a failed assertion left
    // running before the next test started another (the suite must end).
    for (const started of STARTED) started.kill('SIGKILL');
    child?.process.kill('SIGKILL');
    await relay.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses nothing across kill -9 and a restart', async () => {
    const configFile = join(dir, 'sluice.config.json');
    const dbFile = join(dir, 'sluice.db');
    writeFileSync(
      configFile,
      JSON.stringify({
        http: { port: 0 },
        database: { url: `sqlite:${dbFile}` },
        dataDir: dir,
        relays: [relayAt(relay.port, 'relay', { maxConnections: 4 })],
        log: { level: 'warn' },
      }),
    );
    child = await startChild(configFile);
    const accepted: string[] = [];
    for (let i = 0; i < COUNT; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, (_, j) =>
          callApi<{ id: string }>(child!.url, 'POST', '/v1/messages', {
            from: 'app@example.com',
            to: `crash${i + j}@example.org`,
            subject: 'Crash test {{ n }}',
            text: 'n={{ n }}',
            variables: { n: i + j },
          }),
        ),
      );
      for (const reply of batch) {
        assert.equal(reply.status, 202);
        accepted.push(reply.body.id);
      }
    }

    await waitFor('a quarter of the messages at the relay', () =>
      relay.messages.length >= COUNT / 4 ? true : undefined,
    );
    child.process.kill('SIGKILL');
    await child.exited;
    const deliveredBeforeKill = relay.messages.length;

    const db = new Database(dbFile, { readonly: true });
    const inFlight = (
      db.prepare(`SELECT count(*) AS n FROM messages WHERE status = 'sending'`).get() as {
        n: number;
      }
    ).n;
    db.close();
    assert.ok(deliveredBeforeKill < COUNT, 'the kill came in the middle of the run');

    child = await startChild(configFile);
    const running = child;
    await waitFor(
      'every accepted message to be delivered after the restart',
      async () => {
        const statuses = await Promise.all(
          accepted
            .slice(-50)
            .map(
              async (id) =>
                (await callApi<{ status: string }>(running.url, 'GET', `/v1/messages/${id}`)).body
                  .status,
            ),
        );
        return statuses.every((s) => s === 'delivered') && relay.messages.length >= COUNT
          ? true
          : undefined;
      },
      60_000,
    );
    for (const id of accepted) {
      const view = await callApi<{ status: string }>(running.url, 'GET', `/v1/messages/${id}`);
      assert.equal(view.body.status, 'delivered', `message ${id}`);
    }

    const perRecipient = new Map<string, number>();
    for (const m of relay.messages) {
      const rcpt = m.envelope.to[0] ?? '';
      perRecipient.set(rcpt, (perRecipient.get(rcpt) ?? 0) + 1);
    }
    for (let i = 0; i < COUNT; i++) {
      assert.ok(perRecipient.has(`crash${i}@example.org`), `crash${i} reached the relay`);
    }
    const duplicates = relay.messages.length - perRecipient.size;
    const messageIds = new Set(relay.messages.map((m) => m.messageId));
    assert.equal(
      messageIds.size,
      perRecipient.size,
      'a duplicate carries the same Message-ID as its original',
    );
    console.log(
      `# crash recovery: ${deliveredBeforeKill} delivered before kill -9, ${inFlight} in flight, ${duplicates} duplicate(s)`,
    );
    assert.ok(
      duplicates <= inFlight,
      `duplicates (${duplicates}) are at most the messages in flight at the kill (${inFlight})`,
    );

    child.process.kill('SIGTERM');
    assert.equal(await child.exited, 0, 'a graceful stop exits 0');
    child = undefined;
  });

  it('hands unsent messages back on SIGTERM and delivers them after a restart', async () => {
    const sub = makeTempDir('sluice-term-');
    const configFile = join(sub, 'sluice.config.json');
    const dbFile = join(sub, 'sluice.db');
    writeFileSync(
      configFile,
      JSON.stringify({
        http: { port: 0 },
        database: { url: `sqlite:${dbFile}` },
        dataDir: sub,
        relays: [relayAt(relay.port, 'relay', { maxConnections: 2 })],
        log: { level: 'warn' },
      }),
    );
    const before = relay.messages.length;
    child = await startChild(configFile);
    const url = child.url;
    const accepted = await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        callApi<{ id: string }>(url, 'POST', '/v1/messages', {
          from: 'app@example.com',
          to: `term${i}@example.org`,
          subject: 'Shutdown test',
          text: 'x',
        }),
      ),
    );
    assert.ok(accepted.every((r) => r.status === 202));
    await waitFor('some messages at the relay', () =>
      relay.messages.length > before + 10 ? true : undefined,
    );
    child.process.kill('SIGTERM');
    assert.equal(await child.exited, 0, 'a graceful stop exits 0');

    const db = new Database(dbFile, { readonly: true });
    const rows = db.prepare(`SELECT status, count(*) AS n FROM messages GROUP BY status`).all() as {
      status: string;
      n: number;
    }[];
    db.close();
    const byStatus = Object.fromEntries(rows.map((r) => [r.status, r.n]));
    assert.equal(byStatus.sending ?? 0, 0, 'nothing is left claimed after a graceful stop');
    assert.ok((byStatus.queued ?? 0) > 0, 'the stop came before the end of the run');

    child = await startChild(configFile);
    await waitFor(
      'the rest to be delivered after the restart',
      () =>
        relay.messages.filter((m) => m.envelope.to[0]?.startsWith('term')).length >= 150
          ? true
          : undefined,
      30_000,
    );
    const terms = relay.messages.filter((m) => m.envelope.to[0]?.startsWith('term'));
    assert.equal(new Set(terms.map((m) => m.envelope.to[0])).size, 150, 'every message arrived');
    assert.equal(terms.length, 150, 'a graceful stop causes no duplicates');
    child.process.kill('SIGTERM');
    await child.exited;
    child = undefined;
    rmSync(sub, { recursive: true, force: true });
  });
});
