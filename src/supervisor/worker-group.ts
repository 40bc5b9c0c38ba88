// The workers of one site: forks them, hands each its start message, restarts
// the ones that exit with backoff, and gives the router a ready worker's port.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { TenantSpec } from '../config/config.ts';
import type { PrimaryMessage, WorkerMessage } from '../worker/worker-messages.ts';
import { isWorkerMessage } from '../worker/worker-messages.ts';
import type { PortPool } from './port-pool.ts';
import { StartGate, type Release } from './start-gate.ts';

/** What the supervisor needs of a child process; `cluster.fork()` gives one. */
export interface WorkerHandle {
  readonly process: { readonly pid?: number | undefined };
  send(message: PrimaryMessage): unknown;
  kill(signal?: string): void;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'exit', listener: (code: number | null, signal: string | null) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export type ForkWorker = () => WorkerHandle;

export interface WorkerGroupOptions {
  site: TenantSpec;
  /** The start message, but for the port, which each worker gets from `ports`. */
  start: Omit<Extract<PrimaryMessage, { type: 'start' }>, 'port'>;
  ports: PortPool;
  fork: ForkWorker;
  log: Logger;
  /** Bounds the workers starting at once, across groups; default: no bound. */
  starts?: StartGate;
  /** ms a worker may take to report ready, from the moment its own start begins (not while queued). */
  startTimeout: number;
  /** ms a worker may take to drain before SIGKILL. */
  stopTimeout: number;
}

/** `unavailable`: alive, but its database cannot be reached as the tenant role (not a failure: nothing restarts). */
export type WorkerState = 'starting' | 'ready' | 'unavailable' | 'backoff' | 'failed' | 'stopping' | 'stopped';
export type GroupState = 'starting' | 'ready' | 'unavailable' | 'failed' | 'stopping' | 'stopped';

export interface WorkerStatus {
  pid: number | null;
  port: number | null;
  state: WorkerState;
  restarts: number;
  /** Why the worker is unavailable or last exited. */
  reason?: string;
}

import { backoffDelay } from './backoff.ts';

export { backoffDelay };
/** A worker that stayed up this long is healthy again: its failure count resets. */
export const healthyAfter = 60_000;
/** Consecutive failures after which the worker (and, when all are, the site) is marked failed. */
export const failedAfter = 5;

class WorkerSlot {
  state: WorkerState = 'starting';
  port: number | null = null;
  pid: number | null = null;
  restarts = 0;
  reason: string | undefined;
  #consecutive = 0;
  #readyAt = 0;
  #handle: WorkerHandle | undefined;
  #timer: NodeJS.Timeout | undefined;
  #exited: Promise<void> = Promise.resolve();
  readonly #group: WorkerGroup;
  readonly #options: WorkerGroupOptions;

  constructor(group: WorkerGroup, options: WorkerGroupOptions) {
    this.#group = group;
    this.#options = options;
  }

  /** Queues a start; it begins when the start gate lets it. */
  spawn(): void {
    if (this.state !== 'failed') this.state = 'starting';
    this.port = null;
    this.#options.starts!.acquire((release) => this.#begin(release));
  }

  /** A start that holds a place at the gate until the worker is ready, unavailable or gone. */
  #begin(release: Release): void {
    const { fork, start, startTimeout, log, ports } = this.#options;
    if (this.state === 'stopping' || this.state === 'stopped') return release();
    let port: number;
    try {
      port = ports.acquire();
    } catch (error) {
      release();
      this.#failed((error as Error).message);
      return;
    }
    const handle = fork();
    this.#handle = handle;
    this.pid = handle.process.pid ?? null;
    let failure: string | undefined;
    this.#exited = new Promise((resolve) => {
      handle.on('exit', (code, signal) => {
        release();
        clearTimeout(this.#timer);
        ports.release(port);
        this.#handle = undefined;
        this.port = null;
        resolve();
        if (this.state === 'stopping' || this.state === 'stopped') {
          this.state = 'stopped';
          return;
        }
        this.#failed(failure ?? (signal ? `killed by ${signal}` : `exited with code ${code}`));
      });
    });
    // A send to a worker that just died fails here, not in the primary.
    handle.on('error', (error) => log.warn({ workerPid: this.pid, err: error }, 'worker IPC error'));
    handle.on('message', (raw) => {
      if (!isWorkerMessage(raw)) return;
      const message: WorkerMessage = raw;
      if (message.type === 'booted') {
        handle.send({ ...start, port });
      } else if (message.type === 'ready') {
        release();
        clearTimeout(this.#timer);
        if (this.state === 'stopping') return;
        const was = this.state;
        this.state = 'ready';
        this.port = message.port;
        this.reason = undefined;
        if (this.#readyAt === 0) this.#readyAt = Date.now();
        log.info({ workerPid: this.pid, port: message.port }, was === 'unavailable' ? 'worker ready again: database reachable' : 'worker ready');
        this.#group.changed();
      } else if (message.type === 'unavailable') {
        // Alive and retrying by itself: the start timeout no longer applies, and a
        // database outage is not a failure that counts towards 'failed'.
        release();
        clearTimeout(this.#timer);
        if (this.state === 'stopping') return;
        this.state = 'unavailable';
        this.port = message.port;
        this.reason = message.reason;
        log.warn({ workerPid: this.pid, reason: message.reason }, 'worker unavailable: its database cannot be reached');
        this.#group.changed();
      } else if (message.type === 'failed') {
        failure = message.error;
      }
    });
    this.#timer = setTimeout(() => {
      failure = `not ready within ${startTimeout} ms`;
      handle.kill('SIGKILL');
    }, startTimeout);
  }

  #failed(reason: string): void {
    const { log } = this.#options;
    if (this.#readyAt > 0 && Date.now() - this.#readyAt >= healthyAfter) this.#consecutive = 0;
    this.#readyAt = 0;
    this.#consecutive += 1;
    this.restarts += 1;
    const delay = backoffDelay(this.#consecutive);
    this.state = this.#consecutive >= failedAfter ? 'failed' : 'backoff';
    this.reason = reason;
    log.warn({ workerPid: this.pid, reason, restarts: this.restarts, delayMs: delay, failed: this.state === 'failed' }, 'worker exited; restarting');
    this.pid = null;
    this.#group.changed();
    this.#timer = setTimeout(() => this.spawn(), delay);
  }

  async stop(timeout: number): Promise<void> {
    clearTimeout(this.#timer);
    const handle = this.#handle;
    this.state = 'stopping';
    if (handle) {
      const kill = setTimeout(() => handle.kill('SIGKILL'), timeout + 1000);
      try {
        handle.send({ type: 'stop', timeout });
      } catch {
        handle.kill('SIGKILL');
      }
      await this.#exited;
      clearTimeout(kill);
    }
    this.state = 'stopped';
  }
}

export class WorkerGroup extends EventEmitter {
  readonly site: TenantSpec;
  readonly #slots: WorkerSlot[];
  readonly #options: WorkerGroupOptions;
  #next = 0;
  #state: GroupState = 'starting';

  constructor(options: WorkerGroupOptions) {
    super();
    this.setMaxListeners(0);
    this.site = options.site;
    this.#options = { ...options, starts: options.starts ?? new StartGate(Infinity) };
    this.#slots = Array.from({ length: options.site.processes }, () => new WorkerSlot(this, this.#options));
    for (const slot of this.#slots) slot.spawn();
  }

  get state(): GroupState {
    return this.#state;
  }

  /** Called by a slot whenever its state changes. */
  changed(): void {
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    const previous = this.#state;
    if (this.#slots.some((s) => s.state === 'ready')) this.#state = 'ready';
    else if (this.#slots.some((s) => s.state === 'unavailable')) this.#state = 'unavailable';
    else if (this.#slots.every((s) => s.state === 'failed')) this.#state = 'failed';
    else this.#state = 'starting';
    if (this.#state === 'ready') this.emit('ready');
    if (this.#state !== previous) this.emit('state', this.#state);
  }

  /**
   * The port of a ready worker, round robin; waits up to `timeout` ms for one that
   * is starting; undefined at once when none can come (failed, or the database
   * unavailable: the caller answers 503 with Retry-After).
   */
  next(timeout: number): Promise<number | undefined> | number | undefined {
    const port = this.#pick();
    if (port !== undefined || this.#state === 'failed' || this.#state === 'unavailable' || this.#state === 'stopped' || timeout <= 0) return port;
    return new Promise((resolve) => {
      const onState = (state: GroupState) => {
        if (state === 'failed' || state === 'unavailable' || state === 'stopping' || state === 'stopped') finish();
      };
      const finish = () => {
        clearTimeout(timer);
        this.off('ready', finish);
        this.off('state', onState);
        resolve(this.#pick());
      };
      const timer = setTimeout(finish, timeout);
      this.on('ready', finish);
      this.on('state', onState);
    });
  }

  #pick(): number | undefined {
    const count = this.#slots.length;
    for (let i = 0; i < count; i++) {
      const slot = this.#slots[(this.#next + i) % count]!;
      if (slot.state === 'ready' && slot.port !== null) {
        this.#next = (this.#next + i + 1) % count;
        return slot.port;
      }
    }
    return undefined;
  }

  /** Resolves once every worker is ready or unavailable, or the group has failed. */
  settled(): Promise<GroupState> {
    const done = () => this.#slots.every((s) => s.state === 'ready' || s.state === 'unavailable') || this.#state === 'failed' || this.#state === 'stopped';
    if (done()) return Promise.resolve(this.#state);
    return new Promise((resolve) => {
      const check = () => {
        if (!done()) return;
        this.off('ready', check);
        this.off('state', check);
        resolve(this.#state);
      };
      this.on('ready', check);
      this.on('state', check);
    });
  }

  /** Stops routing to the workers, lets them finish in-flight requests, and waits for their exit. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopping';
    this.emit('state', this.#state);
    await Promise.all(this.#slots.map((s) => s.stop(this.#options.stopTimeout)));
    this.#state = 'stopped';
    this.emit('state', this.#state);
  }

  workers(): WorkerStatus[] {
    return this.#slots.map((s) => ({ pid: s.pid, port: s.port, state: s.state, restarts: s.restarts, ...(s.reason === undefined ? {} : { reason: s.reason }) }));
  }

  /** Why the group is not ready, if it is not: the first worker's reason. */
  get reason(): string | undefined {
    return this.#state === 'ready' ? undefined : this.#slots.find((s) => s.reason !== undefined)?.reason;
  }
}
