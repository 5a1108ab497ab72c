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
import { fromHost, type ExecutionCounts, type FromHost, type ToHost } from './hostProtocol';

export const HOST_PROCESS_ENTRY = path.join(__dirname, 'hostProcess.js');
export const APP_ENTRY = APP_BUILD_ENTRY;

type Reply<T extends FromHost['type']> = Extract<FromHost, { type: T }>;

export interface HostStats {
  executions: Record<string, ExecutionCounts>;
  inFlight: number;
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
  const errors: string[] = [];
  const pending = new Map<number, (reply: FromHost) => void>();
  let nextId = 1;
  let exited: string | undefined;
  let onReady: ((reply: FromHost) => void) | undefined;

  child.on('message', (raw: unknown) => {
    const parsed = fromHost.safeParse(raw);
    if (!parsed.success) {
      errors.push(`malformed message from the host process: ${parsed.error.message}`);
      return;
    }
    const message = parsed.data;
    if (message.type === 'hostError') {
      errors.push(message.line);
      options.onError?.(message.line);
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
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = `the host process exited (code ${String(code)}, signal ${String(signal)})`;
      for (const resolvePending of pending.values()) resolvePending({ type: 'startFailed', error: exited });
      pending.clear();
      onReady?.({ type: 'startFailed', error: exited });
      resolve();
    }),
  );

  function request<T extends 'mark' | 'stats' | 'stopped'>(message: Omit<Extract<ToHost, { type: 'mark' | 'stats' | 'stop' }>, 'id'>, replyType: T): Promise<Reply<T>> {
    if (exited) return Promise.reject(new Error(exited));
    const id = nextId++;
    return new Promise<Reply<T>>((resolve, reject) => {
      pending.set(id, (reply) => {
        if (reply.type === replyType) resolve(reply as Reply<T>);
        else reject(new Error(reply.type === 'startFailed' ? reply.error : `unexpected reply ${reply.type} from the host process`));
      });
      child.send({ ...message, id } satisfies ToHost);
    });
  }

  const ready = await new Promise<FromHost>((resolve) => {
    onReady = resolve;
    child.send({ type: 'start', appEntry: APP_ENTRY, settings: options.settings, logFile: options.logFile } satisfies ToHost);
  });
  onReady = undefined;
  if (ready.type !== 'ready') {
    child.kill('SIGKILL');
    await exit;
    throw new Error(`The Functions host did not start: ${ready.type === 'startFailed' ? ready.error : ready.type}`);
  }

  return {
    baseUrl: ready.baseUrl,
    pid: child.pid ?? -1,
    functions: ready.functions,
    async mark() {
      const r = await request({ type: 'mark' }, 'mark');
      return { peakRss: r.peakRss, rss: r.rss, maxRss: r.maxRss };
    },
    async stats() {
      const r = await request({ type: 'stats' }, 'stats');
      return { executions: r.executions, inFlight: r.inFlight };
    },
    errors: () => [...errors],
    async stop() {
      if (exited) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      try {
        await request({ type: 'stop' }, 'stopped').catch(() => undefined);
        await exit;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** The setting `languageWorkers__node__arguments` (the Node arguments Azure Functions gives its worker), split. */
export function nodeArgumentsOf(settings: Readonly<Record<string, string>>): string[] {
  return (settings.languageWorkers__node__arguments ?? '').split(/\s+/).filter((a) => a !== '');
}
