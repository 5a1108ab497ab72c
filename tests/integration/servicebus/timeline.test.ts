/**
 * The broker's indexed heap and single-timer timeline (every lock, schedule and TTL deadline
 * goes through them).
 */
import { describe, expect, it } from 'vitest';
import { DeadlineList, IndexedHeap, Timeline, type TimelineEntry } from '../../../tools/servicebus/timeline';

interface Item {
  key: number;
  pos: number;
}

describe('IndexedHeap', () => {
  it('pops in order after random pushes, removals and key changes', () => {
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const heap = new IndexedHeap<Item>(
      (a, b) => a.key < b.key,
      (item, pos) => {
        item.pos = pos;
      },
    );
    const live = new Set<Item>();
    for (let i = 0; i < 5_000; i++) {
      const r = random();
      if (r < 0.6 || live.size === 0) {
        const item = { key: Math.floor(random() * 1_000), pos: -1 };
        heap.push(item);
        live.add(item);
      } else if (r < 0.8) {
        const item = [...live][Math.floor(random() * live.size)]!;
        heap.removeAt(item.pos);
        expect(item.pos).toBe(-1);
        live.delete(item);
      } else {
        const item = [...live][Math.floor(random() * live.size)]!;
        item.key = Math.floor(random() * 1_000);
        heap.updateAt(item.pos);
      }
      expect(heap.size).toBe(live.size);
    }
    const keys: number[] = [];
    for (let item = heap.pop(); item; item = heap.pop()) keys.push(item.key);
    expect(keys).toEqual([...live].map((i) => i.key).sort((a, b) => a - b));
  });
});

describe('Timeline', () => {
  it('runs due entries in time order with one timer, skips cancelled ones and honours reschedule', async () => {
    const ran: string[] = [];
    const timeline = new Timeline((err) => {
      throw err;
    });
    const now = Date.now();
    timeline.add(now + 60, () => ran.push('c'));
    timeline.add(now + 20, () => ran.push('a'));
    const cancelled = timeline.add(now + 30, () => ran.push('cancelled'));
    const moved: TimelineEntry = timeline.add(now + 10, () => ran.push('b'));
    timeline.cancel(cancelled);
    timeline.reschedule(moved, now + 40);
    await new Promise((r) => setTimeout(r, 120));
    expect(ran).toEqual(['a', 'b', 'c']);
    expect(timeline.size).toBe(0);
    timeline.add(Date.now() + 10, () => ran.push('after close'));
    timeline.close();
    await new Promise((r) => setTimeout(r, 40));
    expect(ran).toEqual(['a', 'b', 'c']);
  });
});

describe('DeadlineList', () => {
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  it('fires each deadline once, in time order, after cancels, renewals and an earlier one added late', async () => {
    const errors: unknown[] = [];
    const timeline = new Timeline((e) => errors.push(e));
    const fired: string[] = [];
    const list = new DeadlineList<string>(timeline, (d) => fired.push(d.item));
    const now = Date.now();
    const a = list.add(now + 40, 'a');
    const b = list.add(now + 60, 'b');
    list.add(now + 80, 'c');
    const d = list.add(now + 100, 'd');
    // Out of order: a shorter deadline after longer ones (a message with its own TTL).
    list.add(now + 20, 'early');
    list.cancel(b);
    // A renewal moves a deadline to the end.
    list.reschedule(a, now + 120);
    list.cancel(d);
    list.cancel(d);
    expect(fired).toEqual([]);
    await sleep(200);
    expect(fired).toEqual(['early', 'c', 'a']);
    expect(errors).toEqual([]);
    expect(timeline.size).toBe(0);
    timeline.close();
  });

  it('keeps firing the rest after a callback throws', async () => {
    const errors: unknown[] = [];
    const timeline = new Timeline((e) => errors.push(e));
    const fired: string[] = [];
    const list = new DeadlineList<string>(timeline, (d) => {
      if (d.item === 'bad') throw new Error('boom');
      fired.push(d.item);
    });
    const now = Date.now();
    list.add(now + 10, 'bad');
    list.add(now + 10, 'after');
    list.add(now + 30, 'later');
    await sleep(120);
    expect(errors).toHaveLength(1);
    expect(fired).toEqual(['after', 'later']);
    timeline.close();
  });
});
