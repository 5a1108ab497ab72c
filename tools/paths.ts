/**
 * Where the repository is, from the tools' source (tools/) or their build (dist-tools/tools/):
 * the nearest folder up from here holding package.json and host.json.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'host.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json with a host.json above ${from}`);
  }
}

export const REPO_ROOT = findRepoRoot(__dirname);

/** The app as `npm run build` compiles it (the local host loads this, as Azure does). */
export const APP_BUILD_ENTRY = path.join(REPO_ROOT, 'dist', 'functions', 'index.js');

/** The app's source entry, for the in-process host under vitest. */
export const APP_SOURCE_ENTRY = path.join(REPO_ROOT, 'functions', 'index.ts');
