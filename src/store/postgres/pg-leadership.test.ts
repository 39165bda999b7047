/**
 * Leadership on a real PostgreSQL server (SLUICE_TEST_DATABASE_URL): two
 * nodes campaign for one duty; one leads; when the leader's connection is
 * killed (pg_terminate_backend, as when its process dies) it is deposed and
 * the other takes over; a node that resigns hands leadership on. Keys are
 * per schema, so this run cannot meet another's locks.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { PgLeadership } from './pg-leadership.js';

const baseUrl = process.env.SLUICE_TEST_DATABASE_URL;
const INTERVAL_MS = 100;

async function admin<R extends pg.QueryResultRow>(
  sql: string,
  values: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect();
  try {
    return (await client.query<R>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

/** Polls `check` every 20 ms until it holds; fails after `ms`. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface Node {
  name: string;
  /** While true, the node cannot reach the server (as if its process had died). */
  down: boolean;
  leadership: PgLeadership;
  leading: boolean;
  history: string[];
}

function node(name: string, schema: string): Node {
  const created: Node = {
    name,
    down: false,
    leadership: new PgLeadership({
      schema,
      checkIntervalMs: INTERVAL_MS,
      newClient: () =>
        new pg.Client({
          connectionString: created.down ? 'postgres://nobody@127.0.0.1:1/none' : baseUrl,
          application_name: name,
          query_timeout: 1_000,
        }),
    }),
    leading: false,
    history: [],
  };
  return created;
}

function campaign(n: Node, duty: string): () => Promise<void> {
  return n.leadership.campaign(duty, {
    onElected: () => {
      n.leading = true;
      n.history.push('elected');
    },
    onDeposed: (reason) => {
      n.leading = false;
      n.history.push(`deposed: ${reason}`);
    },
  });
}

describe(
  'PostgreSQL leadership (advisory locks)',
  { skip: baseUrl ? false : 'SLUICE_TEST_DATABASE_URL is not set' },
  () => {
    const suffix = randomBytes(4).toString('hex');
    const schema = `lead_${suffix}`;
    const a = node(`sluice-test-lead-a-${suffix}`, schema);
    const b = node(`sluice-test-lead-b-${suffix}`, schema);
    after(async () => {
      await a.leadership.close();
      await b.leadership.close();
    });

    it('one node leads; killing its connection hands the duty to the other; resigning hands it back', async () => {
      campaign(a, 'retention');
      await until('node A to lead', () => a.leading);
      const resignB = campaign(b, 'retention');
      // B has tried (its last statement is the try) and does not lead.
      await until('node B to try for the lock', async () => {
        const rows = await admin<{ query: string }>(
          `SELECT query FROM pg_stat_activity WHERE application_name = $1`,
          [b.name],
        );
        return rows.some((r) => r.query.includes('pg_try_advisory_lock'));
      });
      assert.equal(b.leading, false, 'only one node leads');

      a.down = true;
      const killed = await admin<{ ok: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1`,
        [a.name],
      );
      assert.equal(killed.length, 1, "A's leadership connection was found and killed");
      await until('node A to notice', () => !a.leading);
      await until(`node B to take over (A: ${a.history.join(', ')})`, () => b.leading);
      assert.match(a.history[1] ?? '', /^deposed: the leadership connection was lost/);
      assert.equal(a.leading && b.leading, false, 'never both (as each sees it) once settled');

      // A comes back (a new session) but B holds the lock.
      a.down = false;
      await until('node A to reconnect and try', async () => {
        const rows = await admin<{ query: string }>(
          `SELECT query FROM pg_stat_activity WHERE application_name = $1`,
          [a.name],
        );
        return rows.some((r) => r.query.includes('pg_try_advisory_lock'));
      });
      assert.equal(a.leading, false);

      await resignB();
      assert.deepEqual(b.history, ['elected', 'deposed: stopped']);
      await until('node A to lead again', () => a.leading);
    });

    it('duties are independent: another duty is led separately', async () => {
      const resign = campaign(b, 'campaign-scheduler');
      await until('node B to lead the second duty', () => b.leading);
      assert.ok(a.leading, 'A still leads the first duty');
      await resign();
    });
  },
);
