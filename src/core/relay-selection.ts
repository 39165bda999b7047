/**
 * Relay selection strategies: which relay of a pool takes the next message.
 * Pure and synchronous; the pool that calls a picker decides which relays
 * are eligible (a relay that is down or whose circuit is open is simply left
 * out of `candidates`), so health never leaks into the strategies.
 *
 * Glossary:
 * - candidate: an eligible relay, with its weight and the number of messages
 *   currently assigned to it (in flight: waiting for or using a connection).
 * - key: what `hash` hashes, the recipient domain, so that one domain's mail
 *   goes through one relay (its reputation and throttles stay in one place).
 */

export const RELAY_STRATEGIES = ['round-robin', 'least-connections', 'weighted', 'hash'] as const;
export type RelayStrategy = (typeof RELAY_STRATEGIES)[number];

export interface RelayCandidate {
  name: string;
  /** Share under `weighted`, 1 or more. */
  weight: number;
  /** Messages assigned to this relay and not finished. */
  inFlight: number;
}

export interface RelayPicker {
  readonly strategy: RelayStrategy;
  /** The name of the chosen candidate, or undefined when there are none. */
  pick(candidates: readonly RelayCandidate[], key: string): string | undefined;
}

export function createRelayPicker(strategy: RelayStrategy): RelayPicker {
  switch (strategy) {
    case 'round-robin':
      return new RoundRobinPicker();
    case 'least-connections':
      return new LeastConnectionsPicker();
    case 'weighted':
      return new WeightedPicker();
    case 'hash':
      return new HashPicker();
  }
}

/** Each candidate in turn. When the eligible set changes the rotation simply continues. */
class RoundRobinPicker implements RelayPicker {
  readonly strategy = 'round-robin';
  private next = 0;

  pick(candidates: readonly RelayCandidate[]): string | undefined {
    if (candidates.length === 0) return undefined;
    const chosen = candidates[this.next % candidates.length];
    this.next = (this.next + 1) % Number.MAX_SAFE_INTEGER;
    return chosen?.name;
  }
}

/** Fewest messages in flight; ties go to the earlier candidate (the pool's order). */
class LeastConnectionsPicker implements RelayPicker {
  readonly strategy = 'least-connections';

  pick(candidates: readonly RelayCandidate[]): string | undefined {
    let best: RelayCandidate | undefined;
    for (const candidate of candidates) {
      if (!best || candidate.inFlight < best.inFlight) best = candidate;
    }
    return best?.name;
  }
}

/**
 * Smooth weighted round-robin, as nginx does it: each pick adds every
 * candidate's weight to its running score, takes the highest score and
 * subtracts the total weight from it. Weights 5:1:1 give a a b a c a a
 * rather than a a a a a b c, so no relay gets a burst.
 */
class WeightedPicker implements RelayPicker {
  readonly strategy = 'weighted';
  private readonly scores = new Map<string, number>();

  pick(candidates: readonly RelayCandidate[]): string | undefined {
    let best: RelayCandidate | undefined;
    let bestScore = -Infinity;
    let total = 0;
    for (const candidate of candidates) {
      const weight = Math.max(1, candidate.weight);
      const score = (this.scores.get(candidate.name) ?? 0) + weight;
      this.scores.set(candidate.name, score);
      total += weight;
      if (score > bestScore) {
        best = candidate;
        bestScore = score;
      }
    }
    if (!best) return undefined;
    this.scores.set(best.name, bestScore - total);
    return best.name;
  }
}

/**
 * Points per relay on the ring. 160 is what ketama uses: with 4 relays the
 * share of each stays within about ±2 % of a quarter, and building a ring
 * (done once per eligible set, then cached) takes well under a millisecond.
 */
const VIRTUAL_NODES = 160;

interface Ring {
  points: Uint32Array;
  owners: string[];
}

/**
 * Consistent hashing of the key on a ring of virtual nodes: a key belongs to
 * the first point clockwise from its hash. Removing a relay removes only its
 * points, so only the keys it owned move (to their next point), and adding
 * it back moves exactly those keys back.
 */
class HashPicker implements RelayPicker {
  readonly strategy = 'hash';
  private cachedFor = '';
  private ring: Ring = { points: new Uint32Array(0), owners: [] };

  pick(candidates: readonly RelayCandidate[], key: string): string | undefined {
    if (candidates.length === 0) return undefined;
    if (candidates.length === 1) return candidates[0]?.name;
    const ring = this.ringFor(candidates);
    const h = hash32(key);
    // First point >= h (binary search); past the last point wrap to the first.
    let lo = 0;
    let hi = ring.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((ring.points[mid] ?? 0) < h) lo = mid + 1;
      else hi = mid;
    }
    return ring.owners[lo === ring.points.length ? 0 : lo];
  }

  private ringFor(candidates: readonly RelayCandidate[]): Ring {
    const names = candidates.map((c) => c.name).sort();
    const id = names.join('\n');
    if (id === this.cachedFor) return this.ring;
    const entries: { point: number; owner: string }[] = [];
    for (const name of names) {
      for (let i = 0; i < VIRTUAL_NODES; i++) {
        entries.push({ point: hash32(`${name}#${i}`), owner: name });
      }
    }
    // Ties between points (rare) are broken by name so the ring does not depend on input order.
    entries.sort((a, b) => a.point - b.point || (a.owner < b.owner ? -1 : 1));
    this.ring = {
      points: Uint32Array.from(entries, (e) => e.point),
      owners: entries.map((e) => e.owner),
    };
    this.cachedFor = id;
    return this.ring;
  }
}

/**
 * FNV-1a over UTF-16 code units, then the murmur3 finalizer: FNV alone
 * clusters similar short strings ("relay-a#1", "relay-a#2") on the ring; the
 * finalizer spreads them. Not cryptographic, and need not be.
 */
export function hash32(input: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < input.length; i++) {
    h ^= input.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
