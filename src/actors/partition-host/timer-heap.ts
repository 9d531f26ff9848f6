/** A binary min-heap of (time, item), parallel arrays so a push allocates nothing per entry. */
export class TimerHeap<T> {
  private readonly times: number[] = [];
  private readonly items: T[] = [];

  get size(): number {
    return this.times.length;
  }

  /** Earliest time, +Infinity when empty. */
  peekTime(): number {
    return this.times.length ? this.times[0]! : Number.POSITIVE_INFINITY;
  }

  push(time: number, item: T): void {
    const times = this.times;
    const items = this.items;
    let i = times.length;
    times.push(time);
    items.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (times[p]! <= time) break;
      times[i] = times[p]!;
      items[i] = items[p]!;
      i = p;
    }
    times[i] = time;
    items[i] = item;
  }

  /** Removes the earliest entry and returns its item (call only when size > 0). */
  pop(): T {
    const times = this.times;
    const items = this.items;
    const top = items[0]!;
    const lastT = times.pop()!;
    const lastI = items.pop()!;
    const n = times.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && times[r]! < times[l]! ? r : l;
        if (times[c]! >= lastT) break;
        times[i] = times[c]!;
        items[i] = items[c]!;
        i = c;
      }
      times[i] = lastT;
      items[i] = lastI;
    }
    return top;
  }

  clear(): void {
    this.times.length = 0;
    this.items.length = 0;
  }
}
