/**
 * Command line of `npm run chaos`. Every fault is on by default and can be switched off by name;
 * --quick is a small run of a few minutes.
 */
import { ALL_FAULTS, type FaultDurations, type FaultName } from './faults';

export class UsageError extends Error {}

export interface ChaosPlan {
  quick: boolean;
  contracts: number;
  rounds: number;
  roundEverySeconds: number;
  storms: number;
  probes: boolean;
  faults: FaultName[];
  durations: FaultDurations;
  duplicates: boolean;
  fuzzQueues: boolean;
  fuzzRoutes: boolean;
  importEverySeconds: number;
  /** The whole run after the build, start to report. */
  budgetMs: number;
  /** Pause between two faults (the system works on in between). */
  gapMs: number;
  /** The broker's duplicate-detection window, shortened so copies pass it; copies come copyAfterMs (+ up to copyJitterMs) after the original. */
  duplicateWindowMs: number;
  copyAfterMs: number;
  copyJitterMs: number;
  /** Time kept at the end of the budget (ms before its end): no new round after lastRound, no new fault after lastFault, invoices followed until followUntil, settling until settleUntil. */
  reserve: { lastRound: number; lastFault: number; followUntil: number; settleUntil: number };
  outDir: string;
}

export const USAGE = `npm run chaos [-- options]

Drives invoices through Azurite, the local Service Bus broker and the local Functions host (three
processes) while injecting faults, lets the system settle, runs the invariant checker and prints one
table (also written to chaos-results/chaos-<time>.json). Exit code 0 when every criterion holds.

  --quick                      a small run (a few invoices, short outages, about 4 minutes)
  --no-<fault>                 leave one fault out; faults: ${ALL_FAULTS.join(', ')}
  --only <fault,...>           only these faults
  --no-duplicates              no second and late delivery of every message
  --no-fuzz-queues, --no-fuzz-routes, --no-fuzz
  --no-concurrency             no concurrent-creation storms and no probes
  --contracts <n>              contracts with rounds of invoices (default 8, quick 3)
  --rounds <n>                 at most this many invoices per contract (default 12, quick 8)
  --round-every <seconds>      a new round on each contract this often while the faults run (default 30, quick 15)
  --budget-seconds <n>         time for the run after the build (default 500, quick 240; env CHAOS_BUDGET_SECONDS)
  --import-every <seconds>     the import timer's period (default 5)
  --out <dir>                  where the JSON and the logs go (default chaos-results)
  --help`;

export function defaultDurations(quick: boolean): FaultDurations {
  return quick
    ? { storageShortMs: 10_000, storageLongMs: 30_000, hangMs: 10_000, brokerDownMs: 3_000, hostDownMs: 1_000, armMs: 45_000, clockOffsetMs: 120_000 }
    : { storageShortMs: 30_000, storageLongMs: 120_000, hangMs: 30_000, brokerDownMs: 5_000, hostDownMs: 2_000, armMs: 60_000, clockOffsetMs: 120_000 };
}

export function parseChaosArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ChaosPlan & { help: boolean } {
  const quick = argv.includes('--quick');
  const plan: ChaosPlan & { help: boolean } = {
    help: false,
    quick,
    contracts: quick ? 3 : 8,
    rounds: quick ? 8 : 12,
    roundEverySeconds: quick ? 15 : 30,
    storms: quick ? 1 : 2,
    probes: true,
    faults: quick ? ['host-kill-confirmation', 'storage-hang', 'storage-down-short', 'skewed-import-runners', 'broker-restart', 'host-kill-posting'] : [...ALL_FAULTS],
    durations: defaultDurations(quick),
    duplicates: true,
    fuzzQueues: true,
    fuzzRoutes: true,
    importEverySeconds: 5,
    budgetMs: (Number(env.CHAOS_BUDGET_SECONDS) || (quick ? 240 : 500)) * 1000,
    gapMs: quick ? 3_000 : 5_000,
    duplicateWindowMs: 15_000,
    copyAfterMs: 20_000,
    copyJitterMs: 10_000,
    reserve: quick ? { lastRound: 100_000, lastFault: 70_000, followUntil: 45_000, settleUntil: 25_000 } : { lastRound: 200_000, lastFault: 110_000, followUntil: 60_000, settleUntil: 25_000 },
    outDir: 'chaos-results',
  };
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value\n\n${USAGE}`);
    return v;
  };
  const count = (i: number, flag: string, min: number): number => {
    const n = Number(value(i, flag));
    if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} must be an integer >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') continue;
    if (a === '--help' || a === '-h') plan.help = true;
    else if (a === '--no-duplicates') plan.duplicates = false;
    else if (a === '--no-fuzz-queues') plan.fuzzQueues = false;
    else if (a === '--no-fuzz-routes') plan.fuzzRoutes = false;
    else if (a === '--no-fuzz') plan.fuzzQueues = plan.fuzzRoutes = false;
    else if (a === '--no-concurrency') {
      plan.storms = 0;
      plan.probes = false;
    } else if (a.startsWith('--no-') && (ALL_FAULTS as readonly string[]).includes(a.slice(5))) plan.faults = plan.faults.filter((f) => f !== a.slice(5));
    else if (a === '--only') {
      const names = value(i++, a).split(',').map((s) => s.trim()).filter(Boolean);
      const unknown = names.filter((n) => !(ALL_FAULTS as readonly string[]).includes(n));
      if (unknown.length) throw new UsageError(`unknown fault(s) ${unknown.join(', ')}; faults: ${ALL_FAULTS.join(', ')}`);
      plan.faults = ALL_FAULTS.filter((f) => names.includes(f));
    } else if (a === '--contracts') plan.contracts = count(i++, a, 1);
    else if (a === '--rounds') plan.rounds = count(i++, a, 1);
    else if (a === '--round-every') plan.roundEverySeconds = count(i++, a, 1);
    else if (a === '--budget-seconds') plan.budgetMs = count(i++, a, 60) * 1000;
    else if (a === '--import-every') {
      const n = count(i++, a, 1);
      if (n > 59 || 60 % n !== 0) throw new UsageError('--import-every must divide 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)');
      plan.importEverySeconds = n;
    } else if (a === '--out') plan.outDir = value(i++, a);
    else throw new UsageError(`unknown option ${a}\n\n${USAGE}`);
  }
  return plan;
}
