/**
 * `npm run package`: the deployable zip of the function app, `build/app.zip`, and the folder it is
 * made of, `build/package/` (what `azd deploy` uploads, azure.yaml's `dist`). It holds what Azure
 * Functions runs and nothing else:
 *   dist/          the app compiled alone (tsconfig.json), without source maps
 *   host.json
 *   package.json   name, version, main, engines and dependencies (no scripts: nothing to build there)
 *   node_modules/  the production packages exactly as package-lock.json installs them, without
 *                  source maps, type declarations (and @types packages) and markdown (licences stay)
 * No tests, tools, sources or local settings. The zip is reproducible (fixed entry times, sorted
 * entries). It prints its size. .funcignore lists the same exclusions for a publish from the
 * repository (tests/integration/package.test.ts holds the two together).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { zipSync, type Zippable } from 'fflate';
import { z } from 'zod';
import { REPO_ROOT } from './paths';

const lockSchema = z.object({
  packages: z.record(z.string(), z.object({ dev: z.boolean().optional(), optional: z.boolean().optional(), link: z.boolean().optional() }).passthrough()),
});

const packageSchema = z
  .object({
    name: z.string(),
    version: z.string(),
    description: z.string().optional(),
    main: z.string(),
    engines: z.record(z.string(), z.string()).optional(),
    dependencies: z.record(z.string(), z.string()),
  })
  .passthrough();

/** Files of a package that nothing needs at run time. */
function isRuntimeFile(name: string): boolean {
  if (/\.(map|tsbuildinfo)$/i.test(name)) return false;
  if (/\.d\.[cm]?ts$/i.test(name)) return false;
  if (/\.(md|markdown)$/i.test(name) && !/^licen[cs]e/i.test(name)) return false;
  return true;
}

/** The production packages of the lock file: their folders, relative to the repository (nested ones included). */
export function productionPackages(root = REPO_ROOT): string[] {
  const lock = lockSchema.parse(JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')));
  return Object.entries(lock.packages)
    .filter(([where, entry]) => where.startsWith('node_modules/') && !entry.dev && !entry.link)
    // Type declarations only (a dependency's dependency on @types/node): nothing requires them at run time.
    .filter(([where]) => !/(^|\/)node_modules\/@types\//.test(where))
    .filter(([where, entry]) => existsSync(path.join(root, where)) || !entry.optional)
    .map(([where]) => where)
    .sort();
}

function copyPackage(from: string, to: string): void {
  if (!existsSync(from)) throw new Error(`${path.relative(REPO_ROOT, from)} is not installed: run npm ci first`);
  cpSync(from, to, {
    recursive: true,
    dereference: true,
    // Nested node_modules are lock entries of their own (copied when they are production packages).
    filter: (source) => {
      const rel = path.relative(from, source);
      if (rel === '') return true;
      if (rel.split(path.sep)[0] === 'node_modules') return false;
      return statSync(source).isDirectory() || isRuntimeFile(path.basename(source));
    },
  });
}

/** Every file under a folder, relative, with '/' separators, sorted. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const full = path.join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else out.push(path.relative(dir, full).split(path.sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

export interface PackageResult {
  folder: string;
  zip: string;
  zipBytes: number;
  unpackedBytes: number;
  files: number;
  /** Bytes per top-level entry of the package (dist, node_modules, ...). */
  parts: Record<string, number>;
}

const MB = 1024 * 1024;
const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;

export function describePackage(result: PackageResult, base = REPO_ROOT): string {
  const parts = Object.entries(result.parts)
    .map(([name, bytes]) => `${name} ${mb(bytes)}`)
    .join(', ');
  return `${path.relative(base, result.zip) || result.zip}: ${mb(result.zipBytes)} (${mb(result.unpackedBytes)} unpacked in ${result.files.toLocaleString('en-US')} files: ${parts})`;
}

/** Build the package folder and its zip (default build/package and build/app.zip). */
export function buildPackage(options: { outDir?: string; log?: (line: string) => void } = {}): PackageResult {
  const log = options.log ?? ((line: string) => console.log(line));
  const outDir = path.resolve(options.outDir ?? path.join(REPO_ROOT, 'build'));
  const folder = path.join(outDir, 'package');
  const zipPath = path.join(outDir, 'app.zip');
  rmSync(folder, { recursive: true, force: true });
  rmSync(zipPath, { force: true });
  mkdirSync(folder, { recursive: true });

  log('compiling the app (tsconfig.json, no source maps) ...');
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(REPO_ROOT, 'tsconfig.json'), '--outDir', path.join(folder, 'dist'), '--sourceMap', 'false'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  cpSync(path.join(REPO_ROOT, 'host.json'), path.join(folder, 'host.json'));
  const pkg = packageSchema.parse(JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')));
  const shipped = {
    name: pkg.name,
    version: pkg.version,
    ...(pkg.description !== undefined ? { description: pkg.description } : {}),
    main: pkg.main,
    ...(pkg.engines ? { engines: pkg.engines } : {}),
    dependencies: pkg.dependencies,
  };
  writeFileSync(path.join(folder, 'package.json'), `${JSON.stringify(shipped, null, 2)}\n`);

  const packages = productionPackages();
  log(`copying ${packages.length} production packages (package-lock.json) ...`);
  for (const where of packages) copyPackage(path.join(REPO_ROOT, where), path.join(folder, where));

  const files = filesUnder(folder);
  const entries: Zippable = {};
  const parts: Record<string, number> = {};
  let unpackedBytes = 0;
  // Fixed times: the same sources and lock file give the same zip.
  const mtime = new Date('2000-01-01T00:00:00Z');
  for (const file of files) {
    const bytes = readFileSync(path.join(folder, file));
    entries[file] = [bytes, { level: 6, mtime }];
    unpackedBytes += bytes.length;
    const top = file.split('/')[0]!;
    parts[top] = (parts[top] ?? 0) + bytes.length;
  }
  const zipped = zipSync(entries);
  writeFileSync(zipPath, zipped);
  const result: PackageResult = { folder, zip: zipPath, zipBytes: zipped.length, unpackedBytes, files: files.length, parts };
  log(describePackage(result));
  return result;
}

if (require.main === module) {
  try {
    const args = process.argv.slice(2);
    const out = args[0] === '--out' ? args[1] : undefined;
    if (args.length && out === undefined) throw new Error(`package: unknown arguments ${args.join(' ')}. Usage: npm run package [-- --out <folder>]`);
    buildPackage(out !== undefined ? { outDir: out } : {});
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  }
}
