/**
 * `npm run bench -- --model azure [FILE]` and `npm run bench -- --chart [FILE]`: what the benchmark
 * does with results it already has, without starting anything.
 *
 *   --model azure          print the Azure prediction (tools/bench/model.ts, docs/scaling.md) of the
 *                          newest bench-results/*.json, or of FILE
 *   --chart                write the SVG chart (tools/bench/chart.ts) of the newest results, or of FILE,
 *                          next to it (or to --chart-out FILE)
 *   --out DIR              where to look for the newest results (default bench-results)
 *
 * Model settings (defaults: infra/, host.json and docs/scaling.md):
 *   --accounts one|per-side      one storage account for every table, or one per side (infra separateSideStorage)
 *   --instances N                Flex Consumption maximumInstanceCount (100)
 *   --function-timeout S         host.json functionTimeout in seconds (600)
 *   --lock-renewal S             host.json serviceBus maxAutoLockRenewalDuration in seconds (600)
 *   --instance-memory MB         Flex Consumption instanceMemoryMB (2048)
 *   --sequence-block N           numbers reserved per counter write under load (16: the calls waiting in one process)
 *   --premium-mu-ops N           Service Bus operations per second one Premium messaging unit sustains (2000)
 *   --reads count|free           reads count against the storage targets (count) or not (free)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Table from 'cli-table3';
import { renderBenchChart } from './chart';
import {
  DEFAULT_PARAMS,
  loadsOf,
  predictScenarios,
  TIERS,
  tierName,
  withTier,
  workloadLimits,
  type ModelParams,
  type PhasePrediction,
  type ScenarioPrediction,
} from './model';
import { newestResultsFile, parseBenchResults, type BenchResults } from './results';
import { REPO_ROOT } from '../paths';
import { flagArguments } from './flags';

export const RESULTS_USAGE = `Usage: npm run bench -- --model azure [FILE] [--out DIR] [model settings]
       npm run bench -- --chart [FILE] [--chart-out FILE] [--out DIR]

  --model azure          the Azure prediction of the newest bench-results/*.json (or FILE); docs/scaling.md
  --chart                the SVG chart of the newest results (or FILE), written next to it (or to --chart-out)
  --accounts one|per-side, --instances N, --function-timeout S, --lock-renewal S, --instance-memory MB,
  --sequence-block N, --premium-mu-ops N, --reads count|free     model settings (docs/scaling.md)`;

/** The benchmark hands these arguments here instead of running. */
export function isResultsCommand(argv: readonly string[]): boolean {
  return argv.some((a) => a === '--model' || a.startsWith('--model=') || a === '--chart');
}

export interface ResultsCommand {
  mode: 'model' | 'chart';
  file: string | undefined;
  outDir: string;
  chartOut: string | undefined;
  params: ModelParams;
}

export class ResultsUsageError extends Error {}

function positive(text: string | undefined, flag: string): number {
  const n = Number((text ?? '').replace(/_/g, ''));
  if (!(n > 0) || !Number.isFinite(n)) throw new ResultsUsageError(`${flag} expects a positive number, got "${text ?? ''}"`);
  return n;
}

/** Parse the arguments of a results command (pure). */
export function parseResultsArgs(argv: readonly string[]): ResultsCommand {
  let mode: ResultsCommand['mode'] | undefined;
  let file: string | undefined;
  let outDir = 'bench-results';
  let chartOut: string | undefined;
  const deployment = { ...DEFAULT_PARAMS.deployment };
  const assumptions = { ...DEFAULT_PARAMS.assumptions };
  for (const { arg, flag, value } of flagArguments(argv, (message) => new ResultsUsageError(message))) {
    switch (flag) {
      case '--model': {
        const v = value();
        if (v !== 'azure') throw new ResultsUsageError(`--model knows "azure" only, got "${v}"`);
        mode = 'model';
        break;
      }
      case '--chart':
        mode = mode ?? 'chart';
        break;
      case '--chart-out':
        chartOut = value();
        break;
      case '--out':
        outDir = value();
        break;
      case '--accounts': {
        const v = value();
        if (v !== 'one' && v !== 'per-side') throw new ResultsUsageError(`--accounts expects one or per-side, got "${v}"`);
        deployment.storageAccounts = v === 'one' ? 'one' : 'perSide';
        break;
      }
      case '--instances':
        deployment.maxInstances = Math.floor(positive(value(), flag));
        break;
      case '--function-timeout':
        deployment.functionTimeoutSeconds = positive(value(), flag);
        break;
      case '--lock-renewal':
        deployment.lockRenewalSeconds = positive(value(), flag);
        break;
      case '--instance-memory':
        deployment.instanceMemoryMb = positive(value(), flag);
        break;
      case '--sequence-block':
        assumptions.sequenceBlock = Math.floor(positive(value(), flag));
        break;
      case '--premium-mu-ops':
        assumptions.premiumOpsPerSecondPerUnit = positive(value(), flag);
        break;
      case '--reads': {
        const v = value();
        if (v !== 'count' && v !== 'free') throw new ResultsUsageError(`--reads expects count or free, got "${v}"`);
        assumptions.readWeight = v === 'count' ? 1 : 0;
        break;
      }
      default:
        if (arg.startsWith('--') || file !== undefined) throw new ResultsUsageError(`unknown argument "${arg}"`);
        file = arg;
    }
  }
  if (!mode) throw new ResultsUsageError('expected --model azure or --chart');
  return { mode, file, outDir, chartOut, params: { limits: DEFAULT_PARAMS.limits, deployment, assumptions } };
}

// ---- printing the model -----------------------------------------------------------------------------

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'unbounded');
const secs = (s: number): string => (s < 10 ? s.toFixed(2) : s < 100 ? s.toFixed(1) : Math.round(s).toLocaleString('en-US'));
const plain = { head: [] as string[], border: [] as string[] };
/** No rule between body rows: the tables stay readable in a terminal. */
const compact = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };

function scenarioTable(per: { tier: string; predictions: ScenarioPrediction[] }[]): string {
  const first = per[0]?.predictions ?? [];
  const t = new Table({
    head: ['scenario', 'measured here (s)', ...per.map((x) => `${x.tier} (s)`), 'bound by (Standard)', '+ import timer wait (s)'],
    colAligns: ['left', 'right', ...per.map(() => 'right' as const), 'left', 'right'],
    style: plain,
    chars: compact,
  });
  for (const [i, s] of first.entries()) {
    t.push([s.scenario, secs(s.measuredSeconds), ...per.map((x) => secs(x.predictions[i]?.seconds ?? 0)), s.binding, s.timerWaitSeconds ? secs(s.timerWaitSeconds) : '-']);
  }
  return t.toString();
}

function phaseTable(predictions: readonly ScenarioPrediction[]): string {
  const t = new Table({
    head: ['scenario', 'phase', 'ops (writes + hidden)', 'busiest partition', 'messages', 'measured (s)', 'Azure (s)', 'bound by'],
    colAligns: ['left', 'left', 'right', 'left', 'right', 'right', 'right', 'left'],
    style: plain,
    chars: compact,
  });
  for (const s of predictions) {
    for (const ph of s.phases) {
      const ops = ph.tables.reduce((sum, x) => sum + x.ops, 0);
      const hot = ph.hottest ? `${ph.hottest.table} ${int(ph.hottest.hottest)}` : '-';
      t.push([ph.scenario, ph.phase + (ph.profiled ? '' : ' (not profiled)'), int(ops), hot, int(ph.messages), secs(ph.measuredSeconds), secs(ph.seconds), `${ph.binding.resource}: ${ph.binding.detail}`]);
    }
  }
  return t.toString();
}

function invocationLines(predictions: readonly ScenarioPrediction[]): string[] {
  const out: string[] = [];
  const all: PhasePrediction[] = predictions.flatMap((s) => s.phases);
  for (const ph of all) {
    const inv = ph.invocation;
    if (!inv || inv.seconds < 0.25 * inv.limitSeconds) continue;
    out.push(`- ${ph.scenario} ${ph.phase}: one ${inv.fn} ${secs(inv.seconds)} s of its ${inv.limitName} ${int(inv.limitSeconds)} s${inv.seconds > inv.limitSeconds ? ' -- OVER' : ''}`);
  }
  return out;
}

export function modelReport(results: BenchResults, file: string, params: ModelParams): string {
  const lines: string[] = [];
  const loads = loadsOf(results);
  const { deployment: d, assumptions: a, limits } = params;
  lines.push(
    `Azure model of ${file} (${results.options.quick ? 'quick run' : 'full run'}${results.commit ? `, commit ${results.commit}` : ''}, ${results.startedAt}).`,
    `Limits: ${int(limits.partitionEntitiesPerSecond)} entities/s per table partition, ${int(limits.accountEntitiesPerSecond)}/s per storage account (${
      d.storageAccounts === 'one' ? 'one account' : 'one account per side'
    }); Service Bus Standard ${int(limits.standardCreditsPerSecond)} credits/s, Premium ${int(a.premiumOpsPerSecondPerUnit)} ops/s per MU (assumed); ` +
      `${d.maxInstances} instances x ${d.maxConcurrentCalls} calls; functionTimeout ${int(d.functionTimeoutSeconds)} s, lock renewal ${int(d.lockRenewalSeconds)} s, HTTP ${int(limits.httpResponseSeconds)} s.`,
    `Assumptions: reads ${a.readWeight > 0 ? 'count' : 'do not count'} against the targets; ${a.roundTripSeconds * 1000} ms a request, ${a.transactionSeconds * 1000} ms a 100-entity transaction, ${a.writeConcurrency} in flight per invocation; ${
      a.sequenceReservationSeconds * 1000
    } ms a number reservation, ${a.sequenceBlock} per counter write. docs/scaling.md explains each.`,
    '',
  );
  const per = TIERS.map((tier) => ({ tier: tierName(tier), predictions: predictScenarios(loads, withTier(params, tier)) }));
  if (a.readWeight > 0) {
    const readsFree = { ...params, assumptions: { ...a, readWeight: 0 } };
    per.push({ tier: `${tierName(d.serviceBus)}, reads free`, predictions: predictScenarios(loads, readsFree) });
  }
  lines.push('Predicted time per scenario in Azure (the import run on demand, as in the benchmark):', scenarioTable(per), '');
  const standard = per[0]?.predictions ?? [];
  lines.push(`Per phase (${tierName(d.serviceBus)} as deployed by infra/):`, phaseTable(standard), '');
  const inv = invocationLines(standard);
  if (inv.length) lines.push('Invocations past a quarter of their limit:', ...inv, '');

  const w = workloadLimits(results, params);
  lines.push('The largest workload one deployment serves:');
  if (w.maxLinesPerInvoice) {
    lines.push(`- Lines per invoice: about ${int(w.maxLinesPerInvoice.maxIlds)}, bound by ${w.maxLinesPerInvoice.what}.`);
    for (const l of w.lineLimits) if (l !== w.maxLinesPerInvoice) lines.push(`    ${int(l.maxIlds)}: ${l.what}`);
  }
  if (w.importRun) lines.push(`- Import: a run of ${int(w.importRun.rows)} rows takes about ${secs(w.importRun.seconds)} s of its ${int(w.importRun.limitSeconds)} s; a larger backlog is taken over several runs.`);
  if (w.invoices) {
    lines.push(`- Invoices per hour (${w.invoices.linesPerInvoice}-line invoices, many contracts): about ${int(w.invoices.perHour)}, bound by ${w.invoices.binding}.`);
    for (const c of w.invoices.capacities.slice(1)) lines.push(`    ${int(c.perHour)}: ${c.what}`);
  }
  if (w.lines) {
    lines.push(`- Lines per hour through the whole story (approval to accounting back): about ${int(w.lines.perHour)}, bound by ${w.lines.binding}.`);
    for (const c of w.lines.capacities.slice(1)) lines.push(`    ${int(c.perHour)}: ${c.what}`);
    lines.push(
      `- Contracts: any number (a partition each); one contract alone at most ${int(w.lines.perContract)} lines per hour (${w.lines.contractOpsPerLine.toFixed(
        1,
      )} operations per line on its dvActuals partition): ${Math.max(1, Math.ceil(w.lines.perHour / w.lines.perContract))} busy contract${
        Math.ceil(w.lines.perHour / w.lines.perContract) > 1 ? 's' : ''
      } at once fill the deployment.`,
    );
  }
  if (w.contractHistory) {
    lines.push(
      `- A confirmation of ${int(w.contractHistory.ilds)} lines lists at most ${int(w.contractHistory.listed)} of its contract's actuals and reads at most about ${int(w.contractHistory.byKey)} more by key: its reads do not grow with the contract's history.`,
    );
  }
  return lines.join('\n');
}

// ---- running it ---------------------------------------------------------------------------------------

function resolveFile(cmd: ResultsCommand): string | undefined {
  if (cmd.file) return path.resolve(process.cwd(), cmd.file);
  return newestResultsFile(path.resolve(REPO_ROOT, cmd.outDir));
}

/** Run a results command; answers the exit code. */
export function runResultsCli(argv: readonly string[]): number {
  let cmd: ResultsCommand;
  try {
    cmd = parseResultsArgs(argv);
  } catch (error) {
    if (error instanceof ResultsUsageError) {
      console.error(`${error.message}\n\n${RESULTS_USAGE}`);
      return 2;
    }
    throw error;
  }
  const file = resolveFile(cmd);
  if (!file) {
    console.error(`No benchmark results in ${cmd.outDir}/ yet. Make some with \`npm run bench -- --quick\` (about a minute) or \`npm run bench\` (about 9 minutes), then run this again.`);
    return 1;
  }
  let results: BenchResults;
  try {
    results = parseBenchResults(JSON.parse(readFileSync(file, 'utf8')), path.relative(REPO_ROOT, file));
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    return 1;
  }
  const shown = path.relative(REPO_ROOT, file) || file;
  if (cmd.mode === 'chart') {
    const out = cmd.chartOut ? path.resolve(process.cwd(), cmd.chartOut) : file.replace(/\.json$/, '.svg');
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, renderBenchChart(results, { source: path.basename(file) }));
    console.log(`Chart of ${shown}: ${path.relative(REPO_ROOT, out) || out}`);
    return 0;
  }
  console.log(modelReport(results, shown, cmd.params));
  return 0;
}
