// A list of objects that each know their index in it (their slot), for the
// state a process keeps per connection or per request: adding and removing cost
// a few writes, where a Set would hash every new object (an identity hash kept
// on the object), a cost on every connection. Order is not kept: a removal
// moves the last item into the slot it frees.

/** An item of a SlotList: `slot` is its index there, -1 when it is in none. */
export interface Slotted {
  slot: number;
}

export class SlotList<T extends Slotted> {
  /**
   * The items, for walking. Walk it backwards when the walk may remove items:
   * a removal only moves the last item, which a backward walk has seen.
   */
  readonly items: T[] = [];

  get length(): number {
    return this.items.length;
  }

  add(item: T): void {
    item.slot = this.items.length;
    this.items.push(item);
  }

  /** Removes `item`; nothing when it is in no list. */
  remove(item: T): void {
    if (item.slot < 0) return;
    const last = this.items.pop()!;
    if (last !== item) {
      this.items[item.slot] = last;
      last.slot = item.slot;
    }
    item.slot = -1;
  }
}
