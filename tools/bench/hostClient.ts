/**
 * The benchmark's side of the host child process: fork it, start the host on the compiled app,
 * ask for invocation counts and the peak RSS of a phase, stop it.
 *
 * The benchmark runs compiled (dist-tools/tools/bench.js), so this file is
 * dist-tools/tools/bench/hostClient.js, the child is the sibling hostProcess.js, and the app is
 * the app's own build, dist/functions/index.js.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { APP_BUILD_ENTRY } from '../paths';
import { hostChannel } from './hostChannel';
import type { ExecutionCounts } from './hostProtocol';

export const HOST_PROCESS_ENTRY = path.join(__dirname, 'hostProcess.js');
export const APP_ENTRY = APP_BUILD_ENTRY;

export interface HostStats {
  executions: Record<string, ExecutionCounts>;
  inFlight: number;
  /** The host process's CPU time so far (µs). */
  cpuMicros: number;
}

export interface HostChild {
  readonly baseUrl: string;
  readonly pid: number;
  readonly functions: string[];
  /** Peak RSS (bytes) since the previous mark; starts a new window. */
  mark(): Promise<{ peakRss: number; rss: number; maxRss: number }>;
  stats(): Promise<HostStats>;
  /** Failed invocations and error lines seen so far (the first few). */
  errors(): string[];
  stop(): Promise<void>;
}

export async function startHostChild(options: { settings: Record<string, string>; logFile: string; onError?: (line: string) => void }): Promise<HostChild> {
  for (const file of [HOST_PROCESS_ENTRY, APP_ENTRY]) {
    if (!existsSync(file)) throw new Error(`${file} does not exist: run the benchmark compiled, with "npm run bench" (it builds first)`);
  }
  const child: ChildProcess = fork(HOST_PROCESS_ENTRY, [], {
    // The Node arguments of the worker, from the setting Azure Functions reads for them.
    execArgv: nodeArgumentsOf(options.settings),
    env: { ...process.env, ...options.settings },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const channel = hostChannel(child, {
    describeExit: (code, signal) => `the host process exited (code ${String(code)}, signal ${String(signal)})`,
    ...(options.onError ? { onError: options.onError } : {}),
  });
  const ready = await channel.start(
    { type: 'start', appEntry: APP_ENTRY, settings: options.settings, logFile: options.logFile },
    { what: 'The Functions host' },
  );

  return {
    baseUrl: ready.baseUrl,
    pid: child.pid ?? -1,
    functions: ready.functions,
    async mark() {
      const r = await channel.request({ type: 'mark' }, 'mark');
      return { peakRss: r.peakRss, rss: r.rss, maxRss: r.maxRss };
    },
    async stats() {
      const r = await channel.request({ type: 'stats' }, 'stats');
      return { executions: r.executions, inFlight: r.inFlight, cpuMicros: r.cpuMicros };
    },
    errors: () => [...channel.errors],
    stop: () => channel.stop(),
  };
}

/** The setting `languageWorkers__node__arguments` (the Node arguments Azure Functions gives its worker), split. */
export function nodeArgumentsOf(settings: Readonly<Record<string, string>>): string[] {
  return (settings.languageWorkers__node__arguments ?? '').split(/\s+/).filter((a) => a !== '');
}
