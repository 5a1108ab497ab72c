/**
 * The local Functions host for the chaos harness, in a child process of its own: the benchmark's
 * host process (tools/bench/hostProcess.js, which starts tools/host on the compiled app and
 * reports invocation counts over IPC), forked from paths the caller names, so the test can run
 * it from a build of its own. Unlike the benchmark's client it can be killed with any signal
 * and started with a skewed clock (clockSkew.js preloaded, CHAOS_CLOCK_OFFSET_MS).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { hostChannel } from '../bench/hostChannel';
import type { ExecutionCounts } from '../bench/hostProtocol';
import { childEnv } from './processes';

export interface HostArtifacts {
  /** tools/bench/hostProcess.js of a build. */
  hostProcess: string;
  /** functions/index.js of a build of the app. */
  appEntry: string;
  /** tools/chaos/clockSkew.js of the same build. */
  clockSkew: string;
}

export interface ChaosHost {
  readonly label: string;
  readonly baseUrl: string;
  readonly pid: number;
  readonly exited: Promise<string>;
  running(): boolean;
  /** Invocations per function so far, and how many run now (from the host's log lines). */
  stats(): Promise<{ executions: Record<string, ExecutionCounts>; inFlight: number }>;
  /** Queue and timer invocations running now (HTTP requests, the harness's own among them, not counted). */
  backgroundInFlight(): Promise<number>;
  /** Error lines of the host log (the first 20) and its stderr. */
  errors(): string[];
  kill(signal: NodeJS.Signals): void;
  /** Graceful: in-flight invocations finish (30 s at most, then SIGKILL). */
  stop(): Promise<void>;
}

export async function startChaosHost(options: {
  label: string;
  artifacts: HostArtifacts;
  settings: Record<string, string>;
  logFile: string;
  clockOffsetMs?: number;
  startTimeoutMs?: number;
}): Promise<ChaosHost> {
  const { artifacts } = options;
  for (const file of [artifacts.hostProcess, artifacts.appEntry, ...(options.clockOffsetMs ? [artifacts.clockSkew] : [])]) {
    if (!existsSync(file)) throw new Error(`${file} does not exist: build first (npm run chaos builds the app and the tools)`);
  }
  const env = childEnv({ ...options.settings, ...(options.clockOffsetMs ? { CHAOS_CLOCK_OFFSET_MS: String(options.clockOffsetMs) } : {}) });
  const child: ChildProcess = fork(artifacts.hostProcess, [], {
    env,
    execArgv: options.clockOffsetMs ? ['--require', artifacts.clockSkew] : [],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const channel = hostChannel(child, {
    describeExit: (code, signal) => `the host process ${options.label} exited (code ${String(code)}, signal ${String(signal)})`,
    exitDetail: () => stderr.trim().slice(-1500),
  });
  const ready = await channel.start(
    { type: 'start', appEntry: artifacts.appEntry, settings: options.settings, logFile: options.logFile },
    { what: `The Functions host ${options.label}`, timeoutMs: options.startTimeoutMs ?? 60_000 },
  );

  // The queue and timer functions, from the listing the host writes to its log at start-up.
  const background = new Set<string>();
  for (let i = 0; i < 40 && background.size === 0; i++) {
    try {
      for (const m of readFileSync(options.logFile, 'utf8').matchAll(/^\s+(\w+): (serviceBusTrigger|timerTrigger)/gm)) background.add(m[1]!);
    } catch {
      // not written yet
    }
    if (background.size === 0) await new Promise((r) => setTimeout(r, 50));
  }

  return {
    label: options.label,
    baseUrl: ready.baseUrl,
    pid: child.pid ?? -1,
    exited: channel.exited,
    running: () => channel.exitReason() === undefined,
    async stats() {
      const r = await channel.request({ type: 'stats' }, 'stats');
      return { executions: r.executions, inFlight: r.inFlight };
    },
    async backgroundInFlight() {
      const r = await channel.request({ type: 'stats' }, 'stats');
      if (background.size === 0) return r.inFlight;
      let n = 0;
      for (const [name, c] of Object.entries(r.executions)) if (background.has(name)) n += c.started - c.succeeded - c.failed;
      return n;
    },
    errors: () => [...channel.errors, ...(stderr.trim() ? [`stderr: ${stderr.trim().slice(-1500)}`] : [])],
    kill(signal) {
      if (channel.exitReason() === undefined) child.kill(signal);
    },
    stop: () => channel.stop(),
  };
}
