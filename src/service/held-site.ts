// A tenant whose requests wait: while it moves to another database server, its
// hosts route here; each request waits until the move releases it to the
// workers that serve from then on (the new server's, or the old ones again
// after a failed move), or until its queue timeout (then 503, as for a worker
// that does not start).
import type { Socket } from 'node:net';
import type { ClientInfo } from '../http/client-address.ts';
import type { Upstream } from '../router/router.ts';
import type { Site } from '../config/config.ts';

export class HeldSite implements Upstream {
  readonly site: Site;
  #target: Upstream | undefined;
  readonly #waiting = new Set<(target: Upstream) => void>();
  /** Requests that waited here. */
  held = 0;

  constructor(site: Site) {
    this.site = site;
  }

  next(timeout: number): Promise<number | undefined> | number | undefined {
    if (this.#target) return this.#target.next(timeout);
    this.held += 1;
    const began = Date.now();
    return new Promise((resolve) => {
      const go = (target: Upstream) => {
        clearTimeout(timer);
        resolve(target.next(Math.max(0, timeout - (Date.now() - began))));
      };
      const timer = setTimeout(() => {
        this.#waiting.delete(go);
        resolve(undefined);
      }, timeout);
      this.#waiting.add(go);
    });
  }

  done(port: number): void {
    this.#target?.done(port);
  }

  handOff(port: number, id: number, socket: Socket, bytes: Buffer, tls?: boolean, client?: ClientInfo): boolean {
    return this.#target?.handOff(port, id, socket, bytes, tls, client) ?? false;
  }

  closeConnection(id: number): void {
    this.#target?.closeConnection(id);
  }

  /** The requests go on to `target`, those waiting and any that come later. */
  release(target: Upstream): void {
    this.#target = target;
    for (const go of this.#waiting) go(target);
    this.#waiting.clear();
  }
}
