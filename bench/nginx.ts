// nginx in front of one tenantd worker, as the stack tenantd replaces runs it:
// one worker process, an upstream keep-alive pool, access log off.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort } from '../src/base/free-port.ts';
import { nginxConfig } from '../test/helpers/nginx-config.ts';
import { onCores } from './cores.ts';

export const haveNginx = spawnSync('nginx', ['-v']).error === undefined;

export interface Nginx {
  port: number;
  /** The master process's pid. */
  pid: number;
  stop(): Promise<void>;
}


export async function startNginx(dir: string, upstreamPort: number): Promise<Nginx> {
  const prefix = path.join(dir, 'nginx');
  mkdirSync(prefix, { recursive: true });
  const port = await freePort();
  const conf = path.join(prefix, 'nginx.conf');
  writeFileSync(conf, nginxConfig(prefix, `  upstream worker { server 127.0.0.1:${upstreamPort}; keepalive 256; }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    location / {
      proxy_pass http://worker;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }`));
  const child: ChildProcess = spawn(...onCores('server', 'nginx', ['-p', prefix, '-c', conf, '-g', 'daemon off;']), { stdio: ['ignore', 'inherit', 'inherit'] });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    pid: child.pid!,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGQUIT');
      await exited;
    },
  };
}
