/**
 * Small process helpers of the chaos harness: the environment its children get, finding a
 * grandchild's pid (Linux /proc), signals that tolerate a process already gone.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The environment for a child process: ours without NODE_OPTIONS (a test runner's loader must not leak into it). */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _ignored, ...env } = process.env;
  return { ...env, ...extra };
}

/**
 * The pid of a direct child of this process whose command line holds `args` in sequence
 * (for Azurite, which tools/azurite.ts starts without handing out its pid). Linux only.
 */
export function childPidWithArgs(args: readonly string[]): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    throw new Error('the chaos harness finds Azurite\'s pid through /proc, which this system does not have (Linux only)');
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (Number(/\nPPid:\s+(\d+)/.exec(status)?.[1]) !== process.pid) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      for (let i = 0; i + args.length <= argv.length; i++) {
        if (args.every((a, j) => argv[i + j] === a)) return Number(entry);
      }
    } catch {
      // the process went away meanwhile
    }
  }
  return undefined;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function signal(pid: number | undefined, sig: NodeJS.Signals): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Wait until `pid` is gone; false after `timeoutMs`. */
export async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}
