import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { HttpSender } from './http-sender.js';

async function withServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  fn: (url: string) => Promise<void>,
): Promise<void> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const open = { guard: { allowPrivateNetworks: true } };

describe('http sender', () => {
  it('posts the body with its headers and reads the status as a value', async () => {
    let seen: { body: string; headers: IncomingMessage['headers'] } | undefined;
    await withServer(
      (req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          seen = { body, headers: req.headers };
          res.writeHead(202).end('accepted');
        });
      },
      async (url) => {
        const sender = new HttpSender(open);
        try {
          assert.deepEqual(await sender.post(url, '{"a":1}', { 'x-test': 'yes' }), {
            kind: 'ok',
            status: 202,
          });
        } finally {
          sender.close();
        }
      },
    );
    assert.equal(seen?.body, '{"a":1}');
    assert.equal(seen?.headers['content-type'], 'application/json');
    assert.equal(seen?.headers['x-test'], 'yes');
  });

  it('times out a receiver that does not answer, and reports a cut connection', async () => {
    await withServer(
      (req, res) => {
        if (req.url === '/hook?cut') {
          res.writeHead(200, { 'content-length': '100' });
          res.write('partial');
          setImmediate(() => res.socket?.destroy());
        }
        // otherwise: never answer
      },
      async (url) => {
        const sender = new HttpSender({ ...open, timeoutMs: 150 });
        try {
          const silent = await sender.post(url, '{}', {});
          assert.equal(silent.kind, 'timeout');
          const cut = await sender.post(`${url}?cut`, '{}', {});
          assert.equal(cut.kind, 'network', JSON.stringify(cut));
        } finally {
          sender.close();
        }
      },
    );
  });

  it('refuses a literal private address before connecting, and a non-http URL', async () => {
    const sender = new HttpSender({ guard: { allowPrivateNetworks: false } });
    try {
      const refused = await sender.post('http://10.0.0.1/hook', '{}', {});
      assert.equal(refused.kind, 'refused');
      assert.match('error' in refused ? refused.error : '', /private/);
      assert.equal((await sender.post('file:///etc/passwd', '{}', {})).kind, 'refused');
    } finally {
      sender.close();
    }
  });
});
