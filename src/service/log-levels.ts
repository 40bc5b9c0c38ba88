// The log level fan-out: pino children copy their level when made, so a reload
// that changes log.level sets it on the root and on every long-lived child.
import type { Logger } from 'pino';

export class LogLevels {
  readonly root: Logger;
  readonly #children = new Set<Logger>();

  constructor(root: Logger) {
    this.root = root;
  }

  /** A child logger that lives as long as the service (its level follows reloads). */
  child(bindings: Record<string, string>): Logger {
    const child = this.root.child(bindings);
    this.#children.add(child);
    return child;
  }

  set(level: string): void {
    this.root.level = level;
    for (const child of this.#children) child.level = level;
  }
}
