// A front (HAProxy, nginx) as the tests run it: its own process, its output in
// a file, stopped with TERM at the test's end.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { eventually } from './http.ts';
import { tempDir } from './service.ts';

/** Starts a front process; resolves once it listens on `port`. */
export async function front(t: TestContext, command: string, args: string[], port: number): Promise<ChildProcess> {
  // Output to a file, not a pipe: a child of the front (nginx's worker) that
  // outlived it would hold a pipe open, and this process with it.
  const log = path.join(tempDir(t), `${command}.log`);
  const out = openSync(log, 'w');
  const child = spawn(command, args, { stdio: ['ignore', out, out] });
  closeSync(out);
  const output = () => readFileSync(log, 'utf8');
  t.after(async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // TERM: nginx's master stops its worker before it exits (KILL would orphan it).
    child.kill('SIGTERM');
    await exited;
  });
  await eventually(() => new Promise<boolean | undefined>((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(child.exitCode === null ? undefined : Promise.reject(new Error(`${command} exited: ${output()}`)) as never));
  }), 10_000, `${command} listening`);
  return child;
}
