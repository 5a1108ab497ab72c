/**
 * Messages between the benchmark and its Functions host child process (tools/bench/hostProcess.ts),
 * over Node's IPC channel. Both sides parse what they receive with these schemas.
 */
import { z } from 'zod';

export const toHost = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('start'),
    appEntry: z.string().min(1),
    settings: z.record(z.string(), z.string()),
    logFile: z.string().min(1),
  }),
  /** Reply with the peak RSS since the previous mark, and start a new window. */
  z.object({ type: z.literal('mark'), id: z.number().int() }),
  z.object({ type: z.literal('stats'), id: z.number().int() }),
  z.object({ type: z.literal('stop'), id: z.number().int() }),
]);
export type ToHost = z.infer<typeof toHost>;

export const executionCounts = z.object({
  started: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  /** Sum of the finished invocations' durations (ms), from the host's `Duration=` figures. */
  busyMs: z.number(),
});
export type ExecutionCounts = z.infer<typeof executionCounts>;

export const fromHost = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), baseUrl: z.string().url(), functions: z.array(z.string()) }),
  z.object({ type: z.literal('startFailed'), error: z.string() }),
  z.object({
    type: z.literal('mark'),
    id: z.number().int(),
    peakRss: z.number(),
    rss: z.number(),
    /** Peak RSS of the whole process life (resourceUsage().maxRSS, bytes). */
    maxRss: z.number(),
  }),
  z.object({
    type: z.literal('stats'),
    id: z.number().int(),
    executions: z.record(z.string(), executionCounts),
    inFlight: z.number().int(),
    /** The host process's CPU time so far (user + system, µs). */
    cpuMicros: z.number().nonnegative(),
  }),
  z.object({ type: z.literal('stopped'), id: z.number().int() }),
  /** A failed invocation or an error line of the host log (the first few only). */
  z.object({ type: z.literal('hostError'), line: z.string() }),
]);
export type FromHost = z.infer<typeof fromHost>;

const EXECUTING = /Executing 'Functions\.([^']+)'/;
const EXECUTED = /Executed 'Functions\.([^']+)' \((Succeeded|Failed)(?:[^)]*Duration=(\d+)ms)?/;

/** Counts invocations from the host's log lines ("Executing 'Functions.x'", "Executed 'Functions.x' (Succeeded, ..."). */
export class ExecutionTally {
  readonly counts: Record<string, ExecutionCounts> = {};

  #of(name: string): ExecutionCounts {
    let c = this.counts[name];
    if (!c) this.counts[name] = c = { started: 0, succeeded: 0, failed: 0, busyMs: 0 };
    return c;
  }

  /** Returns 'failed' for the line that reports a failed invocation. */
  see(line: string): 'started' | 'succeeded' | 'failed' | undefined {
    const done = EXECUTED.exec(line);
    if (done) {
      const c = this.#of(done[1] ?? '');
      c.busyMs += Number(done[3] ?? 0);
      if (done[2] === 'Succeeded') {
        c.succeeded += 1;
        return 'succeeded';
      }
      c.failed += 1;
      return 'failed';
    }
    const started = EXECUTING.exec(line);
    if (started) {
      this.#of(started[1] ?? '').started += 1;
      return 'started';
    }
    return undefined;
  }

  inFlight(): number {
    let n = 0;
    for (const c of Object.values(this.counts)) n += c.started - c.succeeded - c.failed;
    return n;
  }
}

/** Invocations and busy time per function between two snapshots of the counts. */
export function executionsBetween(
  before: Readonly<Record<string, ExecutionCounts>>,
  after: Readonly<Record<string, ExecutionCounts>>,
): Record<string, { invocations: number; failed: number; busyMs: number }> {
  const out: Record<string, { invocations: number; failed: number; busyMs: number }> = {};
  for (const [name, a] of Object.entries(after)) {
    const b = before[name] ?? { started: 0, succeeded: 0, failed: 0, busyMs: 0 };
    const invocations = a.succeeded + a.failed - (b.succeeded + b.failed);
    if (invocations <= 0) continue;
    out[name] = { invocations, failed: a.failed - b.failed, busyMs: a.busyMs - b.busyMs };
  }
  return out;
}
