// How long a supervised process waits before it is started again.

/** Restart delay after the n-th consecutive failure: the first is immediate, then doubling to 30s. */
export function backoffDelay(consecutive: number): number {
  return consecutive <= 1 ? 0 : Math.min(500 * 2 ** (consecutive - 2), 30_000);
}
