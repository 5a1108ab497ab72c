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
  boundLine,
  boundOf,
  requestsByKind,
  topRequests,
  storageBetween,
  usageBetween,
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

describe('storage work and busy shares', () => {
  const usage = { wallSeconds: 10, hostCpuSeconds: 4, storageCpuSeconds: 9, requests: { 'point read dvActuals': 100 } };

  it('compares Azurite\'s CPU in the phase with its CPU for the baseline\'s writes, and divides CPU by the phase\'s seconds', () => {
    const f = figuresOf(measure({ seconds: 9, baseline: { written: 30_000, seconds: 3, extrapolated: false, storageCpuSeconds: 2.5 }, usage }));
    expect(f.ratio).toBe(3);
    expect(f.storageWork).toBeCloseTo(3.6, 10);
    expect(f.storageBusy).toBeCloseTo(1, 10);
    expect(f.hostBusy).toBeCloseTo(4 / 9, 10);
  });

  it('has no storage work without Azurite\'s CPU on either side, and no shares for a blip', () => {
    expect(figuresOf(measure({ baseline: { written: 1, seconds: 1, extrapolated: false }, usage })).storageWork).toBeNull();
    const noStorage = figuresOf(measure({ baseline: { written: 1, seconds: 1, extrapolated: false, storageCpuSeconds: 1 }, usage: { wallSeconds: 10, hostCpuSeconds: 1 } }));
    expect(noStorage.storageWork).toBeNull();
    expect(noStorage.storageBusy).toBeNull();
    expect(noStorage.hostBusy).toBeCloseTo(0.05, 10);
    const short = figuresOf(measure({ seconds: 0.4, baseline: { written: 1, seconds: 0.1, extrapolated: false, storageCpuSeconds: 0.1 }, usage }));
    expect([short.storageWork, short.storageBusy, short.hostBusy]).toEqual([null, null, null]);
    expect(short.ratio).toBe(4);
  });

  it('takes the usage between two snapshots: CPU in seconds, only the request kinds that grew', () => {
    const u = {
      ...usageBetween({ before: 1_000_000, after: 3_500_000 }, 8_000),
      ...storageBetween(
        { cpuMicros: 2_000_000, requests: { 'point read a': 5, transaction: 2, query: 1 } },
        { cpuMicros: 6_000_000, requests: { 'point read a': 9, transaction: 2, query: 4, 'bench query b': 3 } },
      ),
    };
    expect(u).toEqual({ wallSeconds: 8, hostCpuSeconds: 2.5, storageCpuSeconds: 4, requests: { 'point read a': 4, query: 3, 'bench query b': 3 } });
    expect(usageBetween({ before: 5, after: 5 }, 1000)).toEqual({ wallSeconds: 1, hostCpuSeconds: 0 });
  });

  it('groups requests by kind without tables and leaves the benchmark\'s own out', () => {
    const requests = { 'point read dvActuals': 300, 'point read dvInvoices': 20, transaction: 90, 'query dvActuals': 40, 'single write foProposals': 5, 'bench query dvInvoices': 999 };
    expect(requestsByKind(requests)).toEqual([
      ['point read', 320],
      ['transaction', 90],
      ['query', 40],
      ['single write', 5],
    ]);
    expect(topRequests(requests, 2)).toEqual([
      ['point read dvActuals', 300],
      ['transaction', 90],
    ]);
  });

  it('names the bound: storage when Azurite\'s work explains three quarters of the ratio or Azurite was busy, else a busy host, else waiting', () => {
    expect(boundOf({ ratio: 4, storageWork: 3.2, storageBusy: 0.5, hostBusy: 0.9 })).toBe('storage');
    expect(boundOf({ ratio: 4, storageWork: 2.9, storageBusy: 0.86, hostBusy: 0.9 })).toBe('storage');
    expect(boundOf({ ratio: 4, storageWork: 2.9, storageBusy: 0.8, hostBusy: 0.85 })).toBe('host CPU');
    expect(boundOf({ ratio: 4, storageWork: 2.9, storageBusy: null, hostBusy: 0.5 })).toBe('waiting');
    expect(boundOf({ ratio: 4, storageWork: null, storageBusy: 0.99, hostBusy: 0.5 })).toBeNull();
    expect(boundOf({ ratio: null, storageWork: 2, storageBusy: 0.99, hostBusy: 0.5 })).toBeNull();
  });

  it('explains a phase in one line: bound, work, busy shares and requests per ILD', () => {
    const f = figuresOf(
      measure({
        scenario: 'A',
        phase: 'backlog ready',
        ilds: 100,
        seconds: 5,
        baseline: { written: 30_000, seconds: 1, extrapolated: false, storageCpuSeconds: 1 },
        usage: { wallSeconds: 5.2, hostCpuSeconds: 2.6, storageCpuSeconds: 4.68, requests: { 'point read dvActuals': 100, transaction: 2, 'bench query dvInvoices': 7 } },
      }),
    );
    expect(boundLine(f)).toBe(
      "A backlog ready, 5.00x: storage. Azurite worked 4.68x the baseline's CPU for these entities (94% of the ratio; Azurite busy 94%, host busy 52%); 102 requests (1.0 per ILD): 100 point read, 2 transaction; most: point read dvActuals 100, transaction 2; and 7 of the benchmark's probes",
    );
    expect(boundLine(figuresOf(measure()))).toBeUndefined();
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

  it('scales Azurite\'s CPU for the baseline alike', () => {
    expect(scaleBaseline({ written: 20_000, seconds: 5, extrapolated: false, storageCpuSeconds: 4 }, 5_000)).toEqual({ written: 20_000, seconds: 1.25, extrapolated: true, storageCpuSeconds: 1 });
    expect(extrapolateBaseline(100_000, 25_000, 10, 8)).toEqual({ written: 25_000, seconds: 40, extrapolated: true, storageCpuSeconds: 32 });
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

  it('sums the phases\' usage and request counts, and Azurite\'s baseline CPU, when every phase has them', () => {
    const phases = [
      measure({ baseline: { written: 100, seconds: 2, extrapolated: false, storageCpuSeconds: 1.5 }, usage: { wallSeconds: 3, hostCpuSeconds: 1, storageCpuSeconds: 2, requests: { transaction: 4, 'point read a': 1 } } }),
      measure({ phase: 'posting', baseline: { written: 10, seconds: 1, extrapolated: true, storageCpuSeconds: 0.5 }, usage: { wallSeconds: 2, hostCpuSeconds: 0.5, storageCpuSeconds: 1, requests: { transaction: 1 } } }),
    ];
    const t = totalOf('A', phases);
    expect(t.usage).toEqual({ wallSeconds: 5, hostCpuSeconds: 1.5, storageCpuSeconds: 3, requests: { transaction: 5, 'point read a': 1 } });
    expect(t.baseline?.storageCpuSeconds).toBe(2);
    const partial = totalOf('A', [phases[0]!, measure({ phase: 'posting', usage: { wallSeconds: 2, hostCpuSeconds: 0.5 } })]);
    expect(partial.usage).toEqual({ wallSeconds: 5, hostCpuSeconds: 1.5 });
    expect(totalOf('A', [phases[0]!, measure({ phase: 'posting' })]).usage).toBeUndefined();
  });

  it('gives no baseline to a total when one of its phases has none', () => {
    const t = totalOf('A', [measure({ baseline: { written: 1, seconds: 1, extrapolated: false } }), measure({ phase: 'posting' })]);
    expect(t.baseline).toBeUndefined();
  });
});

describe('table rows', () => {
  it('formats a phase: thousands separators, seconds, rate, ratio, MB', () => {
    const row = phaseRow(
      figuresOf(
        measure({
          baseline: { written: 30_000, seconds: 8, extrapolated: false, storageCpuSeconds: 7.5 },
          usage: { wallSeconds: 20.5, hostCpuSeconds: 9, storageCpuSeconds: 15, requests: {} },
          peakRssBytes: 312.4 * MB,
        }),
      ),
    );
    expect(row).toEqual(['A', 'confirmation', '30,000', '20.0', '1,500', '2.50x', '2.00x', '312']);
  });

  it('marks an extrapolated baseline and shows a dash where a figure is missing', () => {
    expect(formatRatio(12.345, true)).toBe('~12.3x');
    const row = phaseRow(figuresOf(measure({ seconds: 3.456 })));
    expect(row.slice(3)).toEqual(['3.46', '8,681', '-', '-', '-']);
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
