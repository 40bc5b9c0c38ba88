// The one replaceable step that carries a routed request to a worker's port and
// its answer back. This implementation uses http-proxy-3 with a keep-alive agent
// (without one, every request opens a new connection and throughput halves).
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { createProxyServer } from 'http-proxy-3';

export type ForwardFailure = 'refused' | 'timeout';

export interface Forwarder {
  /**
   * Forwards `req` to 127.0.0.1:`port`; calls `onFailure` if no answer can be relayed,
   * with 'timeout' when the worker sent nothing for `timeout` ms.
   */
  web(req: http.IncomingMessage, res: http.ServerResponse, port: number, timeout: number, onFailure: (kind: ForwardFailure, error: Error) => void): void;
  /** Forwards a WebSocket upgrade. */
  ws(req: http.IncomingMessage, socket: Duplex, head: Buffer, port: number): void;
  close(): void;
}

const timeoutOf = Symbol('tenantd.timeout');
const timedOut = Symbol('tenantd.timedOut');
type Marked = Record<symbol, unknown>;

export function createHttpProxyForwarder(): Forwarder {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64 });
  const proxy = createProxyServer({ agent, ws: true, xfwd: false, proxyTimeout: 0 });
  proxy.on('proxyReq', (proxyReq, req) => {
    proxyReq.setTimeout((req as unknown as Marked)[timeoutOf] as number, () => {
      (req as unknown as Marked)[timedOut] = true;
      proxyReq.destroy();
    });
  });
  // WebSocket errors after the upgrade have no response to write: just close.
  proxy.on('error', (_error, _req, target) => {
    if (target && 'destroy' in target && !(target instanceof http.ServerResponse)) target.destroy();
  });
  return {
    web(req, res, port, timeout, onFailure) {
      (req as unknown as Marked)[timeoutOf] = timeout;
      proxy.web(req, res, { target: { host: '127.0.0.1', port } }, (error) => {
        const kind = (req as unknown as Marked)[timedOut] ? 'timeout' : 'refused';
        onFailure(kind, error);
      });
    },
    ws(req, socket, head, port) {
      proxy.ws(req, socket, head, { target: { host: '127.0.0.1', port } }, () => socket.destroy());
    },
    close() {
      proxy.close();
      agent.destroy();
    },
  };
}
