import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startAzurite, type LocalAzurite } from '../../../tools/azurite';
import { formatCustomerInvoiceId } from '../../../shared/finance/rules/posting';
import { TableSequenceStore } from '../../../shared/storage/sequences';

let azurite: LocalAzurite;
let sequences: TableSequenceStore;

beforeAll(async () => {
  azurite = await startAzurite();
  sequences = new TableSequenceStore(azurite.connectionString);
});
afterAll(async () => {
  await azurite?.stop();
});

const format = formatCustomerInvoiceId;

describe('integrationSequences on Azurite', () => {
  it('hands out 1..n without gaps or duplicates to concurrent keys', async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `INV-${i}`);
    const got = await Promise.all(keys.map((key) => sequences.reserve('Concurrent', key, { format })));
    expect(got.map((r) => r.number).sort((a, b) => a - b)).toEqual(keys.map((_, i) => i + 1));
    expect(new Set(got.map((r) => r.value)).size).toBe(12);
    expect(got.every((r) => r.created)).toBe(true);
    expect(await sequences.last('Concurrent')).toBe(12);
  });

  it('gives a key one number however often and however concurrently it asks', async () => {
    const first = await sequences.reserve('Same', 'A', { format, details: '{"who":"first"}' });
    const again = await Promise.all(Array.from({ length: 6 }, () => sequences.reserve('Same', 'A', { format, details: '{"who":"later"}' })));
    const racing = await Promise.all(Array.from({ length: 6 }, () => sequences.reserve('Same', 'B', { format })));
    expect(first).toMatchObject({ number: 1, value: 'CIV-000001', created: true, details: '{"who":"first"}' });
    expect(again.every((r) => r.number === 1 && !r.created && r.details === '{"who":"first"}')).toBe(true);
    expect(new Set(racing.map((r) => r.number))).toEqual(new Set([2]));
    expect(racing.filter((r) => r.created)).toHaveLength(1);
    expect(await sequences.last('Same')).toBe(2);
    expect((await sequences.find('Same', 'B'))?.value).toBe('CIV-000002');
    expect(await sequences.find('Same', 'C')).toBeUndefined();
  });

  it('serves calls waiting in one process with shared counter transactions, still 1..n without gaps', async () => {
    const transact = vi.spyOn(sequences.store, 'transact');
    try {
      const keys = Array.from({ length: 120 }, (_, i) => `G-${i}`);
      const got = await Promise.all(keys.map((key) => sequences.reserve('Grouped', key, { format })));
      expect(got.map((r) => r.number).sort((a, b) => a - b)).toEqual(keys.map((_, i) => i + 1));
      expect(got.every((r) => r.created)).toBe(true);
      // Each call alone would be 120 transactions; waiting calls share one (at most 50 each).
      expect(transact.mock.calls.length).toBeLessThanOrEqual(5);
      expect(await sequences.last('Grouped')).toBe(120);
      for (const r of got) expect((await sequences.find('Grouped', r.key))?.number).toBe(r.number);
    } finally {
      transact.mockRestore();
    }
  });

  it('looks for existing reservations only once a transaction met one: new keys cost the counter read and the transaction', async () => {
    await sequences.reserve('Lookups', 'OLD', { format });
    const fresh = new TableSequenceStore(azurite.connectionString); // nothing of OLD in memory
    const find = vi.spyOn(fresh, 'find');
    try {
      const news = await Promise.all(['N-1', 'N-2', 'N-3'].map((key) => fresh.reserve('Lookups', key, { format })));
      expect(news.map((r) => [r.number, r.created])).toEqual([[2, true], [3, true], [4, true]]);
      expect(find).not.toHaveBeenCalled();
      // A group with a key reserved before: its transaction fails whole, then its keys are looked up
      // (the first call may have gone alone, in a group of its own that needed no look-up).
      const mixed = await Promise.all(['N-4', 'OLD', 'N-5'].map((key) => fresh.reserve('Lookups', key, { format })));
      expect(mixed.map((r) => [r.key, r.number, r.created])).toEqual([['N-4', 5, true], ['OLD', 1, false], ['N-5', 6, true]]);
      expect(find.mock.calls.map(([, key]) => key)).toContain('OLD');
      expect(find.mock.calls.map(([, key]) => key)).toContain('N-5');
      expect(await fresh.last('Lookups')).toBe(6);
    } finally {
      find.mockRestore();
    }
  });

  it('stays gap-free and unique across processes racing on one counter, with keys asked for on both', async () => {
    const other = new TableSequenceStore(azurite.connectionString);
    const keys = Array.from({ length: 60 }, (_, i) => `X-${i}`);
    // Every key is asked for by both "processes", in different orders.
    const got = await Promise.all([
      ...keys.map((key) => sequences.reserve('Racing', key, { format })),
      ...[...keys].reverse().map((key) => other.reserve('Racing', key, { format })),
    ]);
    const numberOf = new Map<string, number>();
    for (const r of got) {
      if (numberOf.has(r.key)) expect(r.number).toBe(numberOf.get(r.key));
      numberOf.set(r.key, r.number);
    }
    expect([...numberOf.values()].sort((a, b) => a - b)).toEqual(keys.map((_, i) => i + 1));
    expect(got.filter((r) => r.created)).toHaveLength(60);
    expect(await sequences.last('Racing')).toBe(60);
  });

  it('fails only the calls of a key storage refuses, not the others waiting with it', async () => {
    const first = sequences.reserve('Refused', 'ok-0', { format });
    const others = [
      sequences.reserve('Refused', 'ok-1', { format }),
      sequences.reserve('Refused', 'bad/key', { format }),
      sequences.reserve('Refused', 'ok-2', { format }),
    ];
    const settled = await Promise.allSettled([first, ...others]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    const numbers = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.number] : [])).sort((a, b) => a - b);
    expect(numbers).toEqual([1, 2, 3]);
    expect(await sequences.last('Refused')).toBe(3);
  });
});
