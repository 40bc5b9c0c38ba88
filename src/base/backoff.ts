// How long a supervised process (a worker, the embedded PostgreSQL) waits
// before it is started again, and when its failures are forgotten.

/** Restart delay after the n-th consecutive failure: the first is immediate, then doubling to 30s. */
export function backoffDelay(consecutive: number): number {
  return consecutive <= 1 ? 0 : Math.min(500 * 2 ** (consecutive - 2), 30_000);
}

/** ms a process must stay up to count as healthy again: its failure count starts over. */
export const healthyAfter = 60_000;
