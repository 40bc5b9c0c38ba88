// Loopback ports for workers: any free port (the kernel picks), or ports from a
// configured range, handed out round robin so that a port just released (or
// held by something else) is not tried again at once.
import { errors } from '../base/errors.ts';

export class PortPool {
  readonly #from: number;
  readonly #to: number;
  readonly #taken = new Set<number>();
  #next: number;

  /** Without a range, every worker asks the kernel for a free port (0). */
  constructor(range?: { from: number; to: number }) {
    this.#from = range?.from ?? 0;
    this.#to = range?.to ?? 0;
    this.#next = this.#from;
  }

  acquire(): number {
    if (this.#from === 0) return 0;
    const size = this.#to - this.#from + 1;
    for (let i = 0; i < size; i++) {
      const port = this.#from + ((this.#next - this.#from + i) % size);
      if (!this.#taken.has(port)) {
        this.#taken.add(port);
        this.#next = port + 1 > this.#to ? this.#from : port + 1;
        return port;
      }
    }
    throw new errors.PortsExhausted(size, this.#from, this.#to);
  }

  release(port: number): void {
    this.#taken.delete(port);
  }
}
