// Plain HTTP requests with a chosen Host header (fetch will not send one).
import http from 'node:http';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json<T = any>(): T;
}

export interface RequestOptions {
  host?: string | undefined;
  method?: string;
  path?: string;
  body?: string | Buffer;
  headers?: http.OutgoingHttpHeaders;
  /** A keep-alive agent; default none (each request on its own connection, with `Connection: close`). */
  agent?: http.Agent;
}

export function request(port: number, options: RequestOptions = {}): Promise<Reply> {
  const headers: http.OutgoingHttpHeaders = { ...options.headers };
  if (options.host !== undefined) headers.host = options.host;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path ?? '/', headers, agent: options.agent ?? false, setHost: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeout` ms. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeout = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
