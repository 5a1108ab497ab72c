/**
 * How the benchmark knows a phase is over: cheap reads of the state the phase must reach, and
 * two ways of waiting for it.
 * - `waitUntil`: poll a probe until it says done; the end time is when done was first seen.
 * - `settle`: wait until the pipeline is quiet (no message on any contract queue, no invocation
 *   running) for three polls in a row and the probe agrees; the end time is the first of those
 *   quiet polls.
 * Both fail fast with a StallError when nothing happens in the host for `stallMs` while the goal
 * is not reached (a poisoned message, a crashed handler), naming what was missing, the host's
 * error lines and the integration error log.
 */
import { TableClient } from '@azure/data-tables';
import { eq } from '../../shared/core/money';
import { clientOptionsFor } from '../../shared/storage/tableStore';
import type { Progress } from './progress';
import { waitFor } from '../../tests/kit/wait';
import { StallError, type BenchSystem } from './system';
import { BENCH_USER_AGENT } from './writeCounter';

export type ProbeResult = true | string;

export interface WaitEnv {
  system: BenchSystem;
  progress: Progress;
  /** Epoch ms after which every wait fails. */
  deadline: number;
  /** No host activity for this long while waiting = stalled. */
  stallMs: number;
}

async function stalledMessage(env: WaitEnv, what: string, status: string, quietMs: number): Promise<string> {
  const lines = [`${what}: nothing happened in the Functions host for ${Math.round(quietMs / 1000)} s and the goal is not reached (${status}).`];
  const hostErrors = env.system.host.errors();
  if (hostErrors.length) lines.push('Host errors:', ...hostErrors.slice(0, 5).map((l) => `  ${l}`));
  const logged = await env.system.integrationErrors().catch(() => []);
  if (logged.length) lines.push('integrationErrors:', ...logged.slice(0, 5).map((e) => `  ${e.Source} ${e.Category}: ${e.Message}`));
  return lines.join('\n');
}

/** Poll `probe` every `intervalMs` until it returns true; returns the epoch ms the probe that said so started. */
export async function waitUntil(env: WaitEnv, what: string, probe: () => Promise<ProbeResult>, intervalMs = 250): Promise<number> {
  let lastActivity = Date.now();
  let fingerprint = -1;
  // No time limit of waitFor's own: the stall and budget checks below end the wait.
  return waitFor(
    what,
    async () => {
      const at = Date.now();
      const result = await probe();
      if (result === true) return at;
      env.progress.detail(result);
      const stats = await env.system.stats();
      let sum = 0;
      for (const c of Object.values(stats.executions)) sum += c.started + c.succeeded + c.failed;
      const now = Date.now();
      if (sum !== fingerprint || stats.inFlight > 0) {
        fingerprint = sum;
        lastActivity = now;
      }
      if (now - lastActivity > env.stallMs) throw new StallError(await stalledMessage(env, what, result, now - lastActivity));
      if (now > env.deadline) throw new StallError(await stalledMessage(env, `${what} (time budget exhausted)`, result, now - lastActivity));
      return undefined;
    },
    Number.POSITIVE_INFINITY,
    intervalMs,
  );
}

/** Wait until the pipeline is quiet and `verify` agrees; returns when the quiet began (epoch ms). */
export async function settle(env: WaitEnv, what: string, verify: () => Promise<ProbeResult>): Promise<number> {
  let streak = 0;
  let quietSince = Date.now();
  await waitUntil(
    env,
    what,
    async () => {
      const at = Date.now();
      if (!(await env.system.quiet())) {
        streak = 0;
        return 'messages in flight';
      }
      if (streak === 0) quietSince = at;
      streak += 1;
      if (streak < 3) return 'settling';
      const verdict = await verify();
      if (verdict !== true) streak = 0;
      return verdict;
    },
    300,
  );
  return quietSince;
}

// ---- reading the state ----------------------------------------------------------------------------

/** A table client of the benchmark's own (its User-Agent sets its requests apart in Azurite's request count). */
export function tableClient(connectionString: string, table: string): TableClient {
  return TableClient.fromConnectionString(connectionString, table, { ...clientOptionsFor(connectionString), userAgentOptions: { userAgentPrefix: BENCH_USER_AGENT } });
}

/** Rows matching a filter (built with `odata`), counted without parsing them. */
export async function countRows(client: TableClient, filter?: string): Promise<number> {
  let n = 0;
  const pages = client.listEntities({ queryOptions: filter ? { filter, select: ['RowKey'] } : { select: ['RowKey'] } }).byPage({ maxPageSize: 1000 });
  for await (const page of pages) n += page.length;
  return n;
}

/** Rows matching a filter, only the named fields, as plain records (a probe reads them, nothing is written back). */
export async function selectRows(client: TableClient, filter: string | undefined, select: string[]): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  const pages = client.listEntities<Record<string, unknown>>({ queryOptions: filter ? { filter, select } : { select } }).byPage({ maxPageSize: 1000 });
  for await (const page of pages) for (const row of page) out.push(row);
  return out;
}

export interface ProposalState {
  proposalId: string;
  expected: number;
  imported: number;
  complete: boolean;
  status: string;
}

export function proposalState(row: Record<string, unknown>): ProposalState {
  const expected = Number(row.ExpectedLineCount ?? -1);
  const imported = Number(row.ImportedLineCount ?? -2);
  const amountsEqual = typeof row.ExpectedAmount === 'string' && typeof row.ImportedAmount === 'string' && eq(row.ExpectedAmount, row.ImportedAmount);
  // Tax counts as the app counts it (finance/rules/completeness.ts): checked when the header stated it.
  const taxEqual = typeof row.ExpectedTax !== 'string' || (typeof row.ImportedTax === 'string' && eq(row.ExpectedTax, row.ImportedTax));
  return {
    proposalId: String(row.ProposalId ?? row.rowKey ?? ''),
    expected,
    imported,
    complete: expected === imported && amountsEqual && taxEqual,
    status: String(row.Status ?? ''),
  };
}

/**
 * When the last of the matching rows was written (epoch ms, from the table service's Timestamp),
 * or undefined when none matches. A phase whose goal is a row state ends when that state was
 * written, not when a poll happened to see it.
 */
export async function lastWrite(client: TableClient, filter: string): Promise<number | undefined> {
  let last: number | undefined;
  const pages = client.listEntities<Record<string, unknown>>({ queryOptions: { filter, select: ['Timestamp'] } }).byPage({ maxPageSize: 1000 });
  for await (const page of pages) {
    for (const row of page) {
      const at = typeof row.timestamp === 'string' ? Date.parse(row.timestamp) : Number.NaN;
      if (Number.isFinite(at) && (last === undefined || at > last)) last = at;
    }
  }
  return last;
}
