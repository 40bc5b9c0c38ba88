// A TCP proxy in front of the test database that a test can cut and restore:
// the database "goes away" for tenantd (connections reset, new ones refused)
// without stopping the server the other tests share.
import net from 'node:net';
import type { TestContext } from 'node:test';

export interface TcpProxy {
  port: number;
  /** Resets every proxied connection and refuses new ones. */
  cut(): void;
  restore(): void;
  /** `url` with its host and port replaced by the proxy's. */
  through(url: string): string;
}

export async function startTcpProxy(t: TestContext, target: { host: string; port: number }): Promise<TcpProxy> {
  let open = true;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (!open) return client.resetAndDestroy();
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    cut() {
      open = false;
      for (const s of sockets) s.resetAndDestroy();
      sockets.clear();
    },
    restore() {
      open = true;
    },
    through(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
  };
}
