// Runs one load: wrk when it is on the PATH (one thread, leaving a core for the
// server), the built-in generator (bench/load.mjs) otherwise.
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { onCores } from './cores.ts';

export interface LoadResult {
  rps: number;
  /** Non-2xx answers and socket errors. */
  failed: number;
  /** Latency percentiles, µs. */
  p50: number;
  p99: number;
}

export interface Load {
  port: number;
  host: string;
  path: string;
  connections: number;
  seconds: number;
  /** One request per connection (Connection: close). */
  close?: boolean;
}

export const haveWrk = spawnSync('wrk', ['--version']).error === undefined;

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const [file, argv] = onCores('load', command, args);
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 || command === 'wrk' ? resolve(out) : reject(new Error(`${command} exited ${code}`))));
  });
}

/** wrk prints "50%  77.00us" or "1.20ms": in µs. */
function micros(text: string, label: string): number {
  const match = new RegExp(`^\\s*${label}\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(text);
  if (!match) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value : match[2] === 'ms' ? value * 1000 : value * 1e6;
}

export async function runLoad(load: Load): Promise<LoadResult> {
  if (haveWrk) {
    const args = ['-t1', `-c${load.connections}`, `-d${load.seconds}s`, '--latency', '-H', `Host: ${load.host}`];
    if (load.close) args.push('-H', 'Connection: close');
    const out = await run('wrk', [...args, `http://127.0.0.1:${load.port}${load.path}`]);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
    const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
    const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    // With Connection: close, wrk may count the server's close as a read error.
    const failed = non2xx + (errors ? Number(errors[1]) + (load.close ? 0 : Number(errors[2])) + Number(errors[3]) + Number(errors[4]) : 0);
    return { rps, failed, p50: micros(out, '50%'), p99: micros(out, '99%') };
  }
  const script = path.join(import.meta.dirname, 'load.mjs');
  const out = await run(process.execPath, [script, String(load.port), load.host, load.path, String(load.connections), String(load.seconds), load.close ? 'close' : 'keep-alive']);
  return JSON.parse(out) as LoadResult;
}
