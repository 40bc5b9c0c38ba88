// A TCP port nobody listens on right now, on loopback: for a server that must
// know its port before it binds (the embedded PostgreSQL's first start), and
// for tests and benchmarks. Another process may take it before it is used:
// callers that bind it retry.
import net from 'node:net';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
