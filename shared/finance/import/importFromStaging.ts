/**
 * importFromStaging (F&O "Import from staging", domain steps 3 and 9), run by a timer.
 *
 * One run:
 * 1. Takes the lease "importFromStaging" (integrationLeases); when another run holds it, the run
 *    ends at once. The lease is renewed while the run works, and a run that lost it stops before
 *    its next phase. The lease only saves work: everything below is create-if-absent or guarded,
 *    so even two runs that both believe they hold it cannot duplicate a transaction, a ledger
 *    entry or a proposal line.
 * 2. Lists the pending index (stagingWork.ts): every Pending, Waiting and Error row (Error rows are
 *    retried), as copies of the staging rows. The cost follows the work, not the staging table.
 * 3. Cost and unbilled sales rows first (`orderForImport`), posted as journals: the run's rows
 *    share vouchers, at most 50 rows (100 ledger entries, one all-or-nothing table transaction)
 *    per voucher, each row keeping its own balanced debit/credit pair (ProjectId, Reference =
 *    ActualId), so every voucher balances. In order:
 *    a. pin each row's journal slot (voucher + first line) in foVoucherReservations, create-if-
 *       absent per ActualId (shared/finance/journals.ts): a row pinned before (a crash, an
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
import type { LedgerEntry, Proposal, ProposalLine, ProjectTransaction, StagingRow } from '../records';
import type { JournalReservation } from '../rules/import';
import { decideBilled, journalVoucher, journalVoucherPrefix, orderForImport, planJournals, postTransaction, proposalKey, reconcileFromLines } from '../rules/import';
import { deterministicGuid } from '../../core/ids';
import { dec, rate } from '../../core/money';
import { ledgerRowKey, type FinanceTables } from '../financeStore';
import { postedAccountingAmount, writeJournalEntries } from './journalStore';
import { createManyReportingExisting, mergeMany, replaceManyIfMatch, scanRowKeys, stagingRowOf, type StagingWorkPort } from './stagingIndexStore';
import type { LeasePort } from '../../storage/leases';
import { MAX_RECORDS_PER_MESSAGE, Queues, type AccountingDetail, type ActualsAccountingMessage, type Publisher } from '../../bridge/messages';
import { chunk, mapLimit } from '../../storage/concurrency';
import { odata, type Stored } from '../../storage/tableStore';

export const IMPORT_FROM_STAGING = 'importFromStaging';
export const IMPORT_LEASE = 'importFromStaging';
/** Point reads in flight at once. */
export const READ_CONCURRENCY = 32;
/** Journal vouchers are one partition (one 100-entry transaction) each: this many in flight. */
const LEDGER_CONCURRENCY = 16;
/**
 * From this many unbilled transactions to look up in one project, its unbilled transactions are
 * listed instead of read one by one: one paged query instead of (at least) ten round trips, and
 * the listing is capped (LISTING_ROWS_PER_LOOKUP) so a long project history cannot make it
 * costlier than the reads it replaces by more than that factor.
 */
export const PROJECT_LISTING_THRESHOLD = 10;
/** Project listings in flight at once. */
const LISTING_CONCURRENCY = 8;
/** Proposal recounts in flight at once (three round trips each). */
const RECOUNT_CONCURRENCY = 8;
/** A listing stops after this many rows per looked-up id (a huge project history) and the rest are read one by one. */
const LISTING_ROWS_PER_LOOKUP = 20;
const HEADER_ATTEMPTS = 20;

export interface ImportFromStagingDeps {
  finance: Pick<FinanceTables, 'staging' | 'projectTransactions' | 'ledgerEntries' | 'proposals' | 'proposalLines' | 'allRates'>;
  work: StagingWorkPort;
  leases: LeasePort;
  publisher: Publisher;
  accountingCurrency: string;
}

export interface ImportFromStagingOptions {
  now?: Date;
  log?: (line: string) => void;
  /** Largest number of index items one run takes on (oldest first); the rest wait for the next run. */
  maxRows?: number;
  /** Lease timing (tests shorten it). */
  leaseTtlMs?: number;
  /** Lookups in one project from which resolvePosted lists the project (tuning; default PROJECT_LISTING_THRESHOLD). */
  projectListingThreshold?: number;
}

export interface ImportRunResult {
  runId: string;
  /** False when another run held the lease (nothing was done). */
  ran: boolean;
  /** The lease expired or was taken over during the run; the run stopped at the next phase. */
  leaseLost: boolean;
  /** Staging rows this run worked on (from the index). */
  read: number;
  /** Cost / unbilled rows this run made Imported as project transactions. */
  posted: number;
  /** Journal vouchers this run wrote ledger entries to. */
  vouchers: number;
  /** Proposal lines this run created (no line is ever created twice). */
  linesCreated: number;
  /** Billed rows this run made Imported as proposal lines. */
  linesImported: number;
  waiting: number;
  errors: number;
  /** Index entries of rows that were Imported already, dropped. */
  cleaned: number;
  /** Rows another writer changed under this run (left to it). */
  conflicts: number;
  accountingMessages: number;
  durationMs: number;
  /** Milliseconds per phase, for tuning. */
  phases: Record<string, number>;
}

type Outcome =
  /** Becomes Imported: these fields are merged into the staging row. */
  | { kind: 'imported'; row: StagingRow; update: Partial<StagingRow> }
  /** Stays in staging with a new status or reason (guarded write). */
  | { kind: 'unfinished'; row: StagingRow; update: Partial<StagingRow> };

function strip<T extends object>(stored: Stored<T>): T {
  const { etag: _etag, ...rest } = stored as Stored<T> & Record<string, unknown>;
  return rest as unknown as T;
}

const stagingKey = (row: Pick<StagingRow, 'ContractId' | 'ActualId'>) => `${row.ContractId}/${row.ActualId}`;

function changes(row: StagingRow, update: Partial<StagingRow>): boolean {
  for (const [k, v] of Object.entries(update)) if (row[k as keyof StagingRow] !== v) return true;
  return false;
}

/** A cost / unbilled row on its way to Imported. */
interface Posting {
  row: StagingRow;
  slot: JournalReservation;
  transaction: ProjectTransaction;
  ledger: LedgerEntry[];
  accounting: AccountingDetail;
  update: Partial<StagingRow>;
}

/** Make a posting say what was posted before (voucher, date, accounting amount): transaction, accounting details, staging row. */
function adopt(p: Posting, kept: Pick<ProjectTransaction, 'Voucher' | 'PostingDate' | 'AccountingAmount'>): void {
  const exchangeRate = dec(p.row.Amount).isZero() ? p.accounting.exchangeRate : rate(dec(kept.AccountingAmount).div(dec(p.row.Amount)));
  p.transaction = { ...p.transaction, Voucher: kept.Voucher, PostingDate: kept.PostingDate, AccountingAmount: kept.AccountingAmount };
  p.accounting = { ...p.accounting, voucher: kept.Voucher, postingDate: kept.PostingDate, accountingAmount: kept.AccountingAmount, exchangeRate };
  p.update = {
    ...p.update,
    ImportMessage: `Posted as project transaction with voucher ${kept.Voucher} on ${kept.PostingDate}`,
    VoucherNumber: kept.Voucher,
    PostingDate: kept.PostingDate,
    AccountingAmount: kept.AccountingAmount,
    ExchangeRate: exchangeRate,
  };
}

/** The message id of one accounting message: derived from the details it carries. */
export function accountingMessageId(details: readonly AccountingDetail[]): string {
  return deterministicGuid(Queues.actualsAccounting, IMPORT_FROM_STAGING, ...details.map((d) => d.actualId));
}

export async function runImportFromStaging(deps: ImportFromStagingDeps, options: ImportFromStagingOptions = {}): Promise<ImportRunResult> {
  const started = Date.now();
  const now = options.now ?? new Date();
  const importedOn = now.toISOString();
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
  const phase = (name: string) => {
    const t = Date.now();
    result.phases[name] = (result.phases[name] ?? 0) + t - mark;
    mark = t;
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
    const { finance } = deps;
    const stillHeld = () => {
      if (!lease.held()) result.leaseLost = true;
      return !result.leaseLost;
    };
    phase('lease');

    let items = await deps.work.list();
    if (options.maxRows !== undefined && items.length > options.maxRows) items = items.slice(0, options.maxRows);
    result.read = items.length;
    phase('index');
    if (!items.length) return finish('nothing to import');

    const ordered = orderForImport(items.map(stagingRowOf));
    const firstBilled = ordered.findIndex((r) => r.TransType === 'BilledSales');
    const transactional = firstBilled < 0 ? ordered : ordered.slice(0, firstBilled);
    const billed = firstBilled < 0 ? [] : ordered.slice(firstBilled);
    const postedThisRun = new Set<string>();

    /** Staging rows as stored, for the rows whose outcome depends on it. */
    const readStaging = async (rows: readonly StagingRow[]) => {
      const found = await mapLimit(rows, READ_CONCURRENCY, async (row) => ({ row, stored: await finance.staging.get(row.ContractId, row.ActualId) }));
      return new Map(found.map(({ row, stored }) => [row.ActualId, stored] as const));
    };

    /**
     * Write the outcomes: Imported rows merged (and their index entries dropped); unfinished rows
     * whose status or reason changed written under the staging ETag (never over Imported), then
     * their index copies updated. Returns the ActualIds made Imported by this call.
     */
    const settle = async (outcomes: readonly Outcome[], alreadyImported: ReadonlySet<string>) => {
      const imported = outcomes.filter((o) => o.kind === 'imported' && !alreadyImported.has(o.row.ActualId));
      await mergeMany(
        finance.staging,
        imported.map((o) => ({ record: o.row, fields: o.update })),
      );
      phase('stagingImported');
      const unfinished = outcomes.filter((o) => o.kind === 'unfinished' && changes(o.row, o.update));
      const stored = await readStaging(unfinished.map((o) => o.row));
      const guarded: { record: StagingRow; etag: string }[] = [];
      const created: StagingRow[] = [];
      const doneIds = new Set<string>([...imported.map((o) => o.row.ActualId), ...alreadyImported]);
      for (const o of unfinished) {
        const current = stored.get(o.row.ActualId);
        if (current === undefined) created.push({ ...o.row, ...o.update }); // its message has not written it yet
        else if (current.ImportStatus === 'Imported') {
          doneIds.add(o.row.ActualId);
          result.cleaned++;
        } else guarded.push({ record: { ...strip(current), ...o.update }, etag: current.etag });
      }
      const written = await replaceManyIfMatch(finance.staging, guarded);
      await finance.staging.createManyIfAbsent(created);
      result.conflicts += guarded.length - written.size;
      const statusChanged = [...guarded.filter((g) => written.has(stagingKey(g.record))).map((g) => g.record), ...created];
      phase('stagingUnfinished');
      await deps.work.setStatus(statusChanged);
      await deps.work.remove([...doneIds].map((ActualId) => ({ ActualId })));
      phase('indexUpdate');
      return new Set(imported.map((o) => o.row.ActualId));
    };

    // Cost and unbilled sales rows.
    if (transactional.length) {
      if (!stillHeld()) return finish('stopped: lease lost');
      const rates = await finance.allRates();
      const postOptions = { accountingCurrency: deps.accountingCurrency, rates, importedOn };
      const outcomes: Outcome[] = [];
      const toPost: StagingRow[] = [];
      for (const row of transactional) {
        const outcome = postTransaction(row, postOptions);
        if (outcome.kind === 'posted') toPost.push(row);
        else {
          result.errors++;
          outcomes.push({ kind: 'unfinished', row, update: outcome.rowUpdate });
        }
      }
      phase('decidePost');
      // a. Pin every row's journal slot before anything is written; a row pinned before keeps its slot.
      const prefix = journalVoucherPrefix(new Date(started), result.runId);
      let vouchersPlanned = 0;
      const planned = planJournals(toPost, () => journalVoucher(prefix, ++vouchersPlanned));
      const pinned = await deps.work.reserveJournals(planned, now);
      phase('reserve');
      const posted = new Map<string, Posting>();
      for (const row of toPost) {
        const slot = pinned.get(row.ActualId);
        if (slot === undefined) throw new Error(`No journal slot was pinned for ${row.ActualId}`);
        const outcome = postTransaction(row, postOptions, slot);
        if (outcome.kind !== 'posted') throw new Error(`Row ${row.ActualId} could not be posted a second time: ${outcome.reason}`);
        posted.set(row.ActualId, { row, slot, transaction: outcome.transaction, ledger: outcome.ledger, accounting: outcome.accounting, update: outcome.rowUpdate });
      }
      // b. Ledger first, then the transaction: a transaction exists only with its entries written.
      const journal = await writeJournalEntries(
        finance.ledgerEntries,
        [...posted.values()].map((p) => ({ actualId: p.row.ActualId, reservation: p.slot, entries: p.ledger })),
        LEDGER_CONCURRENCY,
      );
      result.vouchers += journal.vouchers;
      for (const [actualId, entries] of journal.existing) {
        // posted before with other figures (a rate changed since): what was posted stands
        const p = posted.get(actualId)!;
        const postedAmount = postedAccountingAmount(entries);
        const postingDate = entries[0]?.PostingDate ?? p.transaction.PostingDate;
        if (postedAmount !== undefined && (postedAmount !== p.transaction.AccountingAmount || postingDate !== p.transaction.PostingDate)) {
          adopt(p, { Voucher: p.slot.voucher, PostingDate: postingDate, AccountingAmount: postedAmount });
        }
      }
      phase('ledger');
      // c. The transactions.
      const tx = await createManyReportingExisting(finance.projectTransactions, [...posted.values()].map((p) => p.transaction));
      for (const id of posted.keys()) postedThisRun.add(id);
      phase('transactions');

      // Transactions that existed already: posted by someone else, or by us before a crash.
      const alreadyImported = new Set<string>();
      if (tx.existing.size) {
        const existingRows = [...posted.values()].filter((p) => tx.existing.has(`${p.transaction.ProjectId}/${p.transaction.TransId}`));
        // A transaction posted by the one-voucher-per-row import of old (data from before journals
        // whose slot was not backfilled, journals.ts): its entries are in that voucher, so the pair
        // just put on the row's journal lines is a second posting and goes again (the journal stays
        // balanced; the slot is never used by another row). A crash before this delete leaves the
        // index entry, and the next run gets here again.
        const legacy = existingRows.filter((p) => tx.existing.get(`${p.transaction.ProjectId}/${p.transaction.TransId}`)!.Voucher !== p.slot.voucher);
        await mapLimit(
          legacy.flatMap((p) => p.ledger),
          READ_CONCURRENCY,
          (e) => finance.ledgerEntries.delete(e.Voucher, ledgerRowKey(e.LineNumber)),
        );
        const stored = await readStaging(existingRows.map((p) => p.row));
        for (const p of existingRows) {
          if (stored.get(p.row.ActualId)?.ImportStatus === 'Imported') {
            alreadyImported.add(p.row.ActualId);
            result.cleaned++;
            continue;
          }
          const kept = tx.existing.get(`${p.transaction.ProjectId}/${p.transaction.TransId}`)!;
          if (kept.Voucher !== p.transaction.Voucher || kept.PostingDate !== p.transaction.PostingDate || kept.AccountingAmount !== p.transaction.AccountingAmount) {
            // posted earlier with other figures (another voucher or rate): what was posted stands
            adopt(p, kept);
          }
        }
      }
      for (const p of posted.values()) outcomes.push({ kind: 'imported', row: p.row, update: p.update });

      const details = [...posted.values()].filter((p) => !alreadyImported.has(p.row.ActualId)).map((p) => p.accounting);
      const messages = chunk(details, MAX_RECORDS_PER_MESSAGE).map((group) => {
        const body: ActualsAccountingMessage = { details: group };
        return { messageId: accountingMessageId(group), body, subject: IMPORT_FROM_STAGING };
      });
      await deps.publisher.publish(Queues.actualsAccounting, messages);
      result.accountingMessages += messages.length;
      phase('publish');
      result.posted += (await settle(outcomes, alreadyImported)).size;
      phase('settlePosted');
    }

    // Billed sales rows.
    if (billed.length) {
      if (!stillHeld()) return finish('stopped: lease lost');
      const proposals = await resolveProposals(deps, billed);
      const unbilledPosted = await resolvePosted(deps, billed, postedThisRun, options.projectListingThreshold ?? PROJECT_LISTING_THRESHOLD);
      phase('resolveBilled');
      const outcomes: Outcome[] = [];
      const lines = new Map<string, { row: StagingRow; line: ProposalLine; update: Partial<StagingRow> }>();
      const touched = new Set<string>();
      const postedProposalRows: { row: StagingRow; proposal: Proposal; update: Partial<StagingRow> }[] = [];
      for (const row of billed) {
        const key = proposalKey(row);
        const proposal = key.by === 'ProposalId' ? proposals.byId.get(key.proposalId) : key.by === 'InvoiceId' ? proposals.byInvoice.get(key.invoiceId) : undefined;
        const decision = decideBilled(row, { proposal, unbilledPosted: (id) => unbilledPosted.has(id), importedOn });
        if (decision.kind === 'line') {
          lines.set(row.ActualId, { row, line: decision.line, update: decision.rowUpdate });
          touched.add(decision.line.ProposalId);
        } else if (decision.kind === 'error' && proposal?.Status === 'Posted') {
          postedProposalRows.push({ row, proposal, update: decision.rowUpdate });
        } else {
          if (decision.kind === 'waiting') result.waiting++;
          else result.errors++;
          outcomes.push({ kind: 'unfinished', row, update: decision.rowUpdate });
        }
      }
      // A row refused because its proposal is posted may be on it already (a stale index entry, or
      // its line was created just before a crash): then it counts as a line that existed.
      const linesOnPosted: StagingRow[] = [];
      await mapLimit(postedProposalRows, READ_CONCURRENCY, async ({ row, proposal, update }) => {
        if (await finance.proposalLines.get(proposal.ProposalId, row.ActualId)) {
          linesOnPosted.push(row);
          outcomes.push({
            kind: 'imported',
            row,
            update: { ImportStatus: 'Imported', ImportMessage: `Imported as a line of invoice proposal ${proposal.ProposalId}`, InvoiceProposalId: proposal.ProposalId, ImportedOn: importedOn },
          });
        } else {
          result.errors++;
          outcomes.push({ kind: 'unfinished', row, update });
        }
      });
      phase('decideBilled');
      const created = await createManyReportingExisting(finance.proposalLines, [...lines.values()].map((l) => l.line));
      result.linesCreated += created.created;
      phase('lines');
      await mapLimit([...touched], RECOUNT_CONCURRENCY, (id) => recountProposal(deps, id));
      phase('recount');

      // Lines that existed already: their staging row may be Imported (then it is left alone).
      const alreadyImported = new Set<string>();
      const existingRows = [...[...lines.values()].filter((l) => created.existing.has(`${l.line.ProposalId}/${l.line.LineId}`)).map((l) => l.row), ...linesOnPosted];
      if (existingRows.length) {
        const stored = await readStaging(existingRows);
        for (const row of existingRows) {
          if (stored.get(row.ActualId)?.ImportStatus === 'Imported') {
            alreadyImported.add(row.ActualId);
            result.cleaned++;
          }
        }
      }
      for (const l of lines.values()) outcomes.push({ kind: 'imported', row: l.row, update: l.update });
      result.linesImported += (await settle(outcomes, alreadyImported)).size;
      phase('settleBilled');
    }
    return finish(result.leaseLost ? 'finished after losing the lease' : 'done');
  } finally {
    await lease.release();
  }
}

/** The proposals of the billed rows: by id, and by invoice (one query per distinct invoice). */
async function resolveProposals(deps: ImportFromStagingDeps, billed: readonly StagingRow[]) {
  const byId = new Map<string, Proposal>();
  const byInvoice = new Map<string, Proposal>();
  const ids = new Set<string>();
  const invoices = new Set<string>();
  for (const row of billed) {
    const key = proposalKey(row);
    if (key.by === 'ProposalId') ids.add(key.proposalId);
    else if (key.by === 'InvoiceId') invoices.add(key.invoiceId);
  }
  await mapLimit([...ids], 8, async (id) => {
    const p = await deps.finance.proposals.get(id, id);
    if (p) byId.set(id, strip(p));
  });
  await mapLimit([...invoices], 8, async (invoiceId) => {
    const found = (await deps.finance.proposals.query(odata`InvoiceId eq ${invoiceId}`)).sort((a, b) => (a.ProposalId < b.ProposalId ? -1 : 1));
    const first = found[0];
    if (first) byInvoice.set(invoiceId, strip(first));
  });
  return { byId, byInvoice };
}

/**
 * Which unbilled actuals the billed rows bill have a posted project transaction (this run's, or
 * stored). A project with `threshold` or more ids to look up has its unbilled transactions listed
 * once (paged, RowKey only); a listing that grows past LISTING_ROWS_PER_LOOKUP rows per id (a long
 * history) stops, and the ids still unresolved are read one by one like those of smaller projects.
 */
async function resolvePosted(deps: ImportFromStagingDeps, billed: readonly StagingRow[], postedThisRun: ReadonlySet<string>, threshold: number): Promise<Set<string>> {
  const posted = new Set<string>(postedThisRun);
  const byProject = new Map<string, Set<string>>();
  for (const row of billed) {
    const id = row.UnbilledActualId;
    if (id === undefined || posted.has(id)) continue;
    let ids = byProject.get(row.ProjectId);
    if (!ids) byProject.set(row.ProjectId, (ids = new Set()));
    ids.add(id);
  }
  const reads: { projectId: string; actualId: string }[] = [];
  const listed: [string, Set<string>][] = [];
  for (const [projectId, ids] of byProject) {
    if (ids.size >= threshold) listed.push([projectId, ids]);
    else for (const actualId of ids) reads.push({ projectId, actualId });
  }
  const store = deps.finance.projectTransactions;
  await mapLimit(listed, LISTING_CONCURRENCY, async ([projectId, ids]) => {
    let left = ids.size;
    let seen = 0;
    const budget = ids.size * LISTING_ROWS_PER_LOOKUP;
    await scanRowKeys(store, odata`PartitionKey eq ${projectId} and TransType eq ${'UnbilledSales'}`, (transId) => {
      if (ids.has(transId) && !posted.has(transId)) {
        posted.add(transId);
        left--;
      }
      return left > 0 && ++seen < budget;
    });
    if (left > 0 && seen >= budget) for (const actualId of ids) if (!posted.has(actualId)) reads.push({ projectId, actualId });
  });
  await mapLimit(reads, READ_CONCURRENCY, async ({ projectId, actualId }) => {
    if (await store.get(projectId, actualId)) posted.add(actualId);
  });
  return posted;
}

/**
 * ImportedLineCount / ImportedAmount of one proposal, recomputed from all its stored lines and
 * written under the ETag of the header read BEFORE the lines were listed: a line another run
 * creates after our listing is followed by that run's own recount, which either fails its ETag
 * against our write and re-reads, or comes after it. A posted proposal is never touched.
 */
export async function recountProposal(deps: Pick<ImportFromStagingDeps, 'finance'>, proposalId: string): Promise<Proposal | undefined> {
  for (let attempt = 1; attempt <= HEADER_ATTEMPTS; attempt++) {
    const stored = await deps.finance.proposals.get(proposalId, proposalId);
    if (stored === undefined || stored.Status === 'Posted') return stored && strip(stored);
    const lines = (await deps.finance.proposalLines.listPartition(proposalId)).map((l) => strip(l));
    const header = strip(stored);
    const next = reconcileFromLines(header, lines);
    if (next.ImportedLineCount === header.ImportedLineCount && next.ImportedAmount === header.ImportedAmount) return next;
    if (await deps.finance.proposals.replaceIfMatch(next, stored.etag)) return next;
  }
  throw new Error(`Invoice proposal ${proposalId} kept changing while its imported counters were recomputed (${HEADER_ATTEMPTS} attempts)`);
}
