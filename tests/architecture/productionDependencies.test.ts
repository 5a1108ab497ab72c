/**
 * What the app ships with: the app is built alone (tsconfig.json), then loaded by plain Node from a
 * folder whose node_modules hold only the packages the lock file marks as production packages.
 * It must load, and the packages its own files require must be exactly package.json's
 * dependencies: nothing missing, nothing a tool of ours needs but the app does not. Telemetry is
 * switched on for the load, since its SDK packages are required only when it is.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };

let dir: string;
let probe: { status: number | null; stdout: string; stderr: string };

/** "@azure/data-tables/x" -> "@azure/data-tables", "zod/v4" -> "zod". */
function packageOf(request: string): string {
  const parts = request.split('/');
  return request.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'app-production-'));
  const dist = path.join(dir, 'dist');
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json', '--outDir', dist, '--sourceMap', 'false'], { cwd: ROOT, stdio: 'pipe' });
  cpSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  // Production packages only: those the lock file installs at the top level without "dev".
  for (const [where, entry] of Object.entries(lock.packages)) {
    if (!where.startsWith('node_modules/') || entry.dev || where.split('node_modules/').length !== 2) continue;
    const name = where.slice('node_modules/'.length);
    const link = path.join(dir, 'node_modules', name);
    mkdirSync(path.dirname(link), { recursive: true });
    symlinkSync(path.join(ROOT, 'node_modules', name), link, 'dir');
  }
  // Load the app, recording every package that a file of the app itself requires.
  const script = `
    const Module = require('node:module');
    const seen = new Set();
    const load = Module._load;
    Module._load = function (request, parent) {
      if (parent && parent.filename && parent.filename.startsWith(${JSON.stringify(dist)}) && !request.startsWith('.')) seen.add(request);
      return load.apply(this, arguments);
    };
    require(${JSON.stringify(path.join(dist, 'functions', 'index.js'))});
    process.stdout.write(JSON.stringify([...seen]));
    process.exit(0);
  `;
  const result = spawnSync(process.execPath, ['-e', script], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env.PATH ?? '',
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      ServiceBusConnection: 'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;',
      DataverseTables: 'UseDevelopmentStorage=true',
      FinanceTables: 'UseDevelopmentStorage=true',
      IntegrationTables: 'UseDevelopmentStorage=true',
      ImportFromStagingSchedule: '0 */1 * * * *',
      AccountingCurrency: 'USD',
      // Telemetry on, so the packages loaded only when it is (the SDK, the Azure Monitor exporter) are required too.
      APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/',
      TelemetryConsole: 'false',
    },
  });
  probe = { status: result.status, stdout: result.stdout, stderr: result.stderr };
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the built app with production dependencies only', () => {
  it('loads and registers its functions', () => {
    expect(probe.stderr.split('\n').filter((l) => /^\s*\w*Error\b|Cannot find module/.test(l))).toEqual([]);
    expect(probe.status).toBe(0);
    // Outside a Functions host the library only warns for each registration: every one was reached.
    const registered = [...probe.stderr.matchAll(/register function "([^"]+)"/g)].map((m) => m[1]);
    expect(registered).toEqual(expect.arrayContaining(['confirmProformaInvoice', 'syncInvoiceProposal', 'syncActuals', 'importFromStaging', 'postInvoiceProposal', 'syncActualsAccounting', 'health']));
  });

  it("requires exactly package.json's dependencies from its own files", () => {
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    const required = [...new Set((JSON.parse(probe.stdout || '[]') as string[]).filter((r) => !builtins.has(r)).map(packageOf))].sort();
    expect(required).toEqual(Object.keys(pkg.dependencies).sort());
  });

  it('keeps the tools out of the production dependencies', () => {
    for (const tool of ['rhea', 'cli-table3', 'azurite', 'vitest', 'typescript']) expect(Object.keys(pkg.dependencies)).not.toContain(tool);
  });
});
