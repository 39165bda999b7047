/**
 * Builders and helpers shared by the store contract suite. Time is a fixed
 * epoch (T0) moved by hand: no test sleeps.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { SluiceError } from '../../core/errors.js';
import { isSluiceError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { AttemptRecord, NewMessage } from '../../core/message.js';
import type { Settlement } from '../../core/outcome.js';
import type { Store } from '../../core/ports/store.js';
import { openPostgresStore } from '../postgres/postgres-store.js';

export const T0 = 1_700_000_000_000;
export const MINUTE = 60_000;
export const DAY = 86_400_000;

export interface StoreHandle {
  /** A store on an empty database, not yet migrated. */
  store: Store;
  /** Closes the store and removes its database (file or schema). */
  cleanup: () => Promise<void>;
}

export type MakeStore = () => Promise<StoreHandle>;

/** Drops a test's PostgreSQL schema and everything in it. */
export async function dropSchema(connectionString: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

/** A PostgreSQL store in a schema of its own, dropped by cleanup. */
export function postgresStoreIn(
  connectionString: string,
  poolSize = 5,
): () => Promise<StoreHandle & { schema: string }> {
  return () => {
    const schema = `sluice_test_${randomBytes(6).toString('hex')}`;
    const store = openPostgresStore(connectionString, { schema, poolSize });
    return Promise.resolve({
      store,
      schema,
      cleanup: async () => {
        await store.close();
        await dropSchema(connectionString, schema);
      },
    });
  };
}

/** Runs `fn` on a fresh, migrated store and always cleans up. */
export async function withStore(
  make: MakeStore,
  fn: (store: Store) => Promise<void>,
): Promise<void> {
  const handle = await make();
  try {
    await handle.store.migrate();
    await fn(handle.store);
  } finally {
    await handle.cleanup();
  }
}

export function newMessage(overrides: Partial<NewMessage> = {}): NewMessage {
  const id = overrides.id ?? newId('message');
  return {
    id,
    stream: 'transactional',
    from: { email: 'sender@example.test', name: 'Sender' },
    to: { email: 'rcpt@example.test' },
    subject: 'Hello {{ name }}',
    text: 'Hi {{ name }}',
    variables: { name: 'Ada', count: 3, nested: { tags: ['a', 'b'] } },
    headers: { 'X-Campaign': 'c1' },
    messageId: `${id}.abcd@example.test`,
    createdAt: T0,
    expiresAt: T0 + DAY,
    ...overrides,
  };
}

export function attemptRecord(
  messageId: string,
  outcome: AttemptRecord['outcome'],
  at: number,
): AttemptRecord {
  const base = {
    messageId,
    attempt: 1,
    relay: 'relay-a',
    startedAt: at - 100,
    finishedAt: at,
    outcome,
  };
  return outcome === 'delivered'
    ? { ...base, code: 250, response: '250 2.0.0 OK queued' }
    : { ...base, code: 451, enhancedCode: '4.3.0', response: '451 4.3.0 try later' };
}

export function delivered(id: string, leaseOwner: string, at: number): Settlement {
  return {
    id,
    leaseOwner,
    status: 'delivered',
    attempt: attemptRecord(id, 'delivered', at),
    at,
  };
}

export function deferred(id: string, leaseOwner: string, at: number, dueAt: number): Settlement {
  return {
    id,
    leaseOwner,
    status: 'deferred',
    dueAt,
    lastError: '451 4.3.0 try later',
    attempt: attemptRecord(id, 'deferred', at),
    at,
  };
}

/** Asserts that `promise` rejects with a SluiceError of `code` (and `field`, when given). */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: SluiceError['code'],
  field?: string,
): Promise<SluiceError> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(isSluiceError(caught), `expected a SluiceError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  if (field !== undefined) assert.equal(caught.details.field, field);
  return caught;
}

/** Accepts `count` messages built by `build(i)`, asserting each was created. */
export async function acceptAll(
  store: Store,
  count: number,
  build: (i: number) => Partial<NewMessage>,
): Promise<NewMessage[]> {
  const messages = Array.from({ length: count }, (_, i) => newMessage(build(i)));
  const results = await Promise.all(messages.map((m) => store.messages.accept(m)));
  for (const result of results) assert.equal(result.kind, 'created');
  return messages;
}
