/**
 * `npm run chaos` (not part of `npm test`; tests/e2e/chaos.test.ts is its small version): builds,
 * then runs this from dist-tools/. See docs/chaos.md.
 *
 *   npm run chaos                    every fault, about 9 minutes on 2 cores
 *   npm run chaos -- --quick         a small run, about 4 minutes
 *   npm run chaos -- --help          the options
 *
 * Prints one line per phase with the elapsed seconds, then one table, and writes the same as
 * JSON (with every detail) to chaos-results/chaos-<time>.json, next to the run's folder
 * (Azurite's data, the host logs). Exit code 0 when every criterion holds, 1 otherwise, 2 on a
 * usage error.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { APP_BUILD_ENTRY, REPO_ROOT } from '../paths';
import { criteria, details, document, resultFileName, summaryTable } from './report';
import { parseChaosArgs, USAGE, UsageError } from './options';
import { runChaos } from './run';
import type { Artifacts } from './system';

/** The compiled pieces the child processes run, next to this file in dist-tools/. */
export function builtArtifacts(): Artifacts {
  return {
    hostProcess: path.join(__dirname, '..', 'bench', 'hostProcess.js'),
    appEntry: APP_BUILD_ENTRY,
    clockSkew: path.join(__dirname, 'clockSkew.js'),
    broker: path.join(__dirname, 'broker.js'),
  };
}

async function main(): Promise<void> {
  let plan;
  try {
    plan = parseChaosArgs(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  if (plan.help) {
    console.log(USAGE);
    return;
  }
  const startedAt = new Date();
  const outDir = path.resolve(REPO_ROOT, plan.outDir);
  const file = path.join(outDir, resultFileName(startedAt));
  const workDir = file.replace(/\.json$/, '');
  mkdirSync(workDir, { recursive: true });
  console.log(
    `Chaos run${plan.quick ? ' (quick)' : ''}: ${plan.contracts} contracts (a round every ${plan.roundEverySeconds} s, at most ${plan.rounds}), ${plan.storms} storm contracts${plan.probes ? ', probes' : ''}; faults ${plan.faults.join(', ') || 'none'}; ` +
      `${plan.duplicates ? 'every message delivered twice, every 10th late' : 'no duplicates'}; budget ${plan.budgetMs / 1000} s; logs in ${path.relative(REPO_ROOT, workDir)}`,
  );
  process.once('SIGINT', () => {
    console.error('\nInterrupted: stopping every process the run started.');
    process.exit(130); // the 'exit' handlers of the system kill its children
  });
  const result = await runChaos({ plan, artifacts: builtArtifacts(), workDir, log: (line) => console.log(line) });
  console.log('');
  console.log(summaryTable(result));
  for (const line of details(result)) console.log(line);
  writeFileSync(file, `${JSON.stringify(document(result), null, 2)}\n`);
  console.log(`\nResults: ${path.relative(REPO_ROOT, file)}`);
  const failed = criteria(result).filter((c) => !c.ok);
  if (failed.length) {
    console.log(`Failed: ${failed.map((c) => c.name).join('; ')}`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
