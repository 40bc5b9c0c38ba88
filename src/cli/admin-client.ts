// Talks to the running service's admin API, at the `admin` address of the config.
import http from 'node:http';
import type { Address } from '../config/config.ts';
import { errors } from '../base/errors.ts';

export interface AdminReply { status: number; body: unknown }

export function adminRequest(target: { admin: Address; token: string | undefined }, method: string, path: string, timeout = 120_000): Promise<AdminReply> {
  const { host: bound, port } = target.admin;
  // An admin API bound to every interface is reached on loopback.
  const host = bound === '0.0.0.0' ? '127.0.0.1' : bound === '::' ? '::1' : bound;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path, timeout, headers: { accept: 'application/json', ...(target.token ? { authorization: `Bearer ${target.token}` } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => {
        if (res.statusCode === 401) {
          reject(new errors.AdminUnauthorized(where));
          return;
        }
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch {
          reject(new errors.ServiceUnreachable(where, `answered ${res.statusCode} with something that is not JSON`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeout / 1000}s`)));
    req.on('error', (error: NodeJS.ErrnoException) => reject(new errors.ServiceUnreachable(where, error.code ?? error.message)));
    req.end();
  });
}
