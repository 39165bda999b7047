import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import {
  checkUrl,
  classifyAddress,
  guardedLookup,
  type AddressClass,
  type GuardOptions,
} from './address-guard.js';

const TABLE: [string, AddressClass][] = [
  // IPv4
  ['8.8.8.8', 'public'],
  ['93.184.216.34', 'public'],
  ['0.0.0.0', 'unspecified'],
  ['0.1.2.3', 'unspecified'],
  ['10.0.0.1', 'private'],
  ['10.255.255.255', 'private'],
  ['172.15.255.255', 'public'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['172.32.0.0', 'public'],
  ['192.168.1.1', 'private'],
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['169.254.169.254', 'link-local'],
  ['100.64.0.1', 'cgnat'],
  ['100.127.255.255', 'cgnat'],
  ['100.128.0.0', 'public'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.255', 'multicast'],
  ['255.255.255.255', 'broadcast'],
  ['240.0.0.1', 'reserved'],
  ['192.0.2.1', 'reserved'],
  ['198.18.0.1', 'reserved'],
  // IPv6
  ['2606:4700:4700::1111', 'public'],
  ['::', 'unspecified'],
  ['::1', 'loopback'],
  ['0:0:0:0:0:0:0:1', 'loopback'],
  ['fe80::1', 'link-local'],
  ['fe80::1%eth0', 'link-local'],
  ['febf:ffff::1', 'link-local'],
  ['fc00::1', 'unique-local'],
  ['fd12:3456:789a::1', 'unique-local'],
  ['ff02::1', 'multicast'],
  ['2001:db8::1', 'reserved'],
  ['fec0::1', 'private'],
  // IPv4 inside IPv6: judged by the IPv4 address
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['::ffff:10.1.2.3', 'private'],
  ['::ffff:169.254.169.254', 'link-local'],
  ['::ffff:8.8.8.8', 'public'],
  ['64:ff9b::7f00:1', 'loopback'],
  ['64:ff9b::808:808', 'public'],
  ['2002:7f00:1::', 'loopback'],
  ['2002:0808:0808::1', 'public'],
  ['::127.0.0.1', 'reserved'],
  // not an address
  ['example.com', 'reserved'],
];

const closed: GuardOptions = { allowPrivateNetworks: false };

describe('address guard', () => {
  for (const [ip, expected] of TABLE) {
    it(`classifies ${ip} as ${expected}`, () => {
      assert.equal(classifyAddress(ip), expected);
    });
  }

  it('checks URLs at creation: scheme, credentials, literal and resolved addresses', async () => {
    const resolve = (host: string) =>
      Promise.resolve(
        host === 'inside.test'
          ? [
              { address: '93.184.216.34', family: 4 },
              { address: '10.0.0.5', family: 4 },
            ]
          : [{ address: '93.184.216.34', family: 4 }],
      );
    const options = { ...closed, resolve };
    const cases: [string, RegExp | true][] = [
      ['https://hooks.example.test/x', true],
      ['http://hooks.example.test:8080/x?y=1', true],
      ['ftp://hooks.example.test/', /must be http or https/],
      ['https://user:pw@hooks.example.test/', /user name or password/],
      ['not a url', /not a valid URL/],
      ['http://127.0.0.1:9/x', /127\.0\.0\.1 is a loopback address/],
      ['http://[::1]/x', /::1 is a loopback address/],
      ['http://[::ffff:169.254.169.254]/', /link-local/],
      ['https://inside.test/', /inside\.test resolves to 10\.0\.0\.5 is a private address/],
    ];
    for (const [url, expected] of cases) {
      const verdict = await checkUrl(url, options);
      if (expected === true) assert.deepEqual(verdict, { ok: true }, url);
      else assert.match(verdict.ok ? 'ok' : verdict.reason, expected, url);
    }
    assert.deepEqual(await checkUrl('http://127.0.0.1/x', { allowPrivateNetworks: true }), {
      ok: true,
    });
    const unresolvable = await checkUrl('https://nowhere.test/', {
      ...closed,
      resolve: () => Promise.reject(new Error('ENOTFOUND')),
    });
    assert.match(unresolvable.ok ? '' : unresolvable.reason, /does not resolve/);
  });

  it('refuses at connect time a name that now resolves to loopback (DNS rebinding)', async () => {
    let requests = 0;
    const server = createServer((_req, res) => {
      requests += 1;
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      // At creation the name looked public; at connect it is 127.0.0.1.
      const lookup = guardedLookup({
        ...closed,
        resolve: () => Promise.resolve([{ address: '127.0.0.1', family: 4 }]),
      });
      const error = await new Promise<NodeJS.ErrnoException>((resolve) => {
        void fetchVia(`http://rebind.test:${port}/`, lookup).then(
          () => resolve(new Error('answered')),
          resolve,
        );
      });
      assert.equal(error.code, 'ERR_ADDRESS_REFUSED');
      assert.match(error.message, /127\.0\.0\.1 is a loopback address/);
      assert.equal(requests, 0, 'nothing reached the server');
      // With the setting, the same name connects.
      const open = guardedLookup({
        allowPrivateNetworks: true,
        resolve: () => Promise.resolve([{ address: '127.0.0.1', family: 4 }]),
      });
      assert.equal(await fetchVia(`http://rebind.test:${port}/`, open), 200);
      assert.equal(requests, 1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

/** A GET through node:http with the given lookup; resolves with the status. */
async function fetchVia(url: string, lookup: ReturnType<typeof guardedLookup>): Promise<number> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(url, { lookup, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}
