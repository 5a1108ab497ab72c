import { describe, expect, it } from 'vitest';
import {
  baselineRate,
  extrapolateBaseline,
  figuresOf,
  formatRatio,
  phaseRow,
  resultFileName,
  scaleBaseline,
  scalingOf,
  scalingRow,
  slowestPhase,
  totalOf,
  type PhaseMeasure,
} from '../../../tools/bench/figures';

const MB = 1024 * 1024;

function measure(over: Partial<PhaseMeasure> = {}): PhaseMeasure {
  return { scenario: 'A', phase: 'confirmation', ilds: 10_000, seconds: 20, entities: 30_000, tables: { dvActuals: 30_000 }, ...over };
}

describe('figuresOf', () => {
  it('derives entities per second, the ratio to the baseline and the time per ILD', () => {
    const f = figuresOf(measure({ baseline: { written: 30_000, seconds: 8, extrapolated: false }, peakRssBytes: 300 * MB }));
    expect(f.entitiesPerSecond).toBe(1500);
    expect(f.ratio).toBe(2.5);
    expect(f.msPerIld).toBe(2);
  });

  it('has no rate or ratio for a blip of a phase', () => {
    const f = figuresOf(measure({ seconds: 0.004, entities: 100, baseline: { written: 100, seconds: 0.02, extrapolated: false } }));
    expect(f.entitiesPerSecond).toBeNull();
    expect(f.ratio).toBeNull();
  });

  it('has no rate or ratio when there is nothing to divide by', () => {
    const f = figuresOf(measure({ seconds: 0, ilds: 0, baseline: { written: 0, seconds: 0, extrapolated: false } }));
    expect(f.entitiesPerSecond).toBeNull();
    expect(f.ratio).toBeNull();
    expect(f.msPerIld).toBeNull();
  });
});

describe('scaleBaseline', () => {
  it('applies one measurement\'s rate to each phase, marking every count but the measured one', () => {
    const measured = { written: 20_000, seconds: 5, extrapolated: false };
    expect(scaleBaseline(measured, 20_000)).toEqual({ written: 20_000, seconds: 5, extrapolated: false });
    expect(scaleBaseline(measured, 4_000)).toEqual({ written: 20_000, seconds: 1, extrapolated: true });
    expect(scaleBaseline(measured, 150_000)).toEqual({ written: 20_000, seconds: 37.5, extrapolated: true });
    expect(scaleBaseline({ written: 0, seconds: 0, extrapolated: false }, 10)).toEqual({ written: 0, seconds: 0, extrapolated: false });
  });
});

describe('extrapolateBaseline', () => {
  it('keeps a full measurement as it is', () => {
    expect(extrapolateBaseline(1000, 1000, 0.5)).toEqual({ written: 1000, seconds: 0.5, extrapolated: false });
  });

  it('scales a capped measurement linearly to the phase size and says so', () => {
    expect(extrapolateBaseline(100_000, 25_000, 10)).toEqual({ written: 25_000, seconds: 40, extrapolated: true });
  });
});

describe('baselineRate', () => {
  it('is the entities over the baseline seconds, for a phase and for a total of scaled phases', () => {
    const measured = { written: 25_000, seconds: 2.5, extrapolated: false };
    const phase = (entities: number) => ({ scenario: 'B', phase: `p${entities}`, ilds: 1, seconds: 1, entities, tables: {}, baseline: scaleBaseline(measured, entities) });
    expect(baselineRate(phase(30_000))).toBeCloseTo(10_000, 6);
    expect(baselineRate(totalOf('B', [phase(30_000), phase(5_000)]))).toBeCloseTo(10_000, 6);
    expect(baselineRate({ entities: 5 })).toBeNull();
  });
});

describe('totalOf', () => {
  it('sums seconds, entities, per-table writes and baselines of one scenario and keeps the highest peak', () => {
    const phases = [
      measure({ phase: 'confirmation', seconds: 10, entities: 100, tables: { a: 60, b: 40 }, baseline: { written: 100, seconds: 2, extrapolated: false }, peakRssBytes: 200 * MB }),
      measure({ phase: 'posting', seconds: 5, entities: 50, tables: { b: 50 }, baseline: { written: 10, seconds: 3, extrapolated: true }, peakRssBytes: 350 * MB }),
      measure({ scenario: 'B', seconds: 99, entities: 999 }),
    ];
    const t = totalOf('A', phases);
    expect(t).toMatchObject({ scenario: 'A', phase: 'total', seconds: 15, entities: 150, tables: { a: 60, b: 90 }, peakRssBytes: 350 * MB });
    expect(t.baseline).toEqual({ written: 110, seconds: 5, extrapolated: true });
    expect(figuresOf(t).ratio).toBe(3);
  });

  it('gives no baseline to a total when one of its phases has none', () => {
    const t = totalOf('A', [measure({ baseline: { written: 1, seconds: 1, extrapolated: false } }), measure({ phase: 'posting' })]);
    expect(t.baseline).toBeUndefined();
  });
});

describe('table rows', () => {
  it('formats a phase: thousands separators, seconds, rate, ratio, MB', () => {
    const row = phaseRow(figuresOf(measure({ baseline: { written: 30_000, seconds: 8, extrapolated: false }, peakRssBytes: 312.4 * MB })));
    expect(row).toEqual(['A', 'confirmation', '30,000', '20.0', '1,500', '2.50x', '312']);
  });

  it('marks an extrapolated baseline and shows a dash where a figure is missing', () => {
    expect(formatRatio(12.345, true)).toBe('~12.3x');
    const row = phaseRow(figuresOf(measure({ seconds: 3.456 })));
    expect(row.slice(3)).toEqual(['3.46', '8,681', '-', '-']);
  });
});

describe('scalingOf', () => {
  it('orders the sizes and expresses the time per ILD relative to the smallest size', () => {
    const rows = scalingOf([
      { ilds: 10_000, measure: measure({ seconds: 30, peakRssBytes: 400 * MB }) },
      { ilds: 1_000, measure: measure({ seconds: 2 }) },
    ]);
    expect(rows.map((r) => r.ilds)).toEqual([1_000, 10_000]);
    expect(rows[0]?.msPerIld).toBe(2);
    expect(rows[1]?.msPerIld).toBe(3);
    expect(rows[1]?.growth).toBe(1.5);
    expect(scalingRow(rows[1]!)).toEqual(['10,000', '30.0', '3.000', '1.50x', '30,000', '-', '400']);
  });
});

describe('slowestPhase', () => {
  it('picks the highest ratio to the baseline, ignoring totals', () => {
    const phases = [
      figuresOf(measure({ phase: 'sync', seconds: 50, baseline: { written: 1, seconds: 25, extrapolated: false } })),
      figuresOf(measure({ phase: 'posting', seconds: 10, baseline: { written: 1, seconds: 1, extrapolated: false } })),
      figuresOf(measure({ phase: 'total', seconds: 60, baseline: { written: 1, seconds: 1, extrapolated: false } })),
    ];
    expect(slowestPhase(phases)?.phase).toBe('posting');
  });

  it('leaves out phases too short for their ratio to mean throughput', () => {
    const phases = [
      figuresOf(measure({ phase: 'tiny', seconds: 0.4, baseline: { written: 1, seconds: 0.01, extrapolated: false } })),
      figuresOf(measure({ phase: 'import', seconds: 30, baseline: { written: 1, seconds: 10, extrapolated: false } })),
      figuresOf(measure({ phase: 'posting', seconds: 50, baseline: { written: 1, seconds: 25, extrapolated: false } })),
    ];
    expect(slowestPhase(phases)?.phase).toBe('import');
  });

  it('falls back to the longest phase when nothing has a baseline', () => {
    expect(slowestPhase([figuresOf(measure({ phase: 'x', seconds: 1 })), figuresOf(measure({ phase: 'y', seconds: 2 }))])?.phase).toBe('y');
  });
});

describe('resultFileName', () => {
  it('is sortable and free of colons', () => {
    expect(resultFileName(new Date('2026-11-25T12:34:56.789Z'))).toBe('bench-2026-11-25T12-34-56Z.json');
  });
});
