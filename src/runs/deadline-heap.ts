/**
 * A min-heap of (time, key) with one live time per key: pushing a key again replaces its time (the
 * old entry becomes stale and is skipped when it comes up). `popDue(now)` takes every key due.
 */
export class DeadlineHeap<K> {
  private readonly items: Array<{ at: number; key: K }> = [];
  private readonly live = new Map<K, number>();

  get size(): number {
    return this.live.size;
  }

  push(at: number, key: K): void {
    if (!Number.isFinite(at)) return;
    const prev = this.live.get(key);
    if (prev === at) return;
    this.live.set(key, at);
    // the key's old entry went stale: rebuild (from the live times, this one included) when stale ones outnumber live ones
    if (prev !== undefined && this.items.length > 2 * this.live.size + 1024) {
      this.rebuild();
      return;
    }
    const items = this.items;
    items.push({ at, key });
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((items[parent] as { at: number }).at <= at) break;
      [items[i], items[parent]] = [items[parent] as { at: number; key: K }, items[i] as { at: number; key: K }];
      i = parent;
    }
  }

  delete(key: K): void {
    if (!this.live.delete(key)) return;
    // stale entries are skipped lazily; rebuild when they outnumber the live ones (memory stays bounded)
    if (this.items.length > 2 * this.live.size + 1024) this.rebuild();
  }

  private rebuild(): void {
    const entries = [...this.live].map(([key, at]) => ({ at, key })).sort((a, b) => a.at - b.at);
    this.items.length = 0;
    for (const e of entries) this.items.push(e); // a sorted array is a valid heap
  }

  private pop(): { at: number; key: K } | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined) return undefined;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < items.length && (items[l] as { at: number }).at < (items[m] as { at: number }).at) m = l;
        if (r < items.length && (items[r] as { at: number }).at < (items[m] as { at: number }).at) m = r;
        if (m === i) break;
        [items[i], items[m]] = [items[m] as { at: number; key: K }, items[i] as { at: number; key: K }];
        i = m;
      }
    }
    return top;
  }

  /** The earliest live time, if any. */
  peekAt(): number | undefined {
    for (;;) {
      const top = this.items[0];
      if (top === undefined) return undefined;
      if (this.live.get(top.key) === top.at) return top.at;
      this.pop();
    }
  }

  /** Every key whose live time is <= now, earliest first; they leave the heap. */
  popDue(now: number): K[] {
    const out: K[] = [];
    for (;;) {
      const at = this.peekAt();
      if (at === undefined || at > now) return out;
      const top = this.pop() as { at: number; key: K };
      this.live.delete(top.key);
      out.push(top.key);
    }
  }
}
