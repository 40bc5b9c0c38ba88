// Bounds how many workers start at once (workers.startConcurrency). Starting
// 100 workers together on 2 cores starves every one of them past its start
// timeout; in turns, each starts in its usual ~0.1 s. First come, first served.

export type Release = () => void;

export class StartGate {
  /** Starts allowed at once; a reload may change it. */
  limit: number;
  #running = 0;
  readonly #waiting: ((release: Release) => void)[] = [];

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Starts waiting for their turn. */
  get queued(): number {
    return this.#waiting.length;
  }

  /**
   * Calls `start` with a release function when a start may begin: at once when
   * there is room (so a group constructed with room forks before it returns),
   * else in turn. Call release once the start is over.
   */
  acquire(start: (release: Release) => void): void {
    this.#waiting.push(start);
    this.#next();
  }

  #next(): void {
    while (this.#running < this.limit && this.#waiting.length > 0) {
      this.#running += 1;
      let released = false;
      this.#waiting.shift()!(() => {
        if (released) return;
        released = true;
        this.#running -= 1;
        this.#next();
      });
    }
  }
}
