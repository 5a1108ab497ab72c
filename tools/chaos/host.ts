/**
 * The local Functions host for the chaos harness, in a child process of its own: the benchmark's
 * host process (tools/bench/hostProcess.js, which starts tools/host on the compiled app and
 * reports invocation counts over IPC), forked from paths the caller names, so the test can run
 * it from a build of its own. Unlike the benchmark's client it can be killed with any signal
 * and started with a skewed clock (clockSkew.js preloaded, CHAOS_CLOCK_OFFSET_MS).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fromHost, type ExecutionCounts, type FromHost, type ToHost } from '../bench/hostProtocol';
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
  const errors: string[] = [];
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const pending = new Map<number, (reply: FromHost) => void>();
  let nextId = 1;
  let exitedWhy: string | undefined;
  let onReady: ((reply: FromHost) => void) | undefined;

  child.on('message', (raw: unknown) => {
    const parsed = fromHost.safeParse(raw);
    if (!parsed.success) return;
    const message = parsed.data;
    if (message.type === 'hostError') {
      errors.push(message.line);
      return;
    }
    if (message.type === 'ready' || message.type === 'startFailed') {
      onReady?.(message);
      return;
    }
    const resolve = pending.get(message.id);
    if (resolve) {
      pending.delete(message.id);
      resolve(message);
    }
  });
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, sig) => {
      exitedWhy = `the host process ${options.label} exited (code ${String(code)}, signal ${String(sig)})`;
      for (const r of pending.values()) r({ type: 'startFailed', error: exitedWhy });
      pending.clear();
      onReady?.({ type: 'startFailed', error: `${exitedWhy}${stderr.trim() ? `: ${stderr.trim().slice(-1500)}` : ''}` });
      resolve(exitedWhy);
    }),
  );

  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const ready = await new Promise<FromHost>((resolve) => {
    onReady = resolve;
    const timer = setTimeout(() => resolve({ type: 'startFailed', error: `the host did not start within ${timeoutMs / 1000} s` }), timeoutMs);
    timer.unref();
    child.send({ type: 'start', appEntry: artifacts.appEntry, settings: options.settings, logFile: options.logFile } satisfies ToHost);
  });
  onReady = undefined;
  if (ready.type !== 'ready') {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`The Functions host ${options.label} did not start: ${ready.type === 'startFailed' ? ready.error : ready.type}`);
  }

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

  function request<T extends 'stats' | 'stopped'>(message: Omit<Extract<ToHost, { type: 'stats' | 'stop' }>, 'id'>, replyType: T): Promise<Extract<FromHost, { type: T }>> {
    if (exitedWhy) return Promise.reject(new Error(exitedWhy));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, (reply) => {
        if (reply.type === replyType) resolve(reply as Extract<FromHost, { type: T }>);
        else reject(new Error(reply.type === 'startFailed' ? reply.error : `unexpected reply ${reply.type}`));
      });
      child.send({ ...message, id } as ToHost);
    });
  }

  return {
    label: options.label,
    baseUrl: ready.baseUrl,
    pid: child.pid ?? -1,
    exited,
    running: () => exitedWhy === undefined,
    async stats() {
      const r = await request({ type: 'stats' }, 'stats');
      return { executions: r.executions, inFlight: r.inFlight };
    },
    async backgroundInFlight() {
      const r = await request({ type: 'stats' }, 'stats');
      if (background.size === 0) return r.inFlight;
      let n = 0;
      for (const [name, c] of Object.entries(r.executions)) if (background.has(name)) n += c.started - c.succeeded - c.failed;
      return n;
    },
    errors: () => [...errors, ...(stderr.trim() ? [`stderr: ${stderr.trim().slice(-1500)}`] : [])],
    kill(signal) {
      if (!exitedWhy) child.kill(signal);
    },
    async stop() {
      if (exitedWhy) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      try {
        await request({ type: 'stop' }, 'stopped').catch(() => undefined);
        await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
