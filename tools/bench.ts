/**
 * `npm run bench` (not part of `npm test`): how close the invoicing pipeline comes to what the
 * storage itself can do on this machine, and how its cost grows with the work.
 *
 *   npm run bench                      A, B and C at full size (about 8 minutes on 2 cores)
 *   npm run bench -- --quick           smaller sizes, a smoke run
 *   npm run bench -- --scenarios A,C   a subset
 *
 * Each scenario starts its own Azurite (in memory), local Service Bus broker and local Functions
 * host (a child process loading dist/functions/index.js) on free ports; see tools/bench/system.ts.
 * Scenarios are described in tools/bench/scenarios.ts, the figures in tools/bench/figures.ts, and
 * how to read them in docs/bench.md. The results are printed as a table and written to
 * bench-results/bench-<timestamp>.json (git-ignored) for comparison across commits.
 *
 * Time budget: the run stops starting new work when it would overrun (default 510 s of the
 * 10 minutes `npm ci && npm run bench` may take, leaving room for the install and the build);
 * skipped steps are reported with their estimate, never hidden.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Table from 'cli-table3';
import { MAX_BATCH, WRITE_CONCURRENCY } from '../shared/storage/tableStore';
import {
  baselineRate,
  boundLine,
  EXPLAIN_ABOVE_RATIO,
  figuresOf,
  formatInt,
  formatRatio,
  PHASE_TABLE_HEAD,
  phaseRow,
  resultFileName,
  SCALING_TABLE_HEAD,
  scalingOf,
  scalingRow,
  slowestPhase,
  totalOf,
  type BenchDocument,
  type PhaseFigures,
  type PhaseMeasure,
} from './bench/figures';
import { renderBenchChart } from './bench/chart';
import { parseBenchArgs, USAGE, UsageError, type BenchOptions } from './bench/options';
import { Progress } from './bench/progress';
import { PhaseRecorder } from './bench/recorder';
import { parseBenchResults } from './bench/results';
import { isResultsCommand, runResultsCli } from './bench/resultsCli';
import { INVOICE_PHASES, problemsOf, reuseInvoicePhases, scenarioA, scenarioInvoices, type ScenarioEnv, type ScenarioResult } from './bench/scenarios';
import { HOST_NODE_ARGUMENTS, startBenchSystem } from './bench/system';
import { REPO_ROOT } from './paths';

const BUDGET_SECONDS = process.env.BENCH_BUDGET_SECONDS ?? '510';
const BUDGET_MS = Number(BUDGET_SECONDS) * 1000;
const STALL_MS = 120_000;
/** Baseline cap for the finished phases of a scenario that stopped (it is past its time already). */
const FAILED_BASELINE_CAP = 5_000;
/** Estimated wall time of a scenario per ILD of its invoice part, before anything was measured. */
const FIRST_GUESS_MS_PER_ILD = 10;

function commitOf(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

interface Run {
  options: BenchOptions;
  progress: Progress;
  startedAt: Date;
  deadline: number;
  logFile: string;
  results: ScenarioResult[];
  /** Invoice parts measured so far, for the budget guard. */
  estimates: { kind: StepKind; ilds: number; seconds: number }[];
  problems: string[];
}

type ScenarioBody = (env: ScenarioEnv, rec: PhaseRecorder, notes: string[]) => Promise<void>;

/**
 * Run one scenario on a fresh system, then its baselines. A scenario that fails keeps the phases
 * it finished (without baselines) and says why; the run then starts nothing new.
 */
async function withSystem(run: Run, label: string, body: ScenarioBody): Promise<ScenarioResult> {
  run.progress.phase(`${label} | starting Azurite, broker and host`);
  const system = await startBenchSystem({
    logFile: run.logFile,
    onHostError: (line) => run.progress.log(`  host error: ${line.split('\n')[0]?.slice(0, 300) ?? ''}`),
    onNote: (line) => run.progress.log(`  ${line}`),
  });
  const env: ScenarioEnv = { system, progress: run.progress, deadline: run.deadline, stallMs: STALL_MS, label, baselineCap: run.options.baselineCap };
  const rec = new PhaseRecorder(label, system, run.progress);
  const notes: string[] = [];
  try {
    await body(env, rec, notes);
    await rec.baselines(run.options.baselineCap);
    return { label, measures: rec.measures(), problems: [...notes, ...(await problemsOf(system))] };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const problems = [...notes, `${label} stopped: ${reason}`, ...(await problemsOf(system))];
    // The phases it finished still get a baseline, a small one (extrapolated), so the overrun stays short.
    await rec.baselines(FAILED_BASELINE_CAP).catch((e: unknown) => problems.push(`${label}: no baseline (${e instanceof Error ? e.message : String(e)})`));
    return { label, measures: rec.measures(), problems, failed: true };
  } finally {
    run.progress.phase(`${label} | stopping`);
    await system.stop();
  }
}

/** One invoice (A, C) or many small ones (B): their time per ILD differs. */
type StepKind = 'single' | 'many';

interface Step {
  label: string;
  kind: StepKind;
  /** ILDs of the invoice part. */
  ilds: number;
  /**
   * Whole scenario wall time relative to its invoice part (seeding, earlier phases, counting,
   * baselines), on the reference machine: A 3.3 (its estimate starts from C 1,000, whose time per
   * ILD is about 1.5x that of 10,000, so it comes out high), B 1.3 (estimated from A's single
   * invoice, which is 2.3x cheaper per ILD than many small ones: 3.0 covers both), C below A's
   * size 1.8 (estimated from nothing measured, or a smaller size), C above it 1.4 (C 50,000: 261 s
   * of scenario for a 191 s invoice part, 1.37, whose time per ILD is that of 10,000 since the
   * confirmation runs in chunks).
   */
  factor: number;
  /** Scenario C at scenario A's size: A's invoice phases are reported for it. */
  reuseA?: boolean;
  body: ScenarioBody;
}

/**
 * What runs, in this order: the C sizes below A's (cheap, and they calibrate the estimates), A
 * (the headline; C at A's size reuses it), B, then the larger C sizes. A run that meets its time
 * budget has measured the most important steps and says what it skipped, with the estimate.
 * The report lists them as A, B, C whatever the order they ran in.
 */
function plan(options: BenchOptions): Step[] {
  const { sizes, scenarios } = options;
  const steps: Step[] = [];
  let b: Step | undefined;
  const c = (n: number): Step => ({
    label: `C ${formatInt(n)}`,
    kind: 'single',
    ilds: n,
    factor: n > sizes.aIlds ? 1.4 : 1.8,
    reuseA: scenarios.includes('A') && n === sizes.aIlds,
    body: (env, rec, notes) => scenarioInvoices(env, rec, notes, `C${n}`, 1, n),
  });
  const cSizes = scenarios.includes('C') ? sizes.cSizes : [];
  steps.push(...cSizes.filter((n) => n < sizes.aIlds).map(c));
  if (scenarios.includes('B')) {
    b = {
      label: 'B',
      kind: 'many',
      ilds: sizes.bInvoices * sizes.bIldsPerInvoice,
      factor: 3.0,
      body: (env, rec, notes) => scenarioInvoices(env, rec, notes, 'B', sizes.bInvoices, sizes.bIldsPerInvoice),
    };
  }
  if (scenarios.includes('A')) {
    steps.push({ label: 'A', kind: 'single', ilds: sizes.aIlds, factor: 3.5, body: (env, rec, notes) => scenarioA(env, rec, notes, sizes.aIlds) });
  }
  steps.push(...cSizes.filter((n) => n === sizes.aIlds).map(c));
  if (b) steps.push(b);
  steps.push(...cSizes.filter((n) => n > sizes.aIlds).map(c));
  return steps;
}

/**
 * Invoice-part time per ILD of the largest invoice part measured so far (of the same kind when
 * there is one), for the budget guard.
 */
function msPerIldSoFar(run: Run, kind: StepKind): number {
  const measured = run.estimates.filter((e) => e.seconds > 0 && e.ilds > 0);
  const sameKind = measured.filter((e) => e.kind === kind);
  let largest: { ilds: number; seconds: number } | undefined;
  for (const e of sameKind.length ? sameKind : measured) if (!largest || e.ilds >= largest.ilds) largest = e;
  return largest ? (largest.seconds * 1000) / largest.ilds : FIRST_GUESS_MS_PER_ILD;
}

function fits(run: Run, step: Step): boolean {
  const estimate = msPerIldSoFar(run, step.kind) * step.ilds * step.factor;
  const left = run.deadline - Date.now();
  if (estimate <= left) return true;
  const line = `${step.label} (${formatInt(step.ilds)} ILDs) skipped: estimated ${Math.round(estimate / 1000)} s, ${Math.max(0, Math.round(left / 1000))} s of the time budget left (BENCH_BUDGET_SECONDS)`;
  run.problems.push(line);
  run.progress.log(line);
  return false;
}

const ORDER = (label: string): number => (label === 'A' ? 0 : label === 'B' ? 1 : 2 + Number(label.replace(/\D/g, '')));

class ScenarioFailed extends Error {}


function invoicePartTotal(label: string, measures: readonly PhaseMeasure[]): PhaseMeasure {
  return totalOf(
    label,
    measures.filter((m) => INVOICE_PHASES.has(m.phase)),
    'invoice part',
  );
}

async function main(): Promise<void> {
  // --model azure / --chart: read results already made, start nothing (tools/bench/resultsCli.ts).
  if (isResultsCommand(process.argv.slice(2))) {
    process.exitCode = runResultsCli(process.argv.slice(2));
    return;
  }
  let options: BenchOptions;
  try {
    options = parseBenchArgs(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  if (options.help) {
    console.log(USAGE);
    return;
  }
  if (!(BUDGET_MS > 0)) {
    console.error(`BENCH_BUDGET_SECONDS must be a positive number of seconds, got "${BUDGET_SECONDS}"`);
    process.exit(2);
  }

  const outDir = path.resolve(REPO_ROOT, options.outDir);
  mkdirSync(outDir, { recursive: true });
  const startedAt = new Date();
  const jsonFile = path.join(outDir, resultFileName(startedAt));
  const progress = new Progress();
  const run: Run = {
    options,
    progress,
    startedAt,
    deadline: Date.now() + BUDGET_MS,
    logFile: jsonFile.replace(/\.json$/, '-host.log'),
    results: [],
    estimates: [],
    problems: [],
  };
  const { sizes } = options;
  console.log(
    `Benchmark${options.quick ? ' (quick)' : ''}: scenarios ${options.scenarios.join(', ')}; A ${formatInt(sizes.aIlds)} ILDs, B ${formatInt(sizes.bInvoices)} x ${formatInt(
      sizes.bIldsPerInvoice,
    )} ILDs, C ${sizes.cSizes.map(formatInt).join(' / ')} ILDs; ${os.cpus().length} CPUs; host Node arguments ${HOST_NODE_ARGUMENTS || '(none)'}; host log ${path.relative(REPO_ROOT, run.logFile)}`,
  );
  progress.start();

  const stopSignal = () => {
    progress.stop();
    console.error('\nInterrupted.');
    process.exit(130);
  };
  process.once('SIGINT', stopSignal);

  try {
    for (const step of plan(options)) {
      if (step.reuseA) {
        const fromA = run.results.find((r) => r.label === 'A');
        if (fromA && !fromA.failed) {
          run.results.push({ label: step.label, measures: reuseInvoicePhases(fromA.measures, step.label), problems: [] });
          continue;
        }
      }
      if (!fits(run, step)) continue;
      const result = await withSystem(run, step.label, step.body);
      run.results.push(result);
      if (result.failed) throw new ScenarioFailed(step.label);
      run.estimates.push({ kind: step.kind, ilds: step.ilds, seconds: invoicePartTotal(step.label, result.measures).seconds });
    }
  } catch (error) {
    if (!(error instanceof ScenarioFailed)) run.problems.push(`the run stopped: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    else run.problems.push(`the run stopped after scenario ${error.message} failed`);
    process.exitCode = 1;
  } finally {
    progress.stop();
  }

  report(run, jsonFile);
}

function report(run: Run, jsonFile: string): void {
  run.results.sort((x, y) => ORDER(x.label) - ORDER(y.label));
  const phases: PhaseFigures[] = [];
  const totals: PhaseFigures[] = [];
  const table = new Table({ head: PHASE_TABLE_HEAD, colAligns: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'], style: { head: [], border: [] } });
  for (const r of run.results) {
    for (const m of r.measures) {
      const f = figuresOf(m);
      phases.push(f);
      table.push(phaseRow(f));
    }
    if (r.measures.length > 1) {
      const t = figuresOf(totalOf(r.label, r.measures));
      totals.push(t);
      table.push(phaseRow(t).map((cell, i) => (i === 1 ? 'total' : cell)));
    }
  }
  console.log('');
  if (phases.length) console.log(table.toString());
  const limits = run.results
    .map((r) => {
      const whole = r.measures.length > 1 ? totals.find((t) => t.scenario === r.label) : phases.find((p) => p.scenario === r.label);
      const perSecond = whole ? baselineRate(whole) : null;
      return perSecond === null ? undefined : `${r.label} ${formatInt(perSecond)}`;
    })
    .filter((x): x is string => x !== undefined);
  if (limits.length) console.log(`Storage baseline (Azurite writing 100-entity transactions), entities/s: ${limits.join('; ')}.`);

  const cSizes = run.results.filter((r) => r.label.startsWith('C ') && !r.failed).map((r) => r.label);
  const scalingInput = cSizes
    .map((label) => {
      const r = run.results.find((x) => x.label === label);
      const ilds = Number(label.slice(2).replace(/,/g, ''));
      return r ? { ilds, measure: invoicePartTotal(label, r.measures) } : undefined;
    })
    .filter((x): x is { ilds: number; measure: PhaseMeasure } => x !== undefined);
  const scaling = scalingOf(scalingInput);
  if (scaling.length) {
    const t = new Table({ head: SCALING_TABLE_HEAD, colAligns: ['right', 'right', 'right', 'right', 'right', 'right', 'right'], style: { head: [], border: [] } });
    for (const s of scaling) t.push(scalingRow(s));
    console.log('\nScenario C, the invoice part (invoice creation to accounting back) by invoice size:');
    console.log(t.toString());
  }

  const slowest = slowestPhase(phases);
  if (slowest) {
    const busiest = Object.entries(slowest.functions ?? {})
      .sort(([, x], [, y]) => y.busyMs - x.busyMs)
      .slice(0, 3)
      .map(([name, f]) => `${name} ${formatInt(f.invocations)} invocation${f.invocations === 1 ? '' : 's'}, ${(f.busyMs / 1000).toFixed(1)} s busy`);
    console.log(
      `\nFarthest from the storage limit: ${slowest.scenario} ${slowest.phase} (${slowest.ratio === null ? 'no baseline' : `${slowest.ratio.toFixed(2)}x the baseline`}, ${slowest.seconds.toFixed(1)} s)${
        busiest.length ? `; host time: ${busiest.join('; ')}` : ''
      }.`,
    );
    const longest = [...phases].sort((x, y) => y.seconds - x.seconds)[0];
    if (longest && longest !== slowest) {
      console.log(`Longest phase: ${longest.scenario} ${longest.phase} (${longest.seconds.toFixed(1)} s, ${formatRatio(longest.ratio, longest.baseline?.extrapolated === true)} the baseline).`);
    }
    console.log('Per-table writes and per-function host time of every phase are in the JSON file.');
  }
  const bounds = phases.filter((p) => p.ratio !== null && p.ratio > EXPLAIN_ABOVE_RATIO && !p.note?.includes('from scenario A')).map(boundLine);
  if (bounds.some((b) => b !== undefined)) {
    console.log(`\nWhat bounds each phase over ${EXPLAIN_ABOVE_RATIO}x (storage work: Azurite's CPU for the phase over its CPU for the baseline's writes; docs/bench.md):`);
    for (const line of bounds) if (line !== undefined) console.log(`- ${line}`);
  }
  const problems = [...run.problems, ...run.results.flatMap((r) => r.problems)];
  if (problems.length) {
    console.log('\nNotes and problems:');
    for (const p of problems.slice(0, 40)) console.log(`- ${p.length > 800 ? `${p.slice(0, 800)}...` : p}`);
  }

  const cpus = os.cpus();
  const doc: BenchDocument = {
    schema: 'project-invoicing-bench/v1',
    startedAt: run.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', totalMemoryBytes: os.totalmem(), node: process.version, platform: `${process.platform}-${process.arch}`, hostNodeArguments: HOST_NODE_ARGUMENTS },
    options: { quick: run.options.quick, scenarios: run.options.scenarios, sizes: run.options.sizes, baselineCap: run.options.baselineCap ?? null },
    storage: { maxBatch: MAX_BATCH, writeConcurrency: WRITE_CONCURRENCY },
    phases,
    totals,
    scaling,
    problems,
  };
  const commit = commitOf();
  if (commit) doc.commit = commit;
  if (slowest) doc.slowest = { scenario: slowest.scenario, phase: slowest.phase, ratio: slowest.ratio, seconds: slowest.seconds };
  const json = `${JSON.stringify(doc, null, 2)}\n`;
  writeFileSync(jsonFile, json);
  // The chart of the same figures, read back through the results schema like any later reader.
  const svgFile = jsonFile.replace(/\.json$/, '.svg');
  let chart = '';
  try {
    writeFileSync(svgFile, renderBenchChart(parseBenchResults(JSON.parse(json)), { source: path.basename(jsonFile) }));
    chart = `, chart ${path.relative(REPO_ROOT, svgFile)}`;
  } catch (error) {
    console.error(`No chart: ${error instanceof Error ? error.message : String(error)}`);
  }
  console.log(`\nResults: ${path.relative(REPO_ROOT, jsonFile)}${chart} (${((Date.now() - run.startedAt.getTime()) / 1000).toFixed(0)} s)`);
  console.log('The same figures in Azure: npm run bench -- --model azure (docs/scaling.md).');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
