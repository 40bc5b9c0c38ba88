// The shapes the supervisor shares with its callers: the child-process seam,
// a group's options, and the states a worker and a group report.
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { RequestCounts } from '../http/request-stats.ts';
import type { Site } from '../config/config.ts';
import type { PrimaryMessage } from '../worker/worker-messages.ts';
import type { LiveWorkers } from './live-workers.ts';
import type { PortPool } from './port-pool.ts';
import type { StartGate } from './start-gate.ts';

/** What the supervisor needs of a child process; `cluster.fork()` gives one. */
export interface WorkerHandle {
  /** stdout and stderr: pipes when workers are forked silent (their output printed by the primary). */
  readonly process: { readonly pid?: number | undefined; readonly stdout?: Readable | null; readonly stderr?: Readable | null };
  /**
   * `socket`: a client connection handed to the worker with the message; then
   * `callback` runs once the message is written (or could not be).
   */
  send(message: PrimaryMessage, socket?: Socket, options?: { keepOpen?: boolean }, callback?: (error: Error | null) => void): unknown;
  kill(signal?: string): void;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'exit', listener: (code: number | null, signal: string | null) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export type ForkWorker = () => WorkerHandle;

export interface WorkerGroupOptions {
  site: Site;
  /** The start message, but for the port, which each worker gets from `ports`. */
  start: Omit<Extract<PrimaryMessage, { type: 'start' }>, 'port'>;
  ports: PortPool;
  fork: ForkWorker;
  log: Logger;
  /** Bounds the workers starting at once, across groups; default: no bound. */
  starts?: StartGate;
  /** Bounds the workers alive at once, across groups; default: no bound. */
  live?: LiveWorkers;
  /** ms a worker may take to report ready, from the moment its own start begins (not while queued). */
  startTimeout: number;
  /** ms a worker may take to drain before SIGKILL. */
  stopTimeout: number;
  /** Called when a worker beyond min stops: `idle` (idleTimeout) or `evicted` (maxLive). */
  onRetire?: (why: 'idle' | 'evicted') => void;
  /**
   * Called with what a worker reports of the connections handed to it: the ids
   * that closed (all it held, when it exits) and counts of requests served.
   */
  onReport?: (closed: readonly number[], requests: RequestCounts | null) => void;
  /** Called when a request found no worker and one was started for it, with ms until it was ready. */
  onColdStart?: (ms: number) => void;
  /** Given each worker's stdout and stderr when they are pipes (see WorkerHandle). */
  follow?: (stream: Readable) => void;
}

/** A group's options once its gates are set (unbounded ones when the caller gave none). */
export type BoundOptions = WorkerGroupOptions & Required<Pick<WorkerGroupOptions, 'starts' | 'live'>>;

/**
 * Every state a worker reports (docs/commands.md lists them; a test checks).
 * `unavailable`: alive, but its database cannot be reached as the tenant role (not a failure: nothing restarts).
 */
export const workerStates = ['starting', 'ready', 'unavailable', 'backoff', 'failed', 'stopping', 'stopped'] as const;
export type WorkerState = typeof workerStates[number];
/** Every state a tenant's group reports. `idle`: no worker at all (min 0): the next request starts one. */
export const groupStates = ['idle', 'starting', 'ready', 'unavailable', 'failed', 'stopping', 'stopped'] as const;
export type GroupState = typeof groupStates[number];

export interface WorkerStatus {
  pid: number | null;
  port: number | null;
  state: WorkerState;
  restarts: number;
  /** Requests in flight now, on the proxy path. */
  inFlight: number;
  /** Client connections handed to the worker and open. */
  connections: number;
  /** Why the worker is unavailable or last exited. */
  reason?: string;
}
