/**
 * The small chaos run of `npm test` (the full one is `npm run chaos`, docs/chaos.md): Azurite, the
 * local broker and the local Functions host as three processes; a few invoices through the public
 * routes while the host is killed mid-confirmation and the storage is stopped and started again;
 * every message delivered twice; the queue and route fuzz; then the invariant checker.
 *
 * The child processes run compiled JavaScript, so the app and the tools are first compiled (tsc,
 * without type checking: `npm run typecheck` does that) into node_modules/.cache/chaos-e2e, inside
 * the repository so that the tools find it (tools/paths.ts) and its packages resolve.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultDurations, parseChaosArgs, type ChaosPlan } from '../../tools/chaos/options';
import { criteria, details, summaryTable } from '../../tools/chaos/report';
import { runChaos, type ChaosResult } from '../../tools/chaos/run';
import type { Artifacts } from '../../tools/chaos/system';

const ROOT = path.resolve(__dirname, '../..');
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'chaos-e2e');
const OUT = path.join(CACHE, 'out');

function build(): Artifacts {
  mkdirSync(CACHE, { recursive: true });
  const config = path.join(CACHE, 'tsconfig.json');
  writeFileSync(
    config,
    JSON.stringify({
      extends: path.join(ROOT, 'tools', 'tsconfig.json'),
      compilerOptions: { outDir: OUT, rootDir: ROOT, sourceMap: false, incremental: true, tsBuildInfoFile: path.join(CACHE, 'tsbuildinfo') },
      include: ['functions', 'shared', 'tools', 'tests/kit'].map((d) => path.join(ROOT, d, '**', '*.ts')),
      exclude: [path.join(ROOT, 'node_modules'), path.join(ROOT, 'dist'), path.join(ROOT, 'dist-tools')],
    }),
  );
  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', config, '--noCheck'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  const artifacts: Artifacts = {
    hostProcess: path.join(OUT, 'tools', 'bench', 'hostProcess.js'),
    appEntry: path.join(OUT, 'functions', 'index.js'),
    clockSkew: path.join(OUT, 'tools', 'chaos', 'clockSkew.js'),
    broker: path.join(OUT, 'tools', 'chaos', 'broker.js'),
  };
  const missing = Object.values(artifacts).filter((f) => !existsSync(f));
  if (tsc.status !== 0 || missing.length) {
    throw new Error(`compiling the app and the tools for the chaos test failed (tsc exit ${String(tsc.status)}${missing.length ? `, missing ${missing.join(', ')}` : ''}):\n${tsc.stdout}${tsc.stderr}`);
  }
  return artifacts;
}

function smallPlan(): ChaosPlan {
  const plan = parseChaosArgs(['--quick'], {});
  return {
    ...plan,
    contracts: 2,
    rounds: 3,
    roundEverySeconds: 8,
    storms: 1,
    probes: false,
    faults: ['host-kill-confirmation', 'storage-down-short'],
    durations: { ...defaultDurations(true), storageShortMs: 5_000, armMs: 30_000 },
    duplicateWindowMs: 3_000,
    copyAfterMs: 4_000,
    copyJitterMs: 2_000,
    // Rounds start in the first 27 s as before; the faults may start until 80 s, so a busy machine
    // (the whole suite runs beside this test) that makes the fuzz slow still gets both faults.
    budgetMs: 120_000,
    gapMs: 2_000,
    reserve: { lastRound: 93_000, lastFault: 40_000, followUntil: 22_000, settleUntil: 8_000 },
  };
}

let artifacts: Artifacts;
let result: ChaosResult;

beforeAll(() => {
  artifacts = build();
}, 180_000);

describe('a short chaos run: the system stays right through a host kill, a storage restart, duplicates and hostile input', () => {
  it('ends with every invariant holding, every well-formed invoice Posted, no 5xx and no dead letter without an error row', { timeout: 240_000 }, async () => {
    // The previous run's folder (Azurite's data, host logs) goes; this one stays for a look after a failure.
    for (const old of readdirSync(CACHE).filter((f) => f.startsWith('run-'))) rmSync(path.join(CACHE, old), { recursive: true, force: true });
    const workDir = mkdtempSync(path.join(CACHE, 'run-'));
    const lines: string[] = [];
    result = await runChaos({ plan: smallPlan(), artifacts, workDir, log: (line) => lines.push(line) });
    const report = [summaryTable(result), ...details(result), '', 'Progress:', ...lines].join('\n');
    // Everything the run found is printed; the assertions below are the ones `npm test` holds the system to.
    console.log(report);

    expect(result.faults.filter((f) => !f.skipped && !f.error).map((f) => f.name), report).toEqual(['host-kill-confirmation', 'storage-down-short']);
    expect(result.invoices.expected, report).toBeGreaterThan(0);
    const held = new Set(criteria(result).filter((c) => c.ok).map((c) => c.name));
    const must = ['invariant violations: 0', 'dead-lettered without error row: 0', 'every well-formed invoice Posted', 'no 5xx to malformed input', 'no 5xx to well-formed requests outside faults'];
    expect(must.filter((c) => !held.has(c)), report).toEqual([]);
  });
});
