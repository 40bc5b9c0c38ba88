// Talks to the running service's admin API, at the `admin` address of the config.
import http from 'node:http';
import type { Address } from '../config/config.ts';
import { errors } from '../errors.ts';

export interface AdminReply { status: number; body: unknown }

export function adminRequest(admin: Address, method: string, path: string, timeout = 120_000): Promise<AdminReply> {
  const { host: bound, port } = admin;
  // An admin API bound to every interface is reached on loopback.
  const host = bound === '0.0.0.0' ? '127.0.0.1' : bound === '::' ? '::1' : bound;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path, timeout, headers: { accept: 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch {
          reject(errors.serviceUnreachable(where, `answered ${res.statusCode} with something that is not JSON`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeout / 1000}s`)));
    req.on('error', (error: NodeJS.ErrnoException) => reject(errors.serviceUnreachable(where, error.code ?? error.message)));
    req.end();
  });
}
