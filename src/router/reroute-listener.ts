// The router's loopback listener for requests a worker was given but are not
// its tenant's (another Host on a handed-off connection): the worker sends each
// here with a token that proves it is a worker, and the proxy path routes it
// afresh, trusting the X-Forwarded-* the worker set from the client's connection.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { rerouteHeader, type RerouteTarget } from '../http/client-limits.ts';
import { CountedResponse } from '../http/counted-response.ts';
import type { ProxyPath } from './proxy-path.ts';

/** ms a worker's idle connection to this listener stays open: far longer than the worker's pool keeps it. */
const keepAliveTimeout = 10 * 60_000;

export class RerouteListener {
  readonly #server: http.Server;
  readonly #token = randomBytes(18).toString('base64url');

  constructor(proxy: ProxyPath, serverOptions: http.ServerOptions) {
    this.#server = http.createServer({ ...serverOptions, ServerResponse: CountedResponse as typeof http.ServerResponse }, (req, res) => {
      if (this.#fromWorker(req)) void proxy.handle(req, res as CountedResponse, true);
      else proxy.reject(req, res as CountedResponse, { status: 403, message: 'forbidden' });
    });
    this.#server.keepAliveTimeout = keepAliveTimeout;
  }

  /** Binds a free loopback port. */
  listen(): Promise<void> {
    return new Promise((resolve) => this.#server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, resolve));
  }

  /** Where workers send requests that are not their tenant's. */
  get target(): RerouteTarget {
    return { port: (this.#server.address() as net.AddressInfo).port, token: this.#token };
  }

  close(): void {
    this.#server.close();
    this.#server.closeAllConnections();
  }

  /** The reroute token, checked in constant time and removed. */
  #fromWorker(req: http.IncomingMessage): boolean {
    const token = req.headers[rerouteHeader];
    delete req.headers[rerouteHeader];
    if (typeof token !== 'string' || token.length !== this.#token.length) return false;
    return timingSafeEqual(Buffer.from(token), Buffer.from(this.#token));
  }
}
