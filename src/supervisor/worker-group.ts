// The workers of one site: keeps `min` of them running, starts one for a
// request when there is none (min 0) and another while every one is busy (up to
// `max`), stops those beyond min that stayed idle, and gives the router the
// port of the least busy ready worker.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { ClientInfo } from '../http/client-address.ts';
import type { ClientLimits } from '../http/client-limits.ts';
import type { TenantTls } from '../tls/tenant-tls.ts';
import type { Site } from '../config/config.ts';
import { LiveWorkers } from './live-workers.ts';
import { StartGate } from './start-gate.ts';
import { WorkerSlot, type SlotOwner } from './worker-slot.ts';
import type { BoundOptions, GroupState, WorkerGroupOptions, WorkerStatus } from './worker-types.ts';

export { failedAfter } from './worker-slot.ts';
export type { ForkWorker, GroupState, WorkerGroupOptions, WorkerHandle, WorkerState, WorkerStatus } from './worker-types.ts';

export class WorkerGroup extends EventEmitter implements SlotOwner {
  readonly site: Site;
  readonly #slots: WorkerSlot[] = [];
  readonly #byPort = new Map<number, WorkerSlot>();
  readonly #options: BoundOptions;
  #state: GroupState = 'starting';
  /** When a request found no worker and started one: for the cold-start metric. */
  #coldSince = 0;

  constructor(options: WorkerGroupOptions) {
    super();
    this.setMaxListeners(0);
    this.site = options.site;
    this.#options = { ...options, starts: options.starts ?? new StartGate(Infinity), live: options.live ?? new LiveWorkers(Infinity) };
    for (let i = 0; i < this.site.min; i++) this.#grow(true);
    this.changed();
  }

  get state(): GroupState {
    return this.#state;
  }

  /** Starts one more worker; `required`: one of the tenant's min. */
  #grow(required = false): void {
    const slot = new WorkerSlot(this, this.#options, required);
    this.#slots.push(slot);
    slot.spawn();
  }

  /** Called by a slot whenever its state changes. */
  changed(): void {
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    const previous = this.#state;
    if (this.#slots.length === 0) this.#state = 'idle';
    else if (this.#slots.some((s) => s.state === 'ready')) this.#state = 'ready';
    else if (this.#slots.some((s) => s.state === 'unavailable')) this.#state = 'unavailable';
    else if (this.#slots.every((s) => s.state === 'failed')) this.#state = 'failed';
    else this.#state = 'starting';
    for (const slot of this.#slots) if (slot.state === 'ready' && slot.port !== null) this.#byPort.set(slot.port, slot);
    if (this.#state === 'ready') {
      if (this.#coldSince > 0) this.#options.onColdStart?.(Date.now() - this.#coldSince);
      this.#coldSince = 0;
      this.emit('ready');
    }
    if (this.#state !== previous) this.emit('state', this.#state);
  }

  portGone(port: number): void {
    this.#byPort.delete(port);
  }

  canRetire(slot: WorkerSlot): boolean {
    return this.#slots.includes(slot) && this.#slots.length > this.site.min;
  }

  retire(slot: WorkerSlot, why: 'idle' | 'evicted'): void {
    const index = this.#slots.indexOf(slot);
    if (index < 0) return;
    this.#slots.splice(index, 1);
    if (slot.port !== null) this.#byPort.delete(slot.port);
    this.#options.log.info({ workerPid: slot.pid, why }, why === 'idle' ? 'idle worker stopped' : 'idle worker stopped to make room for another tenant');
    this.#options.onRetire?.(why);
    void slot.stop(this.#options.stopTimeout).then(() => this.changed());
    this.changed();
  }

  /** Stops the workers beyond min that served nothing for `idleTimeout` ms. */
  reap(now: number, idleTimeout: number): void {
    for (const slot of [...this.#slots]) {
      if (slot.state === 'ready' && slot.inFlight === 0 && now - slot.lastActive >= idleTimeout && this.canRetire(slot)) this.retire(slot, 'idle');
    }
  }

  /**
   * The port of the least busy ready worker (counted as one more request in
   * flight until done(port)); waits up to `timeout` ms for one that is starting,
   * starting one when there is none; undefined at once when none can come
   * (failed, or the database unavailable: the caller answers 503 with Retry-After).
   * As with startTimeout, the wait counts from the worker's own start: time its
   * start spends queued behind others (startConcurrency, maxLive) does not.
   */
  next(timeout: number): Promise<number | undefined> | number | undefined {
    const port = this.#pick();
    if (port !== undefined || this.#state === 'failed' || this.#state === 'unavailable' || this.#state === 'stopping' || this.#state === 'stopped') return port;
    if (this.#slots.length === 0) {
      this.#coldSince = Date.now();
      this.#grow();
      this.changed();
    }
    if (timeout <= 0) return undefined;
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
      const arm = (ms: number): NodeJS.Timeout => setTimeout(() => {
        const starting = this.#slots.filter((s) => s.state === 'starting');
        if (starting.some((s) => s.queued)) return void (timer = arm(timeout));
        const left = Math.max(0, ...starting.map((s) => s.startedAt)) + timeout - Date.now();
        if (left > 0) timer = arm(left);
        else finish();
      }, ms);
      let timer = arm(timeout);
      this.on('ready', finish);
      this.on('state', onState);
    });
  }

  /** The router finished a request on `port`. */
  done(port: number): void {
    const slot = this.#byPort.get(port);
    if (!slot) return;
    slot.inFlight -= 1;
    slot.lastActive = Date.now();
    if (slot.inFlight === 0) this.#options.live.idle();
  }

  /** Gives client connection `id` to the worker on `port` (from next(), whose count it ends). */
  handOff(port: number, id: number, socket: Socket, bytes: Buffer, tls = false, client?: ClientInfo): boolean {
    const slot = this.#byPort.get(port);
    if (!slot?.handOff(id, socket, bytes, tls, client)) return false;
    this.done(port);
    return true;
  }

  closeConnection(id: number): void {
    for (const slot of this.#slots) slot.closeConnection(id);
  }

  /** The tenant's certificates or ticket keys changed: every worker, and every worker started from now on, gets them. */
  setTls(tls: TenantTls): void {
    this.#options.start = { ...this.#options.start, tls };
    for (const slot of this.#slots) slot.setTls(tls);
  }

  /** The router's limits changed: every worker, and every worker started from now on, gets them. */
  setLimits(limits: ClientLimits): void {
    this.#options.start = { ...this.#options.start, limits };
    for (const slot of this.#slots) slot.setLimits(limits);
  }

  /**
   * The ready worker with the least load (proxied requests in flight plus
   * handed-off connections open); while every one has some, another starts (up to max).
   */
  #pick(): number | undefined {
    let best: WorkerSlot | undefined;
    let least = Infinity;
    for (const slot of this.#slots) {
      const load = slot.inFlight + slot.connections.size;
      if (slot.state === 'ready' && slot.port !== null && load < least) {
        best = slot;
        least = load;
      }
    }
    if (!best) return undefined;
    if (least > 0 && this.#slots.length < this.site.max && !this.#slots.some((s) => s.state === 'starting')) this.#grow();
    best.inFlight += 1;
    best.lastActive = Date.now();
    return best.port!;
  }

  /** Resolves once every worker is ready or unavailable, or the group has failed (at once with no worker). */
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

  /** Shutdown, first step: the workers close their handed-off connections while the group still routes. */
  async drainConnections(): Promise<void> {
    await Promise.all(this.#slots.map((s) => s.drainConnections(this.#options.stopTimeout)));
  }

  /**
   * The tenant moves to another server: each worker sends the requests of its
   * handed-off connections back through the router; resolves once none of the
   * group's workers serves a request itself (or `timeout` ms passed).
   */
  async handBack(timeout: number): Promise<void> {
    await Promise.all(this.#slots.map((s) => s.handBack(timeout)));
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
    return this.#slots.map((s) => ({
      pid: s.pid, port: s.port, state: s.state, restarts: s.restarts, inFlight: s.inFlight, connections: s.connections.size,
      ...(s.reason === undefined ? {} : { reason: s.reason }),
    }));
  }

  /** Why the group is not ready, if it is not: the first worker's reason. */
  get reason(): string | undefined {
    return this.#state === 'ready' || this.#state === 'idle' ? undefined : this.#slots.find((s) => s.reason !== undefined)?.reason;
  }
}
