// The one replaceable step that carries a routed request to a worker's port and
// its answer back. This implementation uses http-proxy-3 with a keep-alive agent
// (without one, every request opens a new connection and throughput halves) and
// writes the response itself, so that hop-by-hop headers never cross.
import http from 'node:http';
import { PassThrough, Transform, type Duplex } from 'node:stream';
import { createProxyServer } from 'http-proxy-3';
import { stripHopByHop } from '../http/hop-by-hop.ts';

export type ForwardFailure = 'refused' | 'timeout' | 'too-large';

export interface ForwardLimits {
  /** ms without a byte from the worker before the request fails with 504. */
  timeout: number;
  /** Bytes of request body; a chunked body that grows past it is cut with 413. */
  bodyLimit: number;
}

export interface Forwarder {
  /** Forwards `req` to 127.0.0.1:`port`; calls `onFailure` if no answer can be relayed. */
  web(req: http.IncomingMessage, res: http.ServerResponse, port: number, limits: ForwardLimits, onFailure: (kind: ForwardFailure, error: Error) => void): void;
  /** Forwards a WebSocket upgrade. */
  ws(req: http.IncomingMessage, socket: Duplex, head: Buffer, port: number): void;
  close(): void;
}

interface Marks {
  timeout: number;
  failure?: ForwardFailure;
  proxyReq?: http.ClientRequest;
}
// Kept on the request itself: a WeakMap entry per request made the garbage
// collector cost the router about a sixth of its throughput (npm run bench).
const marksOf = Symbol('tenantd.forward');
type Marked = http.IncomingMessage & { [marksOf]?: Marks };

/** A body without Content-Length (chunked) is counted as it streams. */
function countedBody(req: http.IncomingMessage, limit: number, mark: Marks): PassThrough | Transform {
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > limit) {
        mark.failure = 'too-large';
        req.unpipe(counter);
        mark.proxyReq?.destroy(new Error(`request body over ${limit} bytes`));
        done();
        return;
      }
      done(null, chunk);
    },
  });
  return req.pipe(counter);
}

export function createHttpProxyForwarder(): Forwarder {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64 });
  const proxy = createProxyServer({ agent, ws: true, xfwd: false, selfHandleResponse: true });
  proxy.on('proxyReq', (proxyReq, req) => {
    const mark = (req as Marked)[marksOf]!;
    mark.proxyReq = proxyReq;
    proxyReq.setTimeout(mark.timeout, () => {
      mark.failure ??= 'timeout';
      proxyReq.destroy();
    });
  });
  proxy.on('proxyRes', (proxyRes, _req, res) => {
    const headers = { ...proxyRes.headers };
    stripHopByHop(headers);
    res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, headers);
    proxyRes.pipe(res);
    proxyRes.once('error', () => res.destroy());
    proxyRes.once('aborted', () => res.destroy());
  });
  // WebSocket errors after the upgrade have no response to write: just close.
  proxy.on('error', (_error, _req, target) => {
    if (target && 'destroy' in target && !(target instanceof http.ServerResponse)) target.destroy();
  });
  return {
    web(req, res, port, limits, onFailure) {
      const mark: Marks = { timeout: limits.timeout };
      (req as Marked)[marksOf] = mark;
      stripHopByHop(req.headers, ['transfer-encoding']);
      const chunked = req.headers['content-length'] === undefined && req.headers['transfer-encoding'] !== undefined;
      proxy.web(req, res, {
        target: { host: '127.0.0.1', port },
        ...(chunked ? { buffer: countedBody(req, limits.bodyLimit, mark) } : {}),
      }, (error) => onFailure(mark.failure ?? 'refused', error));
    },
    ws(req, socket, head, port) {
      stripHopByHop(req.headers, ['connection', 'upgrade']);
      proxy.ws(req, socket, head, { target: { host: '127.0.0.1', port } }, () => socket.destroy());
    },
    close() {
      proxy.close();
      agent.destroy();
    },
  };
}
