// One worker place of a tenant's group: forks the worker (after it holds a place
// under maxLive and its turn at the start gate), hands it its start message,
// tracks its state and requests in flight, and restarts it with backoff when it
// exits unasked.
import type { Socket } from 'node:net';
import type { ClientInfo } from '../http/client-address.ts';
import type { ClientLimits } from '../http/client-limits.ts';
import type { TenantTls } from '../tls/tenant-tls.ts';
import { isWorkerMessage, type WorkerMessage } from '../worker/worker-messages.ts';
import { backoffDelay, healthyAfter } from '../base/backoff.ts';
import type { LiveSlot } from './live-workers.ts';
import type { Release } from './start-gate.ts';
import type { BoundOptions, WorkerHandle, WorkerState } from './worker-types.ts';

/** ms between looks at a draining worker's open connections. */
const drainPoll = 20;
/** Consecutive failures after which the worker (and, when all are, the site) is marked failed. */
export const failedAfter = 5;

/** What a slot needs of its group. */
export interface SlotOwner {
  /** A slot's state changed. */
  changed(): void;
  /** The worker on `port` exited: requests are no longer counted on it. */
  portGone(port: number): void;
  /** Whether the group may lose `slot` (it is beyond the tenant's min). */
  canRetire(slot: WorkerSlot): boolean;
  /** Stops `slot` and drops it from the group. */
  retire(slot: WorkerSlot, why: 'idle' | 'evicted'): void;
}


/** Connections waiting to be handed to one worker (each waits for the one before to be acknowledged, ~145 µs). */
export const maxSending = 256;
export class WorkerSlot implements LiveSlot {
  state: WorkerState = 'starting';
  /** Requests in flight on the proxy path (the router says when each is done). */
  inFlight = 0;
  /** Ids of the client connections handed to the worker and not reported closed. */
  readonly connections = new Set<number>();
  /** Sockets sent to the worker whose message is not written yet: closed here if the worker dies first. */
  readonly #sending = new Set<Socket>();
  /** The start message was sent to the current process (later messages are safe). */
  #startSent = false;
  lastActive = Date.now();
  /** ms timestamp when its current start began (forked). */
  startedAt = 0;
  port: number | null = null;
  pid: number | null = null;
  restarts = 0;
  reason: string | undefined;
  #consecutive = 0;
  #readyAt = 0;
  #handle: WorkerHandle | undefined;
  /** Called when the worker answers hand-back. */
  #handedBack: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #exited: Promise<void> = Promise.resolve();
  readonly #group: SlotOwner;
  readonly #options: BoundOptions;

  /** One of the tenant's min workers (see LiveSlot.required). */
  readonly required: boolean;

  constructor(group: SlotOwner, options: BoundOptions, required: boolean) {
    this.#group = group;
    this.#options = options;
    this.required = required;
  }

  /** Waiting for a place under maxLive or a turn at the start gate: its own start has not begun. */
  get queued(): boolean {
    return this.state === 'starting' && this.#handle === undefined;
  }

  get owner(): object {
    return this.#group;
  }

  get evictable(): boolean {
    return this.state === 'ready' && this.inFlight === 0 && this.#group.canRetire(this);
  }

  evict(): void {
    this.#group.retire(this, 'evicted');
  }

  /** Queues a start: it takes a place under maxLive, then its turn at the start gate. */
  spawn(): void {
    if (this.state !== 'failed') this.state = 'starting';
    this.port = null;
    this.#options.live.reserve(this, () => {
      if (this.state === 'stopping' || this.state === 'stopped') return this.#options.live.release(this);
      this.#options.starts.acquire((release) => this.#begin(release));
    });
  }

  /** A start that holds a place at the gate until the worker is ready, unavailable or gone. */
  #begin(release: Release): void {
    const { fork, start, startTimeout, log, ports } = this.#options;
    if (this.state === 'stopping' || this.state === 'stopped') {
      this.#options.live.release(this);
      return release();
    }
    let port: number;
    try {
      port = ports.acquire();
    } catch (error) {
      release();
      this.#options.live.release(this);
      this.#failed((error as Error).message);
      return;
    }
    const handle = fork();
    this.#handle = handle;
    this.#startSent = false;
    if (this.#options.follow) {
      const { stdout, stderr } = handle.process;
      if (stdout) this.#options.follow(stdout);
      if (stderr) this.#options.follow(stderr);
    }
    this.startedAt = Date.now();
    this.pid = handle.process.pid ?? null;
    let failure: string | undefined;
    this.#exited = new Promise((resolve) => {
      handle.on('exit', (code, signal) => {
        release();
        this.#options.live.release(this);
        clearTimeout(this.#timer);
        ports.release(port);
        this.#group.portGone(port);
        this.#handle = undefined;
        this.port = null;
        this.inFlight = 0;
        this.#connectionsClosed([...this.connections], null);
        for (const socket of this.#sending) socket.destroy();
        this.#sending.clear();
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
        // What changed since this worker was forked (certificates) is in the options now.
        handle.send({ ...start, tls: this.#options.start.tls, port });
        this.#startSent = true;
      } else if (message.type === 'ready') {
        release();
        clearTimeout(this.#timer);
        if (this.state === 'stopping') return;
        const was = this.state;
        this.state = 'ready';
        this.port = message.port;
        this.reason = undefined;
        this.lastActive = Date.now();
        if (this.#readyAt === 0) this.#readyAt = Date.now();
        if (was === 'unavailable') log.info({ workerPid: this.pid, port: message.port }, 'worker ready again: database reachable');
        else log.info({ workerPid: this.pid, port: message.port, startMs: Date.now() - this.startedAt }, 'worker ready');
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
      } else if (message.type === 'report') {
        if (message.requests) this.lastActive = Date.now();
        this.#connectionsClosed(message.closed, message.requests);
      } else if (message.type === 'failed') {
        failure = message.error;
      } else if (message.type === 'handed-back') {
        this.#handedBack?.();
      }
    });
    this.#timer = setTimeout(() => {
      failure = `not ready within ${startTimeout} ms`;
      handle.kill('SIGKILL');
    }, startTimeout);
  }

  #connectionsClosed(ids: readonly number[], requests: Parameters<NonNullable<BoundOptions['onReport']>>[1]): void {
    for (const id of ids) this.connections.delete(id);
    if (ids.length > 0 || requests) this.#options.onReport?.(ids, requests);
  }

  /** Gives client connection `id` to the worker; false, with the socket untouched, when there is no worker to take it. */
  handOff(id: number, socket: Socket, bytes: Buffer, tls = false, client?: ClientInfo): boolean {
    const handle = this.#handle;
    if (!handle || this.state !== 'ready') return false;
    // Node sends handles one at a time, each after the worker acknowledged the
    // one before: past this many waiting, refuse rather than hold descriptors.
    if (this.#sending.size >= maxSending) return false;
    // keepOpen: this process closes its copy of the socket itself, once the
    // message (and the descriptor with it) is written. Without it, Node closes
    // its copy only when the worker acknowledges, and never if the worker dies
    // first: the client would wait forever. Closing a copy in flight is safe:
    // the kernel holds the connection for the worker's copy.
    this.#sending.add(socket);
    handle.send({ type: 'connection', id, head: bytes.toString('base64'), ...(tls ? { tls: true as const } : {}), ...(client ? { client } : {}) }, socket, { keepOpen: true }, (error) => {
      this.#sending.delete(socket);
      socket.destroy();
      if (error) this.#options.log.warn({ workerPid: this.pid, err: error }, 'a connection could not be handed to the worker');
    });
    this.connections.add(id);
    this.lastActive = Date.now();
    return true;
  }

  closeConnection(id: number): void {
    if (this.connections.has(id)) this.#handle?.send({ type: 'close-connection', id });
  }

  /** The tenant's certificates or ticket keys changed: tell the worker (a worker starting later gets them in its start message). */
  setTls(tls: TenantTls): void {
    // Before its start message, a worker would take this for it: the start message carries them.
    if (this.#handle && this.#startSent && this.state !== 'stopping' && this.state !== 'stopped') this.#handle.send({ type: 'tls', tls });
  }

  /** The router's limits changed: tell the worker (a worker starting later gets them in its start message). */
  setLimits(limits: ClientLimits): void {
    if (this.#handle && (this.state === 'ready' || this.state === 'unavailable')) this.#handle.send({ type: 'limits', limits });
  }

  /**
   * The tenant moves: the worker sends every request on its handed-off
   * connections back through the router from now on. Resolves once it says
   * none it serves itself is in flight and the router's requests to it are
   * done, it exited, or `timeout` ms passed.
   */
  async handBack(timeout: number): Promise<void> {
    const handle = this.#handle;
    if (!handle || this.state === 'stopping' || this.state === 'stopped') return;
    const deadline = Date.now() + timeout;
    let answered = false;
    this.#handedBack = () => { answered = true; };
    try {
      handle.send({ type: 'hand-back' });
    } catch {
      return;
    }
    while ((!answered || this.inFlight > 0) && this.#handle === handle && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    this.#handedBack = undefined;
  }

  /**
   * Asks the worker to close its handed-off connections (each after its response)
   * and resolves when it has reported them all closed, it exited, or `timeout` ms
   * passed. The worker still serves the router meanwhile.
   */
  async drainConnections(timeout: number): Promise<void> {
    const handle = this.#handle;
    if (!handle || this.connections.size === 0) return;
    try {
      handle.send({ type: 'drain', timeout });
    } catch {
      return;
    }
    const deadline = Date.now() + timeout;
    while (this.connections.size > 0 && this.#handle === handle && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, drainPoll));
    }
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
    // Still waiting for a place or a turn: give it up.
    if (!handle) this.#options.live.release(this);
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
