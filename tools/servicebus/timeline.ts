/**
 * An indexed binary min-heap (items know their position, so removal is O(log n)) and, on top
 * of it, the broker's single timer: every lock expiry, scheduled enqueue and TTL deadline ends
 * up here, and one Node timer is armed for the earliest. Locks and TTLs, which come in time
 * order per queue, wait in `DeadlineList`s (one entry each list on the timeline), the rest are
 * entries of their own. Entries are removed when the thing they guard goes away, so nothing
 * lingers.
 */

export class IndexedHeap<T> {
  private readonly items: T[] = [];

  constructor(
    private readonly less: (a: T, b: T) => boolean,
    private readonly setPos: (item: T, pos: number) => void,
  ) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    this.items.push(item);
    this.setPos(item, this.items.length - 1);
    this.up(this.items.length - 1);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.removeAt(0);
    return top;
  }

  /** Removes the item at `pos` (the position the heap last reported through `setPos`). */
  removeAt(pos: number): void {
    if (pos < 0 || pos >= this.items.length) return;
    const last = this.items.pop()!;
    const removed = pos === this.items.length ? last : this.items[pos]!;
    this.setPos(removed, -1);
    if (pos === this.items.length) return;
    this.items[pos] = last;
    this.setPos(last, pos);
    this.up(pos);
    this.down(pos);
  }

  /** Restores order after the key of the item at `pos` changed. */
  updateAt(pos: number): void {
    this.up(pos);
    this.down(pos);
  }

  clear(): void {
    for (const item of this.items) this.setPos(item, -1);
    this.items.length = 0;
  }

  private up(pos: number): void {
    const items = this.items;
    while (pos > 0) {
      const parent = (pos - 1) >> 1;
      if (!this.less(items[pos]!, items[parent]!)) break;
      this.swap(pos, parent);
      pos = parent;
    }
  }

  private down(pos: number): void {
    const items = this.items;
    for (;;) {
      const l = pos * 2 + 1;
      const r = l + 1;
      let best = pos;
      if (l < items.length && this.less(items[l]!, items[best]!)) best = l;
      if (r < items.length && this.less(items[r]!, items[best]!)) best = r;
      if (best === pos) return;
      this.swap(pos, best);
      pos = best;
    }
  }

  private swap(a: number, b: number): void {
    const items = this.items;
    const x = items[a]!;
    const y = items[b]!;
    items[a] = y;
    items[b] = x;
    this.setPos(y, a);
    this.setPos(x, b);
  }
}

export interface TimelineEntry {
  at: number;
  pos: number;
  readonly run: () => void;
}

/** setTimeout cannot wait longer than this (about 24.8 days); longer waits are re-armed. */
const MAX_TIMER_DELAY = 2 ** 31 - 1;

export class Timeline {
  private readonly heap = new IndexedHeap<TimelineEntry>(
    (a, b) => a.at < b.at,
    (e, pos) => {
      e.pos = pos;
    },
  );
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;
  private closed = false;
  private running = false;

  constructor(private readonly onError: (err: unknown) => void) {}

  get size(): number {
    return this.heap.size;
  }

  add(at: number, run: () => void): TimelineEntry {
    const entry: TimelineEntry = { at, pos: -1, run };
    if (this.closed) return entry;
    this.heap.push(entry);
    this.arm();
    return entry;
  }

  cancel(entry: TimelineEntry | undefined): void {
    if (!entry || entry.pos < 0) return;
    this.heap.removeAt(entry.pos);
    this.arm();
  }

  reschedule(entry: TimelineEntry, at: number): void {
    entry.at = at;
    if (entry.pos < 0) {
      if (!this.closed) this.heap.push(entry);
    } else {
      this.heap.updateAt(entry.pos);
    }
    this.arm();
  }

  /** Runs every entry that is due now (also called by operations that must see a current state). */
  runDue(now = Date.now()): void {
    if (this.running) return;
    this.running = true;
    try {
      for (let top = this.heap.peek(); top && top.at <= now; top = this.heap.peek()) {
        this.heap.pop();
        try {
          top.run();
        } catch (err) {
          this.onError(err);
        }
      }
    } finally {
      this.running = false;
    }
    this.arm();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
    this.heap.clear();
  }

  private arm(): void {
    if (this.closed || this.running) return;
    const top = this.heap.peek();
    if (!top) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.armedFor = Infinity;
      return;
    }
    if (this.timer && this.armedFor <= top.at) return;
    if (this.timer) clearTimeout(this.timer);
    const delay = Math.min(Math.max(0, top.at - Date.now()), MAX_TIMER_DELAY);
    this.armedFor = top.at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.armedFor = Infinity;
      this.runDue();
    }, delay);
    this.timer.unref();
  }
}

/** A deadline kept by a `DeadlineList`: in its list, on the timeline, or neither (settled). */
export interface Deadline<T> {
  at: number;
  readonly item: T;
  prev: Deadline<T> | undefined;
  next: Deadline<T> | undefined;
  listed: boolean;
  entry: TimelineEntry | undefined;
}

/**
 * Deadlines that nearly always come in time order: a queue's lock duration and its default TTL
 * are the same for every message, so each new lock or expiry is the latest one so far. They are
 * kept in a linked list in deadline order with a single timeline entry for the earliest, so
 * adding, cancelling and pushing one to the end (a lock renewal) cost O(1) and no heap work;
 * a deadline earlier than the list's last (a message with its own shorter TTL) goes on the
 * timeline itself. `onDue` runs when a deadline passes (at or after `at`, as timeline entries).
 */
export class DeadlineList<T> {
  private head: Deadline<T> | undefined;
  private tail: Deadline<T> | undefined;
  /** The timeline entry that wakes the list; it may be armed earlier than the head (then it re-arms). */
  private wake: TimelineEntry | undefined;
  private readonly runDue = (): void => this.fire();

  constructor(
    private readonly timeline: Timeline,
    private readonly onDue: (deadline: Deadline<T>) => void,
  ) {}

  add(at: number, item: T): Deadline<T> {
    const d: Deadline<T> = { at, item, prev: undefined, next: undefined, listed: false, entry: undefined };
    this.place(d);
    return d;
  }

  cancel(d: Deadline<T> | undefined): void {
    if (!d) return;
    if (d.listed) {
      this.unlink(d);
    } else if (d.entry) {
      this.timeline.cancel(d.entry);
      d.entry = undefined;
    }
  }

  reschedule(d: Deadline<T>, at: number): void {
    this.cancel(d);
    d.at = at;
    this.place(d);
  }

  private place(d: Deadline<T>): void {
    const tail = this.tail;
    if (tail && d.at < tail.at) {
      d.entry = this.timeline.add(d.at, () => {
        d.entry = undefined;
        this.onDue(d);
      });
      return;
    }
    d.listed = true;
    d.prev = tail;
    if (tail) tail.next = d;
    else this.head = d;
    this.tail = d;
    if (this.head === d) this.arm();
  }

  private unlink(d: Deadline<T>): void {
    if (d.prev) d.prev.next = d.next;
    else this.head = d.next;
    if (d.next) d.next.prev = d.prev;
    else this.tail = d.prev;
    d.prev = undefined;
    d.next = undefined;
    d.listed = false;
  }

  private arm(): void {
    const head = this.head;
    if (!head) return;
    const wake = this.wake;
    if (wake && wake.pos >= 0) {
      if (wake.at > head.at) this.timeline.reschedule(wake, head.at);
      return;
    }
    this.wake = this.timeline.add(head.at, this.runDue);
  }

  private fire(): void {
    this.wake = undefined;
    const now = Date.now();
    try {
      for (let d = this.head; d && d.at <= now; d = this.head) {
        this.unlink(d);
        this.onDue(d);
      }
    } finally {
      // After a failing callback (reported by the timeline) the rest runs on the next wake.
      this.arm();
    }
  }
}
