/**
 * A TCP proxy inside the test, between Sluice nodes and the shared
 * PostgreSQL server: `cut()` breaks every connection and refuses new ones
 * (as a database outage looks to the nodes) without touching the server,
 * which other tests use; `restore()` lets connections through again.
 */
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Breaks every open connection and refuses new ones until restore(). */
  cut(): void;
  restore(): void;
  /** Connections open through the proxy now. */
  readonly open: number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let cut = false;
  const server = createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: target.host, port: target.port });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const breakAll = (): void => {
    for (const [client, upstream] of pairs) {
      // A reset, as a dead server or network gives, not a polite close.
      client.resetAndDestroy();
      upstream.destroy();
    }
    pairs.clear();
  };
  return {
    port: (server.address() as AddressInfo).port,
    cut() {
      cut = true;
      breakAll();
    },
    restore() {
      cut = false;
    },
    get open() {
      return pairs.size;
    },
    close() {
      breakAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
