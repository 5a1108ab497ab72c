/**
 * Command-line options of `npm run bench` (pure: no I/O, unit-tested).
 *
 *   --quick                 smaller sizes for a smoke run (about a minute of pipeline work)
 *   --scenarios A,B,C       which scenarios to run (default all three, in that order)
 *   --c-sizes 1000,10000    override scenario C's invoice sizes (ILDs per invoice)
 *   --baseline-cap N|none   write at most N entities per baseline measurement and extrapolate
 *                           linearly beyond (default 25,000; none = always as many as the phase)
 *   --out DIR               folder of the JSON results and the host log (default bench-results)
 *   --help
 */
import { flagArguments } from './flags';

export const SCENARIOS = ['A', 'B', 'C'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface Sizes {
  /** Scenario A: ILDs of the one invoice that goes through the whole story. */
  aIlds: number;
  /** Scenario B: invoices confirmed at once ... */
  bInvoices: number;
  /** ... of this many ILDs each. */
  bIldsPerInvoice: number;
  /** Scenario C: ILDs of the one invoice at each step of the scaling series. */
  cSizes: number[];
}

export interface BenchOptions {
  quick: boolean;
  scenarios: ScenarioName[];
  sizes: Sizes;
  /** Undefined: every baseline writes exactly as many entities as its phase did. */
  baselineCap: number | undefined;
  outDir: string;
  help: boolean;
}

/** Baselines write at most this many entities and extrapolate linearly beyond (keeps a full run in its budget). */
export const DEFAULT_BASELINE_CAP = 25_000;

export const FULL_SIZES: Sizes = { aIlds: 10_000, bInvoices: 500, bIldsPerInvoice: 20, cSizes: [1_000, 10_000, 50_000] };
export const QUICK_SIZES: Sizes = { aIlds: 500, bInvoices: 25, bIldsPerInvoice: 20, cSizes: [100, 500, 2_000] };

export const USAGE = `Usage: npm run bench -- [--quick] [--scenarios A,B,C] [--c-sizes 1000,10000,50000] [--baseline-cap N|none] [--out DIR]

  --quick            smaller sizes for a smoke run (A ${QUICK_SIZES.aIlds} ILDs, B ${QUICK_SIZES.bInvoices}x${QUICK_SIZES.bIldsPerInvoice}, C ${QUICK_SIZES.cSizes.join('/')})
  --scenarios LIST   comma-separated subset of A,B,C (default all)
  --c-sizes LIST     ILDs per invoice for scenario C (default ${FULL_SIZES.cSizes.join(',')}, quick ${QUICK_SIZES.cSizes.join(',')})
  --baseline-cap N   write at most N entities per baseline and extrapolate beyond (default ${DEFAULT_BASELINE_CAP}; none: no cap)
  --out DIR          where the JSON results and the host log go (default bench-results)`;

export class UsageError extends Error {
  constructor(message: string) {
    super(`${message}\n\n${USAGE}`);
    this.name = 'UsageError';
  }
}

function positiveInt(text: string | undefined, flag: string): number {
  const cleaned = (text ?? '').replace(/_/g, '');
  if (!/^\d+$/.test(cleaned) || Number(cleaned) < 1 || !Number.isSafeInteger(Number(cleaned))) {
    throw new UsageError(`${flag} expects a positive whole number, got "${text ?? ''}"`);
  }
  return Number(cleaned);
}

function parseScenarios(text: string | undefined): ScenarioName[] {
  const wanted = (text ?? '')
    .split(',')
    .map((s) => s.trim().toUpperCase())
    .filter((s) => s.length > 0);
  if (wanted.length === 0) throw new UsageError('--scenarios expects a list such as A,B,C');
  const out: ScenarioName[] = [];
  for (const name of wanted) {
    const known = SCENARIOS.find((s) => s === name);
    if (!known) throw new UsageError(`--scenarios: unknown scenario "${name}" (known: ${SCENARIOS.join(', ')})`);
    if (!out.includes(known)) out.push(known);
  }
  // Always run in the canonical order: C reuses A's figures at the size they share.
  return SCENARIOS.filter((s) => out.includes(s));
}

/** Parse `process.argv.slice(2)`; `--flag value` and `--flag=value` both work. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  let quick = false;
  let help = false;
  let scenarios: ScenarioName[] = [...SCENARIOS];
  let cSizes: number[] | undefined;
  let baselineCap: number | undefined = DEFAULT_BASELINE_CAP;
  let outDir = 'bench-results';

  for (const { arg, value, flag } of flagArguments(argv, (message) => new UsageError(message))) {
    switch (flag) {
      case '--quick':
        quick = true;
        break;
      case '--help':
      case '-h':
        help = true;
        break;
      case '--scenarios':
        scenarios = parseScenarios(value());
        break;
      case '--c-sizes':
        cSizes = value()
          .split(',')
          .filter((s) => s.trim() !== '')
          .map((s) => positiveInt(s.trim(), '--c-sizes'));
        if (cSizes.length === 0) throw new UsageError('--c-sizes expects a list such as 1000,10000');
        cSizes = [...new Set(cSizes)].sort((a, b) => a - b);
        break;
      case '--baseline-cap': {
        const v = value();
        baselineCap = v.trim().toLowerCase() === 'none' ? undefined : positiveInt(v, '--baseline-cap');
        break;
      }
      case '--out': {
        const dir = value().trim();
        if (!dir) throw new UsageError('--out expects a folder');
        outDir = dir;
        break;
      }
      default:
        throw new UsageError(`unknown argument "${arg}"`);
    }
  }

  const base = quick ? QUICK_SIZES : FULL_SIZES;
  return {
    quick,
    help,
    scenarios,
    sizes: { ...base, cSizes: cSizes ?? [...base.cSizes] },
    baselineCap,
    outDir,
  };
}
