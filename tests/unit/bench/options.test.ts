import { describe, expect, it } from 'vitest';
import { DEFAULT_BASELINE_CAP, FULL_SIZES, parseBenchArgs, QUICK_SIZES, UsageError } from '../../../tools/bench/options';

describe('parseBenchArgs', () => {
  it('runs every scenario at full size by default', () => {
    const o = parseBenchArgs([]);
    expect(o.scenarios).toEqual(['A', 'B', 'C']);
    expect(o.sizes).toEqual(FULL_SIZES);
    expect(o.quick).toBe(false);
    expect(o.baselineCap).toBe(DEFAULT_BASELINE_CAP);
    expect(o.outDir).toBe('bench-results');
  });

  it('a flag that needs a value and has none is a usage error naming it, also when another flag follows', () => {
    expect(() => parseBenchArgs(['--out'])).toThrow(new UsageError('--out expects a value'));
    expect(() => parseBenchArgs(['--c-sizes', '--quick'])).toThrow(new UsageError('--c-sizes expects a value'));
    expect(parseBenchArgs(['--c-sizes=2000,1000', '--out', 'elsewhere'])).toMatchObject({ sizes: { cSizes: [1000, 2000] }, outDir: 'elsewhere' });
  });

  it('--quick picks the small sizes', () => {
    expect(parseBenchArgs(['--quick']).sizes).toEqual(QUICK_SIZES);
  });

  it('--scenarios takes a subset, any case, both flag forms, and keeps the A, B, C order', () => {
    expect(parseBenchArgs(['--scenarios', 'c,a']).scenarios).toEqual(['A', 'C']);
    expect(parseBenchArgs(['--scenarios=B']).scenarios).toEqual(['B']);
  });

  it('--c-sizes replaces the series, sorted and without repeats', () => {
    expect(parseBenchArgs(['--quick', '--c-sizes', '5000,1_000,5000']).sizes.cSizes).toEqual([1000, 5000]);
  });

  it('--baseline-cap and --out', () => {
    const o = parseBenchArgs(['--baseline-cap=5000', '--out', 'tmp/bench']);
    expect(o.baselineCap).toBe(5000);
    expect(o.outDir).toBe('tmp/bench');
    expect(parseBenchArgs(['--baseline-cap', 'none']).baselineCap).toBeUndefined();
  });

  it.each([
    [['--scenarios', 'A,D']],
    [['--scenarios']],
    [['--c-sizes', '0']],
    [['--c-sizes', '1.5']],
    [['--baseline-cap', 'lots']],
    [['--fast']],
  ])('refuses %j with the usage text', (argv) => {
    expect(() => parseBenchArgs(argv)).toThrow(UsageError);
    expect(() => parseBenchArgs(argv)).toThrow(/Usage: npm run bench/);
  });
});
