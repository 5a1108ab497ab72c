/**
 * `npm run package` (tools/package.ts): the zip holds the compiled app, host.json, package.json and
 * the production packages only (no sources, source maps, tests or tools); unpacked into an empty
 * folder, the app loads with nothing but what the zip holds (a child process whose working folder is
 * that folder, NODE_PATH unset) through the local Functions host, registers every function the
 * source app registers, and answers its health route against real Azurite and the local broker.
 * .funcignore agrees with it: a publish from the repository leaves out what the zip leaves out.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type LocalAzurite } from '../../tools/azurite';
import { startFunctionsHost } from '../../tools/host';
import { buildPackage, describePackage, filesUnder, type PackageResult } from '../../tools/package';
import { APP_SOURCE_ENTRY, REPO_ROOT } from '../../tools/paths';
import { startServiceBus, type LocalServiceBus } from '../../tools/servicebus';

const KEY = 'package-test-key';
const work = mkdtempSync(path.join(tmpdir(), 'app-package-'));
const unpacked = path.join(work, 'wwwroot');
// The local host compiled to JavaScript inside the repository (it needs the repository's dev packages).
const hostBuild = path.join(REPO_ROOT, 'build', `package-test-host-${process.pid}`);

let result: PackageResult;
let zipEntries: string[];
let azurite: LocalAzurite;
let broker: LocalServiceBus;
let sourceFunctions: string[];
let probe: { functions: string[]; health: { status: number; body: unknown }; details: { status: number; body: { version?: string; status?: string } }; entry: string; stderr: string };

function settingsFor(): Record<string, string> {
  return {
    AzureWebJobsStorage: azurite.connectionString,
    ServiceBusConnection: broker.connectionString,
    DataverseTables: azurite.connectionString,
    FinanceTables: azurite.connectionString,
    IntegrationTables: azurite.connectionString,
    ImportFromStagingSchedule: '0 0 0 1 1 *',
    ReconcileSchedule: '0 0 0 1 1 *',
    AccountingCurrency: 'USD',
  };
}

/** Start the local host on the unpacked app in a child process, call its health routes, stop it. */
function loadUnpacked(): Promise<typeof probe> {
  const script = `
    const path = require('node:path');
    const { startFunctionsHost } = require(${JSON.stringify(path.join(hostBuild, 'tools', 'host', 'index.js'))});
    (async () => {
      const entry = require.resolve(path.join(process.cwd(), require(path.join(process.cwd(), 'package.json')).main));
      const host = await startFunctionsHost({
        appEntry: entry,
        settings: JSON.parse(process.env.APP_SETTINGS_JSON),
        httpPort: 0,
        httpHost: '127.0.0.1',
        hostJsonPath: path.join(process.cwd(), 'host.json'),
        functionKeys: { default: ${JSON.stringify(KEY)} },
        log: () => undefined,
      });
      const call = async (route, key) => {
        const r = await fetch(host.baseUrl + '/api/' + route, { headers: key ? { 'x-functions-key': key } : {} });
        return { status: r.status, body: await r.json() };
      };
      const out = {
        entry,
        functions: host.functions.map((f) => f.name).sort(),
        health: await call('health'),
        details: await call('health/details', ${JSON.stringify(KEY)}),
      };
      await host.stop();
      process.stdout.write(JSON.stringify(out));
      process.exit(0);
    })().catch((error) => { console.error(error && error.stack || String(error)); process.exit(1); });
  `;
  return new Promise((resolve, reject) => {
    const { NODE_PATH: _unset, NODE_OPTIONS: _unset2, ...env } = process.env;
    const child = spawn(process.execPath, ['-e', script], {
      cwd: unpacked,
      env: { PATH: env.PATH ?? '', HOME: env.HOME ?? '', APP_SETTINGS_JSON: JSON.stringify(settingsFor()) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`the unpacked app did not load (exit ${code}): ${stderr.slice(0, 3000)}`));
      try {
        resolve({ ...(JSON.parse(stdout) as Omit<typeof probe, 'stderr'>), stderr });
      } catch (error) {
        reject(new Error(`unexpected output: ${stdout.slice(0, 500)} ${stderr.slice(0, 1000)} (${String(error)})`));
      }
    });
  });
}

/** .funcignore's patterns as a matcher of repository-relative paths (gitignore style, as Core Tools reads it). */
function funcignore(): (file: string) => boolean {
  const rules = readFileSync(path.join(REPO_ROOT, '.funcignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((line) => {
      const negate = line.startsWith('!');
      const body = (negate ? line.slice(1) : line).replace(/\/$/, '');
      const anchored = body.includes('/');
      const glob = body
        .replace(/^\//, '')
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*\/?/g, '\u0000')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]')
        .replace(/\u0000/g, '(.*/)?');
      const regex = anchored ? new RegExp(`^${glob}(/.*)?$`) : new RegExp(`(^|/)${glob}(/.*)?$`);
      return { negate, regex };
    });
  return (file) => {
    let ignored = false;
    for (const rule of rules) if (rule.regex.test(file)) ignored = !rule.negate;
    return ignored;
  };
}

beforeAll(async () => {
  expect(existsSync(path.join(tmpdir(), 'node_modules')), 'no node_modules above the unpacked app').toBe(false);
  const lines: string[] = [];
  result = buildPackage({ outDir: path.join(work, 'build'), log: (line) => lines.push(line) });
  expect(lines.at(-1)).toBe(describePackage(result));

  // Unpack into an empty folder: only what the zip holds.
  mkdirSync(unpacked);
  const files = unzipSync(new Uint8Array(readFileSync(result.zip)));
  zipEntries = Object.keys(files).sort();
  for (const [name, bytes] of Object.entries(files)) {
    if (name.endsWith('/')) continue;
    const target = path.join(unpacked, name);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, bytes);
  }

  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(REPO_ROOT, 'tools', 'tsconfig.json'), '--outDir', hostBuild, '--sourceMap', 'false'], { cwd: REPO_ROOT, stdio: 'pipe' });
  azurite = await startAzurite({ services: 'table' });
  broker = await startServiceBus();

  // What the source app registers, as the tests load it.
  const source = await startFunctionsHost({ appEntry: APP_SOURCE_ENTRY, settings: settingsFor(), httpPort: 0, log: () => undefined });
  sourceFunctions = source.functions.map((f) => f.name).sort();
  await source.stop();

  probe = await loadUnpacked();
}, 300_000);

afterAll(async () => {
  await broker?.close();
  await azurite?.stop();
  rmSync(work, { recursive: true, force: true });
  rmSync(hostBuild, { recursive: true, force: true });
});

describe('npm run package', () => {
  it('is a script of package.json that builds the zip and prints its size', () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.package).toContain('tools/package.js');
    expect(describePackage(result)).toMatch(/app\.zip: \d+\.\d MB \(\d+\.\d MB unpacked in [\d,]+ files: dist .*node_modules/);
    expect(result.zipBytes).toBeLessThan(40 * 1024 * 1024);
  });

  it('holds the compiled app, host.json, package.json and production packages, and nothing else', () => {
    const top = [...new Set(zipEntries.map((e) => e.split('/')[0]))].sort();
    expect(top).toEqual(['dist', 'host.json', 'node_modules', 'package.json']);
    expect(zipEntries).toContain('dist/functions/index.js');
    expect(zipEntries.filter((e) => /\.map$/.test(e))).toEqual([]);
    expect(zipEntries.filter((e) => e.startsWith('dist/') && !e.endsWith('.js'))).toEqual([]);
    expect(zipEntries.filter((e) => /(^|\/)(tests?|tools)\//.test(e) && e.startsWith('dist/'))).toEqual([]);
    const packages = new Set(zipEntries.filter((e) => e.startsWith('node_modules/')).map((e) => (e.split('/')[1]!.startsWith('@') ? e.split('/').slice(1, 3).join('/') : e.split('/')[1]!)));
    // (rhea ships: @azure/service-bus needs it; it is a devDependency only as the local broker's server.)
    for (const dev of ['azurite', 'vitest', 'typescript', 'cli-table3', 'fflate', '@types/node', 'playwright-core']) expect(packages.has(dev), dev).toBe(false);
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies)) expect(packages.has(dep), dep).toBe(true);
    const shipped = JSON.parse(readFileSync(path.join(unpacked, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(shipped)).not.toContain('scripts');
    expect(Object.keys(shipped)).not.toContain('devDependencies');
    expect(shipped.main).toBe('dist/functions/index.js');
  });

  it('loads from an empty folder with only what the zip holds, registering every function the source app registers', () => {
    expect(probe.entry).toBe(path.join(unpacked, 'dist', 'functions', 'index.js'));
    expect(probe.functions).toEqual(sourceFunctions);
    expect(probe.functions).toEqual(expect.arrayContaining(['confirmProformaInvoice', 'syncInvoiceProposal', 'syncActuals', 'importFromStaging', 'postInvoiceProposal', 'syncActualsAccounting', 'reconcile', 'health']));
    expect(probe.stderr).not.toMatch(/Cannot find module/);
  });

  it('answers its health routes from the unpacked folder: anonymous up/down, details with a key', () => {
    expect(probe.health).toEqual({ status: 200, body: { status: 'Healthy' } });
    expect(probe.details.status).toBe(200);
    const version = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(probe.details.body.version).toBe(version);
  });

  it('agrees with .funcignore: nothing in the zip is ignored, and every other top-level entry of the repository is', () => {
    const ignored = funcignore();
    expect(zipEntries.filter((e) => !e.startsWith('node_modules/') && ignored(e))).toEqual([]);
    const leftOut = readdirSync(REPO_ROOT).filter((name) => !['dist', 'host.json', 'package.json', 'node_modules'].includes(name));
    expect(leftOut.filter((name) => !ignored(name))).toEqual([]);
    // The app's sources and maps are left out even where they sit beside what ships.
    for (const file of ['functions/index.ts', 'shared/config.ts', 'dist/functions/index.js.map', 'tests/unit/config.test.ts', 'tools/package.ts', 'infra/main.bicep', 'local.settings.json']) expect(ignored(file), file).toBe(true);
    for (const file of filesUnder(path.join(unpacked, 'dist')).slice(0, 50)) expect(ignored(`dist/${file}`), file).toBe(false);
  });
});
