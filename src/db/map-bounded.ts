// Runs `work` over many items with at most `limit` at once; one item's failure
// never stops the others (the work reports its own failure in its result).
// `lane` (0 to limit - 1) says which of the concurrent runs an item is on: a
// lane may keep a resource (a connection) for the items it runs in turn.

export async function mapBounded<T, R>(items: readonly T[], limit: number, work: (item: T, lane: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async (id: number) => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, id);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, (_, id) => lane(id)));
  return results;
}
