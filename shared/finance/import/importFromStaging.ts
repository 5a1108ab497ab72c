/**
 * importFromStaging (F&O "Import from staging", domain steps 3 and 9), run by a timer. This file
 * is the run; phase 1 is postJournals.ts, phase 2 importBilled.ts, the shared writes importRun.ts.
 *
 * One run:
 * 1. Takes the lease "importFromStaging" (integrationLeases); when another run holds it, the run
 *    ends at once. The lease is renewed while the run works, and a run that lost it stops before
 *    its next phase. The lease only saves work: everything below is create-if-absent or guarded,
 *    so even two runs that both believe they hold it cannot duplicate a transaction, a ledger
 *    entry or a proposal line.
 * 2. Lists the pending index (stagingIndexStore.ts): every Pending, Waiting and Error row (Error rows are
 *    retried), as copies of the staging rows. The cost follows the work, not the staging table.
 * 3. Cost and unbilled sales rows first (`orderForImport`), posted as journals: the run's rows
 *    share vouchers, at most 50 rows (100 ledger entries, one all-or-nothing table transaction)
 *    per voucher, each row keeping its own balanced debit/credit pair (ProjectId, Reference =
 *    ActualId), so every voucher balances. In order:
 *    a. pin each row's journal slot (voucher + first line) in foVoucherReservations, create-if-
 *       absent per ActualId (journalStore.ts): a row pinned before (a crash, an
 *       overlapping run, a re-sent actual) keeps its slot for good, whatever else is pending now;
 *       new vouchers are fresh numbers `PJV-<yyyyMMddHHmmss>-<8 hex of the run id>-<nnnn>`;
 *    b. ledger entries, per voucher one create transaction, a row's pair never split, entries
 *       found already checked to be that row's;
 *    c. the project transaction (its existence is what "posted" means to billed rows),
 *       create-if-absent, TransId = ActualId, Voucher = the pinned voucher (a transaction exists
 *       only with its ledger entries written, in the voucher it names);
 *    then the accounting details go out on `actuals-accounting` (at most 100 per message, message
 *    id derived from the actual ids), naming that voucher; then the staging rows become Imported
 *    with their accounting details; then their index rows are deleted. A row without an exchange
 *    rate becomes Error with the reason (and no slot) and is retried by later runs.
 * 4. Billed sales rows next: the proposal is found by InvoiceProposalId or InvoiceId, and the
 *    unbilled transaction must be posted (by this run or before: point reads, or one listing of
 *    the project's unbilled transactions when many rows of a project ask). Lines are created if absent
 *    (LineId = ActualId); each touched proposal's ImportedLineCount / ImportedAmount are then
 *    recomputed from its stored lines under the header's ETag (exact under overlapping runs);
 *    then the staging rows and the index as above. Otherwise the row waits with the exact reason.
 * 5. One log line: rows read, posted, lines created, waiting, errors, duration (and phase times).
 *
 * Guards against a second run (or a stale index entry):
 * - Ledger entries that exist already on a row's pinned lines are that row's (checked): they are
 *   kept, and if their amount differs from today's (a rate changed) the transaction, the row and
 *   the accounting details take the posted figures. So no row is ever posted twice or in two
 *   vouchers, and no voucher is ever unbalanced, whatever crashed or overlapped.
 * - A transaction or line that exists already means someone posted it: the staging row is read,
 *   and if it is Imported nothing is rewritten or re-published (the index entry is dropped);
 *   otherwise (a crash after the write) the row is completed from the stored records.
 * - Waiting and Error are written only under the staging row's ETag and never over an Imported
 *   row, so a slow run cannot put a finished row back to Waiting. A row whose status and reason
 *   did not change is not rewritten.
 * A crash anywhere leaves rows that are not Imported with their index entry; the next run
 * completes them with the same ids.
 */
import { randomUUID } from 'node:crypto';
import { orderForImport } from '../rules/import';
import { importBilledRows } from './importBilled';
import { IMPORT_LEASE, IMPORT_FROM_STAGING, type ImportFromStagingDeps, type ImportFromStagingOptions, type ImportRunResult, type RunContext } from './importRun';
import { postTransactionalRows } from './postJournals';
import { stagingRowOf } from './stagingIndexStore';

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

    let items = await deps.work.list();
    if (options.maxRows !== undefined && items.length > options.maxRows) items = items.slice(0, options.maxRows);
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
    return finish(result.leaseLost ? 'finished after losing the lease' : 'done');
  } finally {
    await lease.release();
  }
}
