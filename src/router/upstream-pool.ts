// Kept-alive loopback connections to workers, by port, for one-request client
// connections (one-shot.ts). Each connection's listeners are added once, when it
// is opened, and pass what the worker sends to whoever holds the connection now:
// no listener is added or removed per request.
import net from 'node:net';

/** Who holds a pooled connection: told what its worker sends, and when it closes. */
export interface PoolUser {
  upstreamData(chunk: Buffer): void;
  upstreamClosed(): void;
}

/** Idle pooled connections per worker port at most. */
const maxIdlePerPort = 256;
/** ms a pooled connection may stay idle (the worker keeps them for 10 minutes). */
const idleTimeout = 60_000;

/** A loopback connection to a worker's port, held by one user at a time. */
export class PooledConnection extends net.Socket {
  /** Who holds it; undefined while it is idle in the pool. */
  user: PoolUser | undefined;
  /** When it went idle (ms, performance.now()). */
  idleSince = 0;

  constructor(readonly port: number, readonly pool: UpstreamPool) {
    super();
    this.setNoDelay(true);
    this.on('data', pooledData);
    this.on('close', pooledClosed);
    this.on('error', ignore);
    this.connect(port, '127.0.0.1');
  }
}

function pooledData(this: PooledConnection, chunk: Buffer): void {
  // A worker that speaks when no request is waiting is broken: not reused.
  if (this.user) this.user.upstreamData(chunk);
  else this.destroy();
}

function pooledClosed(this: PooledConnection): void {
  const user = this.user;
  this.user = undefined;
  if (user) user.upstreamClosed();
  else this.pool.forget(this);
}

/** Drops what it is given (an error the close that follows reports). */
function ignore(): void {}

export class UpstreamPool {
  /** Idle connections by port; the last is the most recently used. */
  readonly #idle = new Map<number, PooledConnection[]>();

  /** A pooled connection to `port` (or a new one), held by `user` until release(). */
  acquire(port: number, user: PoolUser): PooledConnection {
    const connection = this.#idle.get(port)?.pop() ?? new PooledConnection(port, this);
    connection.user = user;
    return connection;
  }

  /** Gives a connection back: idle for the next request, or closed when `reusable` is false. */
  release(connection: PooledConnection, reusable: boolean, now: number): void {
    connection.user = undefined;
    if (!reusable || connection.destroyed) return void connection.destroy();
    let idle = this.#idle.get(connection.port);
    if (!idle) {
      idle = [];
      this.#idle.set(connection.port, idle);
    }
    if (idle.length >= maxIdlePerPort) return void connection.destroy();
    connection.idleSince = now;
    idle.push(connection);
  }

  /** An idle connection closed (by its worker, or by sweep()). */
  forget(connection: PooledConnection): void {
    const idle = this.#idle.get(connection.port);
    const at = idle?.lastIndexOf(connection) ?? -1;
    if (at >= 0) idle!.splice(at, 1);
  }

  /** Closes the connections idle for idleTimeout ms. */
  sweep(now: number): void {
    for (const idle of this.#idle.values()) {
      // The oldest are first; each leaves the list through forget() when it closes.
      const stale = idle.filter((connection) => now - connection.idleSince >= idleTimeout);
      for (const connection of stale) connection.destroy();
    }
  }

  close(): void {
    for (const idle of this.#idle.values()) for (const connection of [...idle]) connection.destroy();
    this.#idle.clear();
  }
}
