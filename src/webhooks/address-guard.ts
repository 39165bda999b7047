/**
 * The address guard of Sluice's outgoing HTTP requests (webhooks, alert
 * notifications): a URL an API user gives must not make Sluice call into
 * its own network (SSRF). Used twice:
 *
 * - when an endpoint is saved (`checkUrl`): http(s) only, no user:password,
 *   and every address the host resolves to must be public;
 * - when a connection is made (`guardedLookup`, given to the request as its
 *   `lookup`): the addresses are checked again, as resolved for THIS
 *   connection, so a name that resolved to a public address at creation and
 *   to 127.0.0.1 now (DNS rebinding) is refused before any byte is sent.
 *
 * `allowPrivateNetworks` (config `webhooks.allowPrivateNetworks`) lets every
 * address through, for receivers on the operator's own network and for tests.
 *
 * The classifier is a table of ranges (rules as data); IPv4-mapped
 * (::ffff:a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) IPv6 addresses
 * are judged by the IPv4 address they carry.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';

export const ADDRESS_CLASSES = [
  'public',
  'private',
  'loopback',
  'link-local',
  'unique-local',
  'cgnat',
  'multicast',
  'unspecified',
  'broadcast',
  'reserved',
] as const;
export type AddressClass = (typeof ADDRESS_CLASSES)[number];

type Range = readonly [prefix: string, bits: number, cls: AddressClass];

/** IPv4 ranges that are not the public internet (RFC 6890 special-purpose registry). */
const IPV4_RANGES: readonly Range[] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'cgnat'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'reserved'],
  ['192.88.99.0', 24, 'reserved'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'reserved'],
  ['198.51.100.0', 24, 'reserved'],
  ['203.0.113.0', 24, 'reserved'],
  ['224.0.0.0', 4, 'multicast'],
  ['255.255.255.255', 32, 'broadcast'],
  ['240.0.0.0', 4, 'reserved'],
];

/** IPv6 ranges that are not the public internet (the embedding ranges are handled before). */
const IPV6_RANGES: readonly Range[] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['::', 96, 'reserved'], // IPv4-compatible (deprecated)
  ['100::', 64, 'reserved'], // discard-only
  ['2001::', 23, 'reserved'], // IETF protocol assignments (Teredo, ORCHID …)
  ['2001:db8::', 32, 'reserved'], // documentation
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'private'], // site-local (deprecated)
  ['ff00::', 8, 'multicast'],
];

function ipv4ToInt(address: string): number {
  return address.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

/** The 128 bits of an IPv6 address as a bigint (zone id dropped, embedded dotted quad read). */
function ipv6ToBigInt(address: string): bigint {
  let text = address.split('%')[0] ?? '';
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const v4 = ipv4ToInt(dotted[1]);
    text =
      text.slice(0, -dotted[1].length) +
      `${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headParts = head ? head.split(':') : [];
  const tailParts = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const missing = 8 - headParts.length - tailParts.length;
  const groups =
    tail !== undefined
      ? [...headParts, ...Array<string>(missing).fill('0'), ...tailParts]
      : headParts;
  return groups.reduce((n, group) => (n << 16n) | BigInt(parseInt(group || '0', 16)), 0n);
}

function inV4(value: number, [prefix, bits]: Range): boolean {
  if (bits === 0) return true;
  const shift = 32 - bits;
  return Math.floor(value / 2 ** shift) === Math.floor(ipv4ToInt(prefix) / 2 ** shift);
}

function inV6(value: bigint, [prefix, bits]: Range): boolean {
  const shift = BigInt(128 - bits);
  return value >> shift === ipv6ToBigInt(prefix) >> shift;
}

function v4FromInt(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join('.');
}

/** What kind of address `ip` is (an IPv4 or IPv6 literal); 'reserved' for anything unparseable. */
export function classifyAddress(ip: string): AddressClass {
  const family = isIP(ip.split('%')[0] ?? '');
  if (family === 4) {
    const value = ipv4ToInt(ip);
    return IPV4_RANGES.find((range) => inV4(value, range))?.[2] ?? 'public';
  }
  if (family !== 6) return 'reserved';
  const value = ipv6ToBigInt(ip);
  // Addresses that carry an IPv4 address are what that address is.
  if (value >> 32n === 0xffffn) return classifyAddress(v4FromInt(value & 0xffffffffn));
  if (value >> 32n === 0x64ff9b0000000000000000n) {
    return classifyAddress(v4FromInt(value & 0xffffffffn));
  }
  if (value >> 112n === 0x2002n) return classifyAddress(v4FromInt((value >> 80n) & 0xffffffffn));
  return IPV6_RANGES.find((range) => inV6(value, range))?.[2] ?? 'public';
}

export interface GuardOptions {
  /** Let private, loopback and every other non-public address through. */
  allowPrivateNetworks: boolean;
  /** DNS resolution (all addresses); node:dns lookup by default. Tests inject one. */
  resolve?: (hostname: string) => Promise<LookupAddress[]>;
}

/** Why a URL or an address is refused, in words for a 400 or a delivery log. */
export type GuardVerdict = { ok: true } | { ok: false; reason: string };

export function defaultResolve(hostname: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) =>
      error ? reject(error) : resolve(addresses),
    );
  });
}

/** Refuses an address that is not public, unless private networks are allowed. */
export function checkAddress(ip: string, options: GuardOptions): GuardVerdict {
  if (options.allowPrivateNetworks) return { ok: true };
  const cls = classifyAddress(ip);
  return cls === 'public'
    ? { ok: true }
    : { ok: false, reason: `${ip} is a ${cls} address (webhooks.allowPrivateNetworks is off)` };
}

/** The URL's host without IPv6 brackets. */
export function urlHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

/**
 * The checks made when an endpoint is saved: the URL parses, is http(s),
 * carries no credentials, and its host resolves to allowed addresses only.
 */
export async function checkUrl(raw: string, options: GuardOptions): Promise<GuardVerdict> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'is not a valid URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, reason: `must be http or https, not ${url.protocol.slice(0, -1)}` };
  }
  if (url.username || url.password) {
    return { ok: false, reason: 'must not carry a user name or password' };
  }
  const host = urlHost(url);
  if (isIP(host)) return checkAddress(host, options);
  if (options.allowPrivateNetworks) return { ok: true };
  let addresses: LookupAddress[];
  try {
    addresses = await (options.resolve ?? defaultResolve)(host);
  } catch (error) {
    return { ok: false, reason: `host ${host} does not resolve (${(error as Error).message})` };
  }
  if (addresses.length === 0) return { ok: false, reason: `host ${host} does not resolve` };
  for (const { address } of addresses) {
    const verdict = checkAddress(address, options);
    if (!verdict.ok) return { ok: false, reason: `host ${host} resolves to ${verdict.reason}` };
  }
  return { ok: true };
}

/** The error a refused connection fails with (`code` names it for the delivery log). */
export class AddressRefusedError extends Error {
  readonly code = 'ERR_ADDRESS_REFUSED';
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for http.request / net.connect that resolves and then refuses
 * the connection when any address is not allowed. Node calls it with
 * `{ all: true }` (happy eyeballs) or without; both are answered.
 */
export function guardedLookup(options: GuardOptions) {
  return (hostname: string, lookupOptions: { all?: boolean }, callback: LookupCallback): void => {
    (options.resolve ?? defaultResolve)(hostname).then(
      (addresses) => {
        for (const { address } of addresses) {
          const verdict = checkAddress(address, options);
          if (!verdict.ok) {
            callback(new AddressRefusedError(`${hostname}: ${verdict.reason}`), '');
            return;
          }
        }
        const first = addresses[0];
        if (!first) {
          callback(
            Object.assign(new Error(`${hostname} does not resolve`), { code: 'ENOTFOUND' }),
            '',
          );
        } else if (lookupOptions.all) {
          callback(null, addresses);
        } else {
          callback(null, first.address, first.family);
        }
      },
      (error: NodeJS.ErrnoException) => callback(error, ''),
    );
  };
}
