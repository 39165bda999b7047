/**
 * The address check of outgoing alert notifications (SSRF): a webhook URL
 * given in the configuration must not make Sluice call into its own network
 * (a metadata service, a database's HTTP port, an admin interface on
 * loopback) unless the operator says so (`allowPrivate`).
 *
 * The host is resolved once, every address is checked, and the connection
 * is then made to the checked address (the sender passes it as the socket's
 * `lookup`), so a DNS answer that changes between check and connect (DNS
 * rebinding) cannot slip a private address through. A minimal guard of its
 * own: the webhooks module's reusable guard had not landed when this was
 * written; the two should become one.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export interface ResolvedTarget {
  url: URL;
  address: string;
  family: 4 | 6;
}

export class AddressRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AddressRefused';
  }
}

/** Whether an IP address is loopback, private, link-local, shared, unspecified or multicast. */
export function isPrivateAddress(address: string): boolean {
  if (isIP(address) === 4) return isPrivateV4(address);
  const lower = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped?.[1]) return isPrivateV4(mapped[1]);
  if (lower === '::' || lower === '::1') return true;
  const first = parseInt(lower.split(':')[0] || '0', 16);
  return (
    (first & 0xfe00) === 0xfc00 || // fc00::/7 unique local
    (first & 0xffc0) === 0xfe80 || // fe80::/10 link-local
    (first & 0xff00) === 0xff00 || // ff00::/8 multicast
    lower.startsWith('64:ff9b:') // NAT64, may reach IPv4 private space
  );
}

function isPrivateV4(address: string): boolean {
  const [a = 0, b = 0] = address.split('.').map(Number);
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) || // shared address space (CGNAT)
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 198 && (b === 18 || b === 19)) || // benchmarking
    a >= 224 // multicast, reserved, broadcast
  );
}

/** Resolves the URL's host and checks every address; throws AddressRefused otherwise. */
export async function resolveTarget(raw: string, allowPrivate: boolean): Promise<ResolvedTarget> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new AddressRefused('not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new AddressRefused(`scheme ${url.protocol} is not http or https`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const literal = isIP(host);
  const addresses = literal
    ? [{ address: host, family: literal }]
    : await lookup(host, { all: true, verbatim: true }).catch((error: Error) => {
        throw new AddressRefused(`cannot resolve ${host}: ${error.message}`);
      });
  const first = addresses[0];
  if (!first) throw new AddressRefused(`${host} has no address`);
  if (!allowPrivate) {
    const refused = addresses.find((a) => isPrivateAddress(a.address));
    if (refused)
      throw new AddressRefused(
        `${host} resolves to ${refused.address}, a private or loopback address (set allowPrivate to allow it)`,
      );
  }
  return { url, address: first.address, family: first.family === 6 ? 6 : 4 };
}
