/**
 * One benchmark system: the test kit's system with the Functions host in a child process
 * (tests/kit/system.ts: Azurite, the local broker, the compiled app with every function
 * registered), plus Azurite's write counter and what the bench asks of the host. The import
 * timer never fires on its own (`NEVER`); the benchmark runs it on demand through the host's admin
 * API (`POST /admin/functions/importFromStaging`), the way an operator triggers a timer function
 * in Azure, so it runs inside the host process.
 *
 * Each scenario (and each size of scenario C) gets a fresh system: a clean store and a fresh host
 * process, so the figures and the host's peak memory of one do not carry over to the next.
 */
import { startSystemWithHostProcess, type System } from '../../tests/kit/system';
import { waitFor, WaitTimeout } from '../../tests/kit/wait';
import type { ErrorRow } from '../../shared/operations/errorLogStore';
import type { HostChild, HostStats } from './hostClient';
import { countWritten as countByQuery, BASELINE_TABLE_PREFIX, type Window, type WrittenCount } from './storage';
import { countWrittenInAzurite, storageUsage, storageUsageAt, WRITE_COUNTER_PORT_ENV, writeCounterPreload, type StorageUsage } from './writeCounter';
import { freePort } from '../ports';
import { ACCOUNTING_CURRENCY } from './seed';

export { NEVER, type HttpReply, type OutgoingMessage } from '../../tests/kit/system';
export const IMPORT_FUNCTION = 'importFromStaging';
/** Azurite's one storage account. */
const ACCOUNT_NAME = 'devstoreaccount1';

export class StallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StallError';
  }
}

export interface BenchSystem extends System<HostChild> {
  /** True when no contract queue holds a message and the host runs no invocation. */
  quiet(): Promise<boolean>;
  stats(): Promise<HostStats>;
  /** Fire the import timer function now (admin API); resolves when that invocation has finished. */
  runImport(options: { timeoutMs: number; onPoll?: () => void }): Promise<'Succeeded' | 'Failed'>;
  integrationErrors(): Promise<ErrorRow[]>;
  /**
   * Entities of every pipeline table last written inside each window: asked of Azurite's write
   * counter (writeCounter.ts), or by Timestamp queries when the counter does not answer.
   */
  countWritten(windows: readonly Window[]): Promise<WrittenCount[]>;
  /** Azurite's requests by kind and CPU time so far; undefined when its counter does not answer (noted once). */
  storageUsage(): Promise<StorageUsage | undefined>;
  /** The same as they stood at given times (epoch ms, within the last 15 minutes); undefined likewise. */
  storageUsageAt(times: readonly number[]): Promise<StorageUsage[] | undefined>;
}

/**
 * The host's Node arguments (the setting Azure Functions reads for its Node worker): a heap of
 * 384 MB by default. Without a cap V8 lets garbage pile up to what the machine has (24 GB here):
 * the host's peak then shows V8's collection policy (1.2 GB at 50,000 ILDs, before the
 * confirmation ran in chunks) rather than what the pipeline holds. Set
 * `languageWorkers__node__arguments` to change it ("" for V8's default). docs/bench.md, "Memory".
 */
export const HOST_NODE_ARGUMENTS = process.env.languageWorkers__node__arguments ?? '--max-old-space-size=384';

export async function startBenchSystem(options: { logFile: string; onHostError?: (line: string) => void; onNote?: (line: string) => void }): Promise<BenchSystem> {
  const counterPort = await freePort();
  const system = await startSystemWithHostProcess({
    logFile: options.logFile,
    onHostError: options.onHostError,
    azurite: { preloads: [writeCounterPreload()], env: { [WRITE_COUNTER_PORT_ENV]: String(counterPort) } },
    settings: { AccountingCurrency: ACCOUNTING_CURRENCY, languageWorkers__node__arguments: HOST_NODE_ARGUMENTS },
    serviceBusRetry: { maxRetries: 3, timeoutInMs: 30_000 },
  });
  const h = system.host;
  const cs = system.connectionString;
  let usageFailed = false;
  const askUsage = async <T>(ask: () => Promise<T>): Promise<T | undefined> => {
    if (usageFailed) return undefined;
    try {
      return await ask();
    } catch (error) {
      usageFailed = true;
      options.onNote?.(`the Azurite request counter failed (${error instanceof Error ? error.message : String(error)}); no storage work per phase from here on`);
      return undefined;
    }
  };

  return {
    ...system,
    async countWritten(windows) {
      try {
        return await countWrittenInAzurite(counterPort, ACCOUNT_NAME, windows, BASELINE_TABLE_PREFIX);
      } catch (error) {
        options.onNote?.(`the Azurite write counter failed (${error instanceof Error ? error.message : String(error)}); counting by Timestamp queries`);
        return countByQuery(cs, windows);
      }
    },

    storageUsage: () => askUsage(() => storageUsage(counterPort)),
    storageUsageAt: (times) => askUsage(() => storageUsageAt(counterPort, times)),

    async quiet() {
      if ((await h.stats()).inFlight > 0) return false;
      if (!(await system.queuesEmpty())) return false;
      return (await h.stats()).inFlight === 0;
    },

    stats: () => h.stats(),

    async runImport({ timeoutMs, onPoll }) {
      const doneCount = (s: HostStats) => {
        const c = s.executions[IMPORT_FUNCTION];
        return { ok: c?.succeeded ?? 0, failed: c?.failed ?? 0 };
      };
      const before = doneCount(await h.stats());
      const response = await fetch(`${h.baseUrl}/admin/functions/${IMPORT_FUNCTION}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      await response.arrayBuffer();
      if (response.status !== 202) throw new Error(`POST /admin/functions/${IMPORT_FUNCTION} answered ${response.status}; is the function registered?`);
      try {
        return await waitFor(
          'the import run',
          async () => {
            const now = doneCount(await h.stats());
            if (now.ok > before.ok) return 'Succeeded' as const;
            if (now.failed > before.failed) return 'Failed' as const;
            onPoll?.();
            return undefined;
          },
          timeoutMs,
          100,
        );
      } catch (error) {
        if (error instanceof WaitTimeout) throw new StallError(`the import run did not finish within ${Math.round(timeoutMs / 1000)} s`);
        throw error;
      }
    },

    integrationErrors: () => system.errorLog.list({ top: 50 }),
  };
}
