import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mock, test } from 'node:test';
import pino from 'pino';
import { backoffDelay } from '../src/base/backoff.ts';
import { WorkerGroup, type WorkerHandle } from '../src/supervisor/worker-group.ts';
import type { PrimaryMessage } from '../src/worker/worker-messages.ts';
import { PortPool } from '../src/supervisor/port-pool.ts';

/** A worker process stand-in, driven by the test through the fork seam. */
class FakeWorker extends EventEmitter implements WorkerHandle {
  static nextPid = 1000;
  readonly process = { pid: FakeWorker.nextPid++ };
  readonly sent: PrimaryMessage[] = [];
  readonly signals: string[] = [];
  send(message: PrimaryMessage): boolean {
    this.sent.push(message);
    if (message.type === 'stop') queueMicrotask(() => this.emit('exit', 0, null));
    return true;
  }
  kill(signal = 'SIGTERM'): void {
    this.signals.push(signal);
    queueMicrotask(() => this.emit('exit', null, signal));
  }
  boot(port?: number): void {
    this.emit('message', { type: 'booted' });
    if (port !== undefined) this.emit('message', { type: 'ready', port });
  }
}

function group(forks: FakeWorker[], startTimeout = 30_000) {
  return new WorkerGroup({
    site: { schema: 'acme', name: 'Acme', hosts: ['acme.test'], settings: {}, allowTrace: false, min: 1, max: 1 },
    start: { type: 'start', tenant: { schema: 'acme', name: 'Acme', hosts: ['acme.test'], settings: {}, allowTrace: false }, app: '/app.ts', credentials: { url: 'postgres://x', passwords: ['x'], schema: 'acme', statementTimeout: 0, poolSize: 1, idleTimeout: 1000 }, migrations: undefined, logLevel: 'silent', limits: { bodyLimit: 1024, maxHeaderSize: 16384, maxHeaderLineSize: 8192, headersTimeout: 1000, requestTimeout: 1000, keepAliveTimeout: 1000, upstreamTimeout: 1000, accessLog: false, reroute: { port: 1, token: 'x' } } },
    fork: () => {
      const w = new FakeWorker();
      forks.push(w);
      return w;
    },
    ports: new PortPool(),
    log: pino({ level: 'silent' }),
    startTimeout,
    stopTimeout: 1000,
  });
}

const flush = () => new Promise<void>((resolve) => queueMicrotask(resolve));

test('restart delays start immediate and double up to 30 s', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(backoffDelay), [0, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

test('a crash-looping worker is restarted with backoff and its tenant marked failed after five failures', async (t) => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  t.after(() => mock.timers.reset());
  const forks: FakeWorker[] = [];
  const g = group(forks);
  forks[0]!.boot();
  assert.equal(forks[0]!.sent[0]!.type, 'start', 'the start message waits for the worker to boot');

  const expected = [0, 500, 1000, 2000];
  for (const [i, delay] of expected.entries()) {
    forks[i]!.emit('exit', 1, null);
    if (delay > 0) {
      mock.timers.tick(delay - 1);
      assert.equal(forks.length, i + 1, `no restart before ${delay} ms`);
    }
    mock.timers.tick(delay > 0 ? 1 : 0);
    assert.equal(forks.length, i + 2, `restart ${i + 1} after ${delay} ms`);
    assert.equal(g.state, 'starting');
  }
  forks[4]!.emit('exit', 1, null);
  assert.equal(g.state, 'failed');
  assert.equal(g.workers()[0]!.restarts, 5);
  assert.equal(await g.next(5000), undefined, 'a failed tenant answers at once, without waiting');
  // It keeps trying, slowly; a worker that comes up makes the tenant ready again.
  mock.timers.tick(4000);
  assert.equal(forks.length, 6);
  forks[5]!.boot(4321);
  assert.equal(g.state, 'ready');
  assert.equal(await g.next(0), 4321);
});

test('a worker that stayed up a minute is restarted at once, its failures forgotten', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  try {
    const forks: FakeWorker[] = [];
    group(forks);
    forks[0]!.boot(1);
    forks[0]!.emit('exit', 1, null);
    mock.timers.tick(0);
    forks[1]!.boot(2);
    forks[1]!.emit('exit', 1, null);
    mock.timers.tick(500);
    forks[2]!.boot(3);
    mock.timers.tick(60_000);
    forks[2]!.emit('exit', 1, null);
    mock.timers.tick(0);
    assert.equal(forks.length, 4, 'healthy for a minute: the next restart is immediate');
  } finally {
    mock.timers.reset();
  }
});

test('a worker that does not report ready within startTimeout is killed and restarted', async (t) => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  t.after(() => mock.timers.reset());
  const forks: FakeWorker[] = [];
  group(forks, 5000);
  forks[0]!.boot();
  mock.timers.tick(5000);
  assert.deepEqual(forks[0]!.signals, ['SIGKILL']);
  await flush();
  mock.timers.tick(0);
  assert.equal(forks.length, 2);
});

test('a worker that does not exit within stopTimeout of the stop message gets SIGKILL', async (t) => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  t.after(() => mock.timers.reset());
  const forks: FakeWorker[] = [];
  const g = group(forks);
  forks[0]!.boot(7000);
  // This worker ignores its stop message.
  forks[0]!.send = function (message: PrimaryMessage) { this.sent.push(message); return true; };
  const stopped = g.stop();
  mock.timers.tick(1000);
  assert.deepEqual(forks[0]!.signals, []);
  mock.timers.tick(1000);
  assert.deepEqual(forks[0]!.signals, ['SIGKILL']);
  await stopped;
  assert.equal(g.state, 'stopped');
  assert.equal(forks.length, 1);
});

test('requests wait for a starting worker and get its port once ready; stopping sends stop and waits for the exit', async () => {
  const forks: FakeWorker[] = [];
  const g = group(forks);
  const waiting = g.next(10_000);
  forks[0]!.boot(5555);
  assert.equal(await waiting, 5555);
  await g.stop();
  assert.deepEqual(forks[0]!.sent.map((m) => m.type), ['start', 'stop']);
  assert.equal(g.state, 'stopped');
  assert.equal(forks.length, 1, 'a stopped worker is not restarted');
});

test('a port range hands out its ports round robin, takes released ones back, and says when it is exhausted', () => {
  const pool = new PortPool({ from: 20000, to: 20002 });
  assert.deepEqual([pool.acquire(), pool.acquire(), pool.acquire()], [20000, 20001, 20002]);
  assert.throws(() => pool.acquire(), /TENANTD_PORTS_EXHAUSTED: all 3 ports of workers.ports \(20000-20002\) are in use/);
  pool.release(20001);
  assert.equal(pool.acquire(), 20001);
  assert.equal(new PortPool().acquire(), 0, 'without a range the kernel picks');
});
