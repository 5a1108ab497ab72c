import { describe, expect, it } from 'vitest';
import { baselineRow, windowOf } from '../../../tools/bench/storage';

describe('windowOf', () => {
  const windows = [
    { from: new Date(1000), to: new Date(2001) },
    { from: new Date(2000), to: new Date(3000) },
  ];

  it('puts a time in the window [from, to) it falls in, the earlier one where two touch', () => {
    expect(windowOf(windows, 1000)).toBe(0);
    expect(windowOf(windows, 2000)).toBe(0);
    expect(windowOf(windows, 2001)).toBe(1);
    expect(windowOf(windows, 2999)).toBe(1);
  });

  it('says -1 outside every window', () => {
    expect(windowOf(windows, 999)).toBe(-1);
    expect(windowOf(windows, 3000)).toBe(-1);
    expect(windowOf([], 1500)).toBe(-1);
  });
});

describe('baselineRow', () => {
  it('is deterministic, keyed uniquely, and about the size of a staging row', () => {
    expect(baselineRow(7)).toEqual(baselineRow(7));
    expect(baselineRow(7).RowId).not.toBe(baselineRow(8).RowId);
    expect(baselineRow(9_999).BatchKey).toBe('p0000');
    expect(baselineRow(10_000).BatchKey).toBe('p0001');
    const size = JSON.stringify(baselineRow(1)).length;
    expect(size).toBeGreaterThan(700);
    expect(size).toBeLessThan(1200);
  });
});
