/**
 * The parent's side of the IPC with a host child process (tools/bench/hostProcess.ts), shared by
 * the benchmark (hostClient.ts) and the chaos harness (tools/chaos/host.ts): start the host and
 * wait for it, requests matched to their replies by id, the host's error lines, the exit (every
 * waiting request and start is answered with it), and a graceful stop.
 */
import type { ChildProcess } from 'node:child_process';
import { fromHost, type FromHost, type ToHost } from './hostProtocol';

export type HostReply<T extends FromHost['type']> = Extract<FromHost, { type: T }>;
type Request = Omit<Extract<ToHost, { type: 'mark' | 'stats' | 'stop' }>, 'id'>;

export interface HostChannel {
  /** Why the process exited, once it has. */
  exitReason(): string | undefined;
  /** Resolves with that reason when the process exits. */
  readonly exited: Promise<string>;
  /** Error lines the host reported, and messages it sent that did not parse. */
  readonly errors: string[];
  /** Start the host on the app; a host that fails to start (or to answer in time) is killed and the error thrown. */
  start(message: Extract<ToHost, { type: 'start' }>, options: { what: string; timeoutMs?: number }): Promise<HostReply<'ready'>>;
  request<T extends 'mark' | 'stats' | 'stopped'>(message: Request, replyType: T): Promise<HostReply<T>>;
  /** Graceful: in-flight invocations finish (30 s at most, then SIGKILL). */
  stop(): Promise<void>;
}

export function hostChannel(
  child: ChildProcess,
  options: {
    /** The exit as a sentence, e.g. "the host process exited (code 1, signal null)". */
    describeExit: (code: number | null, signal: NodeJS.Signals | null) => string;
    /** More to say when the host exits before it is ready (its stderr, say). */
    exitDetail?: () => string;
    onError?: (line: string) => void;
  },
): HostChannel {
  const errors: string[] = [];
  const pending = new Map<number, (reply: FromHost) => void>();
  let nextId = 1;
  let exitReason: string | undefined;
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
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => {
      const reason = options.describeExit(code, signal);
      exitReason = reason;
      for (const answer of pending.values()) answer({ type: 'startFailed', error: reason });
      pending.clear();
      const detail = options.exitDetail?.() ?? '';
      onReady?.({ type: 'startFailed', error: detail ? `${reason}: ${detail}` : reason });
      resolve(reason);
    }),
  );

  function request<T extends 'mark' | 'stats' | 'stopped'>(message: Request, replyType: T): Promise<HostReply<T>> {
    if (exitReason) return Promise.reject(new Error(exitReason));
    const id = nextId++;
    return new Promise<HostReply<T>>((resolve, reject) => {
      pending.set(id, (reply) => {
        if (reply.type === replyType) resolve(reply as HostReply<T>);
        else reject(new Error(reply.type === 'startFailed' ? reply.error : `unexpected reply ${reply.type} from the host process`));
      });
      child.send({ ...message, id } satisfies ToHost);
    });
  }

  return {
    exitReason: () => exitReason,
    exited,
    errors,
    async start(message, { what, timeoutMs }) {
      const ready = await new Promise<FromHost>((resolve) => {
        onReady = resolve;
        if (timeoutMs !== undefined) {
          setTimeout(() => resolve({ type: 'startFailed', error: `the host did not start within ${timeoutMs / 1000} s` }), timeoutMs).unref();
        }
        child.send(message);
      });
      onReady = undefined;
      if (ready.type !== 'ready') {
        child.kill('SIGKILL');
        await exited;
        throw new Error(`${what} did not start: ${ready.type === 'startFailed' ? ready.error : ready.type}`);
      }
      return ready;
    },
    request,
    async stop() {
      if (exitReason) return;
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
