/**
 * The import's runs as the console shows them: each run of Import from staging that took the lease
 * is recorded (jobRunStore.ts) with what it did. Recording never fails the run: a failed write is
 * logged and the run's result answered as it is.
 */
import { IMPORT_FROM_STAGING, type ImportRunResult } from '../finance/import/importFromStaging';
import type { JobRuns } from './jobRunStore';

export { IMPORT_FROM_STAGING };

/** One line saying what an import run did. */
export function importRunSummary(result: ImportRunResult): string {
  if (result.read === 0) return 'nothing to import';
  const parts = [
    `${result.read} staging row(s) read`,
    `${result.posted} posted as project transactions`,
    `${result.linesImported} imported as proposal lines`,
    `${result.waiting} waiting`,
    `${result.errors} in error`,
  ];
  if (result.vouchers) parts.push(`${result.vouchers} voucher(s)`);
  if (result.leaseLost) parts.push('stopped early: the lease was lost');
  return parts.join(', ');
}

/** Run the import and record the run (when it took the lease). */
export async function recordedImportRun(deps: { jobRuns: Pick<JobRuns, 'record'>; log?: (line: string) => void }, startedAt: Date, run: () => Promise<ImportRunResult>): Promise<ImportRunResult> {
  const result = await run();
  if (!result.ran) return result;
  try {
    await deps.jobRuns.record({
      job: IMPORT_FROM_STAGING,
      runId: result.runId,
      startedAt: startedAt.toISOString(),
      durationMs: result.durationMs,
      summary: importRunSummary(result),
      counts: {
        read: result.read,
        posted: result.posted,
        vouchers: result.vouchers,
        linesCreated: result.linesCreated,
        linesImported: result.linesImported,
        waiting: result.waiting,
        errors: result.errors,
        accountingMessages: result.accountingMessages,
      },
      foundWork: result.read > 0,
    });
  } catch (error) {
    deps.log?.(`[${IMPORT_FROM_STAGING}] run=${result.runId} could not record the run for the console: ${error instanceof Error ? error.message : String(error)}`);
  }
  return result;
}
