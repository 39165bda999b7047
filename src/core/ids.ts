import { randomBytes } from 'node:crypto';

/**
 * Ids are made by the application so that both dialects store plain text and
 * a message's id is known before its row is written. A prefix tells the kind
 * of object at a glance in logs and URLs.
 *
 * The 32 hex digits after the prefix start with the creation time (12 hex
 * digits of milliseconds) and end with 80 random bits, as in a UUIDv7: ids
 * made one after another sort together, so the rows a commit inserts land on
 * the rightmost pages of the primary key and of the indexes that hold the id,
 * not each on a page of its own. With random ids every insert dirtied its own
 * page of each such index, and each commit wrote those pages to the WAL: a
 * journey's writes took ~30 % more CPU (docs/benchmarks.md).
 */
export const ID_PREFIXES = {
  message: 'msg',
  contact: 'ct',
  list: 'lst',
  template: 'tpl',
  apiKey: 'key',
  event: 'evt',
  segment: 'seg',
  engagement: 'eng',
  campaign: 'cmp',
  journey: 'jny',
} as const;
export type IdKind = keyof typeof ID_PREFIXES;

export function newId(kind: IdKind, now = Date.now()): string {
  return `${ID_PREFIXES[kind]}_${timeHex(now)}${randomHex(10)}`;
}

/**
 * Random bits as hex digits (80 bits for an id), cut from a pool filled 8 KiB at a time:
 * a randomBytes() call per id cost ~2 % of a busy node's CPU (the pool is
 * what randomUUID does too).
 */
const POOL_BYTES = 8192;
let pool = Buffer.alloc(0);
let poolOffset = POOL_BYTES;
function randomHex(bytes: number): string {
  if (poolOffset + bytes > pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolOffset = 0;
  }
  poolOffset += bytes;
  return pool.toString('hex', poolOffset - bytes, poolOffset);
}

/** Milliseconds as 12 hex digits (enough until the year 10889). */
export function timeHex(ms: number): string {
  return Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0').slice(-12);
}

/**
 * An RFC 5322 Message-ID (without angle brackets) for a message id and a
 * sending domain. The random part comes from the pool too: a randomBytes(4)
 * call cost 15 µs, 1.5 % of a triggered email's CPU (bench/triggers).
 */
export function newMessageId(id: string, domain: string): string {
  return `${id}.${randomHex(4)}@${domain}`;
}

/**
 * Ids for a bulk insert (a contacts import), in ascending order, so that a
 * batch's rows land at the right edge of the primary-key B-tree and of the
 * indexes holding the id, instead of on a random page each: with random ids
 * a SQLite commit of 1,000 rows rewrote thousands of scattered pages into
 * its WAL, and imports ran five times slower (docs/benchmarks.md). The time
 * prefix orders imports after one another, the random part keeps two
 * concurrent imports apart, the counter orders the ids of one import.
 */
export function orderedIds(kind: IdKind, now: number): () => string {
  const prefix = `${ID_PREFIXES[kind]}_${timeHex(now)}${randomBytes(4).toString('hex')}`;
  let counter = 0;
  return () => prefix + (counter++).toString(16).padStart(8, '0');
}
