/**
 * importFromStaging (F&O "Import from staging", domain steps 3 and 9), run by a timer: take the
 * lease, list the pending index, post the cost and unbilled rows as journals (postJournals.ts),
 * then turn billed rows into proposal lines (importBilled.ts). Everything is create-if-absent or
 * ETag-guarded, so overlapping or crashed runs end in the state of one clean run. How and why:
 * docs/decisions/import-from-staging.md.
 */
import { randomUUID } from 'node:crypto';
import { orderForImport } from '../rules/import';
import { importBilledRows } from './importBilled';
import { entriesOf, IMPORT_LEASE, IMPORT_FROM_STAGING, type ImportFromStagingDeps, type ImportFromStagingOptions, type ImportRunResult, type RunContext } from './importRun';
import { postTransactionalRows } from './postJournals';
import { oncePerActual, stagingRowOf } from './stagingIndexStore';

export { IMPORT_FROM_STAGING, IMPORT_LEASE } from './importRun';
export type { ImportFromStagingDeps, ImportFromStagingOptions, ImportRunResult, ImportStore } from './importRun';
export { recountProposal, PROJECT_LISTING_THRESHOLD } from './importBilled';
export { accountingMessageId } from './postJournals';

export async function runImportFromStaging(deps: ImportFromStagingDeps, options: ImportFromStagingOptions = {}): Promise<ImportRunResult> {
  const started = Date.now();
  const now = options.now ?? new Date();
  const log = options.log ?? (() => undefined);
  const result: ImportRunResult = {
    runId: randomUUID(),
    ran: false,
    leaseLost: false,
    read: 0,
    posted: 0,
    vouchers: 0,
    linesCreated: 0,
    linesImported: 0,
    waiting: 0,
    errors: 0,
    cleaned: 0,
    conflicts: 0,
    accountingMessages: 0,
    durationMs: 0,
    phases: {},
  };
  let mark = Date.now();
  const ctx: RunContext = {
    deps,
    options,
    result,
    started,
    now,
    importedOn: now.toISOString(),
    unfinished: new Set<string>(),
    entries: new Map(),
    phase(name: string) {
      const t = Date.now();
      result.phases[name] = (result.phases[name] ?? 0) + t - mark;
      mark = t;
    },
  };
  const finish = (note: string) => {
    result.durationMs = Date.now() - started;
    log(
      `[${IMPORT_FROM_STAGING}] run=${result.runId} ${note} read=${result.read} posted=${result.posted} ` +
        `linesCreated=${result.linesCreated} waiting=${result.waiting} errors=${result.errors} vouchers=${result.vouchers} cleaned=${result.cleaned} ` +
        `conflicts=${result.conflicts} accountingMessages=${result.accountingMessages} durationMs=${result.durationMs}` +
        (Object.keys(result.phases).length ? ` phases=${Object.entries(result.phases).map(([k, v]) => `${k}:${v}`).join(',')}` : ''),
    );
    return result;
  };

  const lease = await deps.leases.acquire(IMPORT_LEASE, { ttlMs: options.leaseTtlMs ?? 60_000, owner: result.runId });
  if (lease === undefined) return finish('skipped: another run holds the lease');
  result.ran = true;
  try {
    const stillHeld = () => {
      if (!lease.held()) result.leaseLost = true;
      return !result.leaseLost;
    };
    ctx.phase('lease');

    // An actual indexed twice is imported once; both of its entries are updated and removed.
    const listed = oncePerActual(await deps.work.list());
    ctx.entries = listed.entries;
    let items = listed.once;
    const capped = options.maxRows !== undefined && items.length > options.maxRows;
    if (capped) items = items.slice(0, options.maxRows);
    result.read = items.length;
    ctx.phase('index');
    if (!items.length) return finish('nothing to import');

    const ordered = orderForImport(items.map(stagingRowOf));
    const firstBilled = ordered.findIndex((r) => r.TransType === 'BilledSales');
    const transactional = firstBilled < 0 ? ordered : ordered.slice(0, firstBilled);
    const billed = firstBilled < 0 ? [] : ordered.slice(firstBilled);

    let postedThisRun = new Set<string>();
    if (transactional.length) {
      if (!stillHeld()) return finish('stopped: lease lost');
      postedThisRun = await postTransactionalRows(ctx, transactional);
    }
    if (billed.length) {
      if (!stillHeld()) return finish('stopped: lease lost');
      await importBilledRows(ctx, billed, postedThisRun);
    }
    // A run that could not take every pending item puts the rows that stay unfinished behind the
    // others, so rows that keep waiting cannot take every run's share for ever.
    if (capped && ctx.unfinished.size) {
      await deps.work.requeue(entriesOf(ctx, ctx.unfinished), now);
      ctx.phase('requeue');
    }
    return finish(result.leaseLost ? 'finished after losing the lease' : 'done');
  } finally {
    await lease.release();
  }
}
