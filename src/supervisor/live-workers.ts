// The cap on live workers across all tenants (workers.maxLive). A start that
// finds the cap reached stops the least recently used idle worker of another
// tenant to make room, or waits until one can be freed: it never fails while
// any worker can be.

/** What the cap needs of a worker that holds (or wants) a place. */
export interface LiveSlot {
  /** The tenant's group: a start never evicts its own tenant's workers. */
  readonly owner: object;
  /** ms timestamp of the last request it finished (or its start). */
  readonly lastActive: number;
  /** Ready, serving nothing, and beyond its tenant's min. */
  readonly evictable: boolean;
  /** One of its tenant's min workers: always given a place (the operator asked for it), even past the cap. */
  readonly required: boolean;
  /** Stops it; its exit gives its place back (release). */
  evict(): void;
}

interface Waiting { slot: LiveSlot; go: () => void }

export class LiveWorkers {
  /** Places; a reload may change it. */
  limit: number;
  /** Workers stopped to make room, since start. */
  evictions = 0;
  readonly #live = new Set<LiveSlot>();
  readonly #waiting: Waiting[] = [];
  /** Evictions asked for and not yet released. */
  #evicting = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  get count(): number {
    return this.#live.size;
  }

  /** Calls `go` once `slot` holds a place: at once when there is room. */
  reserve(slot: LiveSlot, go: () => void): void {
    if (slot.required) {
      this.#live.add(slot);
      go();
      return;
    }
    this.#waiting.push({ slot, go });
    this.#pump();
  }

  /** `slot` exited, or gave up waiting: its place (or its turn) is free. */
  release(slot: LiveSlot): void {
    const index = this.#waiting.findIndex((w) => w.slot === slot);
    if (index >= 0) this.#waiting.splice(index, 1);
    if (this.#live.delete(slot)) {
      if (this.#evicting > 0) this.#evicting -= 1;
      this.#pump();
    }
  }

  /** A worker finished its last request: a start waiting for room may take its place. */
  idle(): void {
    if (this.#waiting.length > this.#evicting) this.#pump();
  }

  #pump(): void {
    while (this.#waiting.length > 0 && this.#live.size < this.limit) {
      const next = this.#waiting.shift()!;
      this.#live.add(next.slot);
      next.go();
    }
    // Full: one eviction per waiting start, the least recently used idle worker first.
    while (this.#waiting.length > this.#evicting) {
      const wanting = this.#waiting[this.#evicting]!.slot.owner;
      let victim: LiveSlot | undefined;
      for (const slot of this.#live) {
        if (slot.owner !== wanting && slot.evictable && (!victim || slot.lastActive < victim.lastActive)) victim = slot;
      }
      if (!victim) return;
      this.#evicting += 1;
      this.evictions += 1;
      victim.evict();
    }
  }
}
