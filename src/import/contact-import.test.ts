import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import type { Contact, Durability, Store } from '../core/ports/store.js';
import {
  postgresStoreIn,
  T0,
  withStore,
  type MakeStore,
  type StoreHandle,
} from '../store/contract/fixtures.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import { importContacts, type ImportProgress } from './contact-import.js';

async function sqliteStore(): Promise<StoreHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-import-'));
  const store = openSqliteStore(join(dir, 'sluice.db'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The texts as a stream, one chunk each. */
function chunks(texts: readonly string[]): AsyncIterable<string> {
  return Readable.from(texts);
}

/** Every contact, by email, without the id the store chose. */
async function contacts(store: Store): Promise<Map<string, Omit<Contact, 'id'>>> {
  const all = new Map<string, Omit<Contact, 'id'>>();
  let after: string | undefined;
  for (;;) {
    const page = await store.contacts.list({ limit: 500, ...(after ? { after } : {}) });
    for (const { id: _id, ...rest } of page.items) all.set(rest.email, rest);
    if (!page.next) return all;
    after = page.next;
  }
}

/** Records the durability of every batch the import writes (the store underneath is real). */
function recording(store: Store): { store: Store; writes: Array<[number, Durability]> } {
  const writes: Array<[number, Durability]> = [];
  const upsertMany = store.contacts.upsertMany.bind(store.contacts);
  const contactsStore = Object.create(store.contacts) as Store['contacts'];
  contactsStore.upsertMany = (rows, options = {}) => {
    writes.push([rows.length, options.durability ?? 'durable']);
    return upsertMany(rows, options);
  };
  return { store: { ...store, contacts: contactsStore }, writes };
}

/**
 * NDJSON lines in no particular email order, emails repeated within a window
 * (adjacent and not) and across windows, attributes set then removed (null)
 * then set again, a status changed, and bad rows between.
 */
function ndjson(): string[] {
  const lines: string[] = [];
  for (let i = 0; i < 60; i += 1) {
    // 23 distinct emails, shuffled: a repeat lands in the same window or a later one.
    const n = (i * 7) % 23;
    const attributes: Record<string, unknown> = { [`k${i % 4}`]: `v${i}` };
    if (i % 5 === 0) attributes.k1 = null;
    const row: Record<string, unknown> = { email: `u${n}@Example.test`, attributes };
    if (i % 9 === 0) row.status = i % 2 === 0 ? 'unsubscribed' : 'active';
    lines.push(JSON.stringify(row));
    if (i % 17 === 3) lines.push(JSON.stringify({ email: `bad-${i}` }));
  }
  return lines;
}

function runs(name: string, make: MakeStore): void {
  describe(`contacts import: sorted windows (${name})`, () => {
    it('leaves the contacts a row-by-row upsert in line order leaves, whatever the window and batch', async () => {
      const lines = ndjson();
      let expected: Map<string, Omit<Contact, 'id'>> | undefined;
      await withStore(make, async (store) => {
        for (const line of lines) {
          const row = JSON.parse(line) as { email: string; attributes?: object; status?: string };
          if (!row.email.includes('@')) continue;
          await store.contacts.upsert({
            id: `ct_${randomBytes(8).toString('hex')}`,
            email: row.email.replace(/@.*/, (domain) => domain.toLowerCase()),
            ...(row.attributes ? { attributes: row.attributes as Record<string, unknown> } : {}),
            ...(row.status ? { status: row.status as Contact['status'] } : {}),
            at: T0,
          });
        }
        expected = await contacts(store);
      });
      assert.equal(expected?.size, 23);
      for (const [windowSize, batchSize] of [
        [10, 3],
        [7, 7],
        [1000, 4],
        [1, 1],
      ] as const) {
        await withStore(make, async (store) => {
          await store.lists.create({ id: 'lst_1', name: 'news', description: '', at: T0 });
          const progress: ImportProgress[] = [];
          // A chunk a line: a window fills at its size (the reader is fed a chunk at a time).
          const summary = await importContacts(store, chunks(lines.map((line) => `${line}\n`)), {
            format: 'ndjson',
            listId: 'lst_1',
            at: T0,
            windowSize,
            batchSize,
            onProgress: (p) => progress.push(p),
          });
          const label = `window ${windowSize}, batch ${batchSize}`;
          assert.deepEqual(await contacts(store), expected, label);
          assert.equal(summary.imported, 60, label);
          assert.equal(summary.skipped, 4, label);
          assert.deepEqual(
            summary.errors.map((e) => e.line),
            [5, 23, 41, 59],
            label,
          );
          // Counts are per distinct email of a window: an email new to the
          // store is created once, in the first window that holds it.
          assert.equal(summary.created, 23, label);
          assert.equal(progress.at(-1)?.imported, 60, label);
          assert.ok(
            progress.every((p, i) => i === 0 || p.imported > (progress[i - 1]?.imported ?? 0)),
            label,
          );
          assert.equal((await store.lists.get('lst_1'))?.memberCount, 23, label);
        });
      }
    });

    it('gives new contacts ids in email order within a window, and imports again idempotently', () =>
      withStore(make, async (store) => {
        const csv =
          'email,n\n' + ['d', 'b', 'e', 'a', 'c'].map((x) => `${x}@x.test,${x}\n`).join('');
        const first = await importContacts(store, chunks([csv]), {
          format: 'csv',
          at: T0,
          windowSize: 5,
        });
        assert.deepEqual(first, { imported: 5, created: 5, updated: 0, skipped: 0, errors: [] });
        const page = await store.contacts.list({ limit: 10 });
        assert.deepEqual(
          page.items.map((c) => c.email),
          ['a@x.test', 'b@x.test', 'c@x.test', 'd@x.test', 'e@x.test'],
          'ids ascend in email order',
        );
        const before = await contacts(store);
        const again = await importContacts(store, chunks([csv]), {
          format: 'csv',
          at: T0,
          windowSize: 2,
        });
        assert.deepEqual(again, { imported: 5, created: 0, updated: 5, skipped: 0, errors: [] });
        assert.deepEqual(await contacts(store), before);
      }));

    it('ends a window at WINDOW_CHARS of text too, so large rows make small windows', () =>
      withStore(make, async (real) => {
        const { store, writes } = recording(real);
        // Rows of ~100 characters, windows of at most 250 characters: a window a few rows.
        const rows = Array.from({ length: 9 }, (_, i) => `u${8 - i}@x.test,${'x'.repeat(90)}\n`);
        const summary = await importContacts(store, chunks(['email,note\n', ...rows]), {
          format: 'csv',
          at: T0,
          windowChars: 250,
        });
        assert.equal(summary.created, 9);
        assert.deepEqual(
          writes.map(([n]) => n),
          [3, 3, 3],
          'a window of 3 rows (header included in the first), a batch each',
        );
      }));

    it('defers every batch but the very last, whether the input ends on a window boundary or not', async () => {
      for (const [rows, expected] of [
        // Windows of 6 rows, batches of 4: a window's last batch is held until the next is written.
        [12, ['4d', '2d', '4d', '2D']],
        [13, ['4d', '2d', '4d', '2d', '1D']],
        [3, ['3D']],
        [0, []],
      ] as const) {
        await withStore(make, async (real) => {
          const { store, writes } = recording(real);
          const csv = ['email\n', ...Array.from({ length: rows }, (_, i) => `u${i}@x.test\n`)];
          await importContacts(store, chunks(csv), {
            format: 'csv',
            at: T0,
            windowSize: 6,
            batchSize: 4,
          });
          assert.deepEqual(
            writes.map(([n, d]) => `${n}${d === 'durable' ? 'D' : 'd'}`),
            expected,
            `${rows} rows`,
          );
        });
      }
    });
  });
}

runs('sqlite', sqliteStore);
const url = process.env.SLUICE_TEST_DATABASE_URL;
if (url === undefined) {
  describe(
    'contacts import: sorted windows (postgres)',
    {
      skip: 'SLUICE_TEST_DATABASE_URL is not set',
    },
    () => undefined,
  );
} else {
  runs('postgres', postgresStoreIn(url, 2));
}
