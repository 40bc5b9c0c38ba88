// Counts of finished requests: by status class, 5xx, and a latency histogram.
// The primary keeps one per tenant for /metrics; a worker keeps one for the
// requests on connections handed to it and sends it to the primary in batches.

/** Upper bounds of the latency histogram, in seconds (Prometheus' defaults). */
export const durationBuckets: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface RequestCounts {
  /** By status class: "2xx", "4xx"... */
  byClass: Record<string, number>;
  /** 5xx answers. */
  errors: number;
  /** Cumulative counts per bucket of durationBuckets, then +Inf. */
  histogram: number[];
  /** Seconds, all requests together. */
  sum: number;
  count: number;
}

export function emptyCounts(): RequestCounts {
  return { byClass: {}, errors: 0, histogram: new Array<number>(durationBuckets.length + 1).fill(0), sum: 0, count: 0 };
}

/** Adds one finished request. */
const classes = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

export function countRequest(counts: RequestCounts, status: number, durationMs: number): void {
  const code = classes[Math.floor(status / 100)] ?? `${Math.floor(status / 100)}xx`;
  counts.byClass[code] = (counts.byClass[code] ?? 0) + 1;
  if (status >= 500) counts.errors += 1;
  const seconds = durationMs / 1000;
  for (let i = 0; i < durationBuckets.length; i++) if (seconds <= durationBuckets[i]!) counts.histogram[i]! += 1;
  counts.histogram[durationBuckets.length]! += 1;
  counts.sum += seconds;
  counts.count += 1;
}

/** Adds `from` to `into`. */
export function addCounts(into: RequestCounts, from: RequestCounts): void {
  for (const [code, n] of Object.entries(from.byClass)) into.byClass[code] = (into.byClass[code] ?? 0) + n;
  into.errors += from.errors;
  from.histogram.forEach((n, i) => { into.histogram[i] = (into.histogram[i] ?? 0) + n; });
  into.sum += from.sum;
  into.count += from.count;
}
