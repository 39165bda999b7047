/**
 * Time to first delivery for bench/campaign: a second connection to the
 * database (read-only on SQLite: WAL lets it read beside the writer) polls
 * for the first delivered message every 10 ms until it sees one, then stops
 * polling. The settlement's time stamp is the figure (a few ms after the
 * relay's 250), so the 10 ms poll does not blur it.
 */
import Database from 'better-sqlite3';
import pg from 'pg';

const FIRST_DELIVERED = `SELECT updated_at FROM messages WHERE status = 'delivered' LIMIT 1`;
const POLL_MS = 10;

export interface FirstDeliveryWatch {
  /** Stops polling; the epoch ms of the first delivery seen, if any. */
  stop(): Promise<number | undefined>;
}

export function firstDeliveryWatcher(databaseUrl: string): FirstDeliveryWatch {
  let found: number | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let query: () => Promise<number | undefined>;
  let close: () => Promise<void>;
  if (databaseUrl.startsWith('sqlite:')) {
    const db = new Database(databaseUrl.slice('sqlite:'.length), { readonly: true });
    const statement = db.prepare<[], { updated_at: number }>(FIRST_DELIVERED);
    query = () => Promise.resolve(statement.get()?.updated_at);
    close = () => Promise.resolve(void db.close());
  } else {
    const client = new pg.Client({ connectionString: databaseUrl });
    const connected = client.connect();
    query = async () => {
      await connected;
      const result = await client.query<{ updated_at: string }>(FIRST_DELIVERED);
      const value = result.rows[0]?.updated_at;
      return value === undefined ? undefined : Number(value);
    };
    close = () => client.end();
  }
  let polling: Promise<void> = Promise.resolve();
  const poll = (): void => {
    polling = query()
      .then((at) => {
        if (at !== undefined) found = at;
      })
      .catch(() => undefined)
      .finally(() => {
        if (!stopped && found === undefined) timer = setTimeout(poll, POLL_MS);
      });
  };
  poll();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await polling;
      await close();
      return found;
    },
  };
}
