/**
 * The repair sweep (`reconcile`, timer `%ReconcileSchedule%`): finds work that got stuck between
 * the sides because a message was lost (dropped, dead-lettered, never sent after a crash) and
 * sends it again; what it cannot repair becomes one error row a person can act on.
 *
 * (a) Invoices Confirmed for longer than `confirmedForMs` whose F&O proposal is missing, or whose
 *     billed staging rows are fewer than the proposal expects: the confirmation's proposal header
 *     and the messages of its synced actuals that have no staging row are republished.
 * (b) Staging rows Waiting longer than `waitingForMs`: "Invoice proposal not synchronized yet" ->
 *     the proposal of its invoice, when that invoice is Confirmed; "Project transaction hasn't
 *     been posted yet" -> the unbilled actual it bills, when that has no staging row and the
 *     confirmation publishes it. Staging rows in Error that long are reported (import retries them).
 * (c) Proposals posted between `postedWithinMs` and `postedForMs` ago whose billed actuals on
 *     Dataverse lack their accounting details, and Confirmed invoices whose proposal is posted:
 *     the accounting details are republished.
 * (d) Anything else, and anything still broken `escalateAfterMs` after it began: one error row
 *     per problem (source `reconcile`, category Business), rewritten by later runs, never doubled.
 *
 * Republished messages carry the original bodies under new ids (republishConfirmation.ts,
 * republishAccounting.ts); the consumers are idempotent, so a run that repeats a repair, or two
 * runs, change nothing more. One run at a time (lease `reconcile`); every read is a named, bounded
 * query of the stores, capped per run. Thresholds and why: docs/decisions/repair.md.
 */
import { randomUUID } from 'node:crypto';
import { mapLimit } from '../core/collections';
import { BusinessError } from '../core/errors';
import type { ErrorLogPort } from '../core/errorReports';
import { labelOf } from '../core/labels';
import { InvoiceStatus, TransactionType } from '../core/options';
import type { Stored } from '../core/stored';
import type { Publisher } from '../messages';
import type { LeasePort } from '../storage/leases';
import type { SequencePort } from '../storage/sequences';
import type { TableStore } from '../storage/tableStore';
import type { DataverseStore } from '../dataverse/dataverseStore';
import type { Actual, Invoice } from '../dataverse/records';
import type { FinanceStore } from '../finance/financeStore';
import { oncePerActual, type StagingWorkItem, type StagingWorkPort } from '../finance/import/stagingIndexStore';
import { republishAccounting, type RepublishAccountingStore } from '../finance/posting/republishAccounting';
import type { Proposal, StagingRow } from '../finance/records';
import { WaitingReason } from '../finance/rules/import';
import { importedTotals, isComplete, meetsExpectation } from '../finance/rules/completeness';
import { recomputeConfirmation, sendRecomputed, type RepublishConfirmationRepository } from '../bridge/republishConfirmation';

export const RECONCILE = 'reconcile';
export const RECONCILE_LEASE = 'reconcile';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Thresholds and caps of a run (docs/decisions/repair.md). */
export const RECONCILE_DEFAULTS = {
  /** An invoice Confirmed this long has had time to reach F&O. */
  confirmedForMs: 10 * MINUTE,
  /** A staging row Waiting this long (since it was queued for import) is looked at. */
  waitingForMs: 10 * MINUTE,
  /** A proposal posted this long ago has had time to bring its accounting details back. */
  postedForMs: 10 * MINUTE,
  /** Posted proposals are checked for this long after posting (later: the trace and the route). */
  postedWithinMs: 24 * HOUR,
  /** A problem still there this long after it began gets an error row even while it is republished. */
  escalateAfterMs: 2 * HOUR,
  /** Most Confirmed invoices one run checks (oldest first). */
  maxInvoices: 500,
  /** Most Waiting or Error staging rows one run looks at (oldest first). */
  maxStagingRows: 5_000,
  /** Most posted proposals one run checks. */
  maxPostedProposals: 500,
  leaseTtlMs: 60_000,
};

export type ReconcileOptions = Partial<typeof RECONCILE_DEFAULTS> & {
  now?: Date;
  log?: (line: string) => void;
};

/** What the sweep reads of the Dataverse store. */
export interface ReconcileDataverse extends RepublishConfirmationRepository, Pick<DataverseStore, 'confirmedInvoicesBefore' | 'billedAccountingOfInvoice'> {
  actuals: Pick<TableStore<Actual>, 'get'>;
}

/** What the sweep reads of the F&O store. */
export interface ReconcileFinance extends RepublishAccountingStore, Pick<FinanceStore, 'postedProposalsBetween' | 'billedStagingIdsOfInvoice'> {
  staging: Pick<TableStore<StagingRow>, 'getMany'>;
}

export interface ReconcileDeps {
  dataverse: ReconcileDataverse;
  finance: ReconcileFinance;
  /** The import's index of unfinished staging rows: the Waiting and Error rows without a scan of staging. */
  work: Pick<StagingWorkPort, 'list'>;
  sequences: Pick<SequencePort, 'find'>;
  leases: LeasePort;
  publisher: Publisher;
  errorLog: ErrorLogPort;
}

export interface ReconcileResult {
  runId: string;
  /** False when another run held the lease (nothing was done). */
  ran: boolean;
  leaseLost: boolean;
  checked: { invoices: number; waitingRows: number; errorRows: number; postedProposals: number };
  republished: {
    /** Invoices whose confirmation messages (or part of them) were sent again. */
    invoices: number;
    proposalMessages: number;
    actualsMessages: number;
    actuals: number;
    /** Posted proposals whose accounting details were sent again. */
    accountingProposals: number;
    accountingMessages: number;
  };
  /** Problems recorded as error rows (each one row, rewritten by later runs). */
  problems: number;
  /** Items that failed for a reason other than a business refusal (storage, broker): retried next run. */
  failures: number;
  /** The first of those failures, for the log and the timer's own failure. */
  firstFailure?: string;
  /** What hit its per-run cap (the rest waits for the next run). */
  capped: string[];
  durationMs: number;
}

/** An invoice whose confirmation messages are to be sent again. */
interface InvoiceRepair {
  invoiceId: string;
  /** The invoice number when known (for the log and the rows). */
  reference: string;
  proposal: boolean;
  /** Send the messages of every synced new actual of the confirmation that has no staging row. */
  missing: boolean;
  /** Send the messages that carry these actuals (those the confirmation publishes; the others are reported). */
  actualIds: Set<string>;
  /** The invoice's billed staging ids, when already read. */
  staged?: Set<string>;
  reasons: string[];
  /** When the problem began (ISO), for escalation; and the error row's time. */
  since: string;
}

interface AccountingRepair {
  proposal: Proposal;
  reasons: string[];
  since: string;
}

interface Problem {
  key: string;
  reference: string;
  message: string;
  /** When the problem began: the row's time, the same on every run. */
  since: string;
}

interface Run {
  deps: ReconcileDeps;
  o: typeof RECONCILE_DEFAULTS;
  now: Date;
  result: ReconcileResult;
  repairs: Map<string, InvoiceRepair>;
  accounting: Map<string, AccountingRepair>;
  problems: Map<string, Problem>;
  failure(what: string, error: unknown): void;
  notes: string[];
}

const iso = (ms: number) => new Date(ms).toISOString();
const olderThan = (timestamp: string | undefined, cutoffMs: number) => timestamp !== undefined && Date.parse(timestamp) < cutoffMs;
const earlier = (a: string, b: string) => (Date.parse(a) <= Date.parse(b) ? a : b);

function addRepair(
  run: Run,
  invoiceId: string,
  reference: string,
  since: string,
  reason: string,
  wants: { proposal?: boolean; missing?: boolean; actualIds?: Iterable<string>; staged?: Set<string> },
): void {
  let repair = run.repairs.get(invoiceId);
  if (!repair) run.repairs.set(invoiceId, (repair = { invoiceId, reference, proposal: false, missing: false, actualIds: new Set(), reasons: [], since }));
  if (repair.reference === invoiceId && reference !== invoiceId) repair.reference = reference;
  repair.since = earlier(repair.since, since);
  repair.reasons.push(reason);
  if (wants.proposal) repair.proposal = true;
  if (wants.missing) repair.missing = true;
  if (wants.staged) repair.staged = wants.staged;
  for (const id of wants.actualIds ?? []) repair.actualIds.add(id);
}

function addProblem(run: Run, problem: Problem): void {
  if (!run.problems.has(problem.key)) run.problems.set(problem.key, problem);
}

const WHERE_TO_LOOK =
  'Look at the error log of its consumer (source syncInvoiceProposal, syncActuals or syncActualsAccounting) and at the dead-letter queues for why the messages are not applied';

// ---- (a) invoices Confirmed too long ----------------------------------------------------------

async function findStuckConfirmations(run: Run): Promise<void> {
  const { deps, o, now, result } = run;
  const found = await deps.dataverse.confirmedInvoicesBefore(iso(now.getTime() - o.confirmedForMs), o.maxInvoices + 1);
  if (found.length > o.maxInvoices) result.capped.push('invoices');
  const invoices = found.sort((a, b) => Date.parse(a.msdyn_confirmedon ?? '') - Date.parse(b.msdyn_confirmedon ?? '')).slice(0, o.maxInvoices);
  result.checked.invoices = invoices.length;
  await mapLimit(invoices, 8, async (invoice) => {
    try {
      await checkConfirmed(run, invoice);
    } catch (error) {
      run.failure(`invoice ${invoice.invoicenumber}`, error);
    }
  });
}

async function checkConfirmed(run: Run, invoice: Stored<Invoice>): Promise<void> {
  const { deps } = run;
  const number = invoice.invoicenumber;
  const since = invoice.msdyn_confirmedon ?? iso(0);
  const proposal = await deps.finance.proposals.get(number, number);
  if (!proposal) {
    addRepair(run, invoice.invoiceid, number, since, `its proposal ${number} is not in F&O`, { proposal: true, missing: true });
    return;
  }
  if (proposal.InvoiceId !== invoice.invoiceid) {
    addProblem(run, {
      key: `proposal-number-taken/${invoice.invoiceid}`,
      reference: number,
      since,
      message:
        `Invoice ${number} (${invoice.invoiceid}) is Confirmed, but F&O proposal ${number} belongs to invoice ${proposal.InvoiceId}: ` +
        'its proposal cannot be created and its billed actuals cannot be imported. Republishing cannot repair this; the invoice needs a number no other invoice uses (revise it in Dataverse).',
    });
    return;
  }
  if (proposal.Status === 'Posted') {
    addAccounting(run, proposal, `invoice ${number} is still Confirmed on Dataverse though its proposal was posted as ${proposal.CustomerInvoiceId ?? '(unknown)'}`);
    return;
  }
  if (isComplete(proposal)) return;
  if (meetsExpectation({ ...proposal, ExpectedTax: undefined }, importedTotals(proposal)) && proposal.ImportedTax !== undefined) {
    // Every line is in and the amount matches, but the lines' tax is not the header's: no message repairs that.
    addProblem(run, {
      key: `proposal-tax-mismatch/${number}`,
      reference: number,
      since,
      message:
        `Invoice proposal ${number} has all ${proposal.ExpectedLineCount} lines for ${proposal.ExpectedAmount} ${proposal.CurrencyCode}, but its lines carry tax ${proposal.ImportedTax} ` +
        `where its header expects ${proposal.ExpectedTax ?? '(none)'}, so it cannot be posted. Compare the invoice's totaltax with its billed actuals' msdyn_salestaxamount (GET /api/invoices/${invoice.invoiceid}/trace).`,
    });
    return;
  }
  const staged = await deps.finance.billedStagingIdsOfInvoice(invoice.salesorderid, invoice.invoiceid);
  if (staged.size < proposal.ExpectedLineCount) {
    addRepair(run, invoice.invoiceid, number, since, `${staged.size} of its ${proposal.ExpectedLineCount} billed actuals are in F&O staging`, { missing: true, staged });
  }
}

// ---- (b) staging rows Waiting (or in Error) too long --------------------------------------------

async function findStuckStagingRows(run: Run): Promise<void> {
  const { deps, o, now, result } = run;
  const cutoff = now.getTime() - o.waitingForMs;
  // An actual with two index entries is one staging row, counted and reported once.
  const stuck = oncePerActual(await deps.work.list()).once.filter((item) => (item.ImportStatus === 'Waiting' || item.ImportStatus === 'Error') && olderThan(item.QueuedAt, cutoff));
  if (stuck.length > o.maxStagingRows) result.capped.push('stagingRows');
  const rows = stuck.slice(0, o.maxStagingRows);
  const waiting = rows.filter((r) => r.ImportStatus === 'Waiting');
  const errors = rows.filter((r) => r.ImportStatus === 'Error');
  result.checked.waitingRows = waiting.length;
  result.checked.errorRows = errors.length;

  reportErrorRows(run, errors);

  const forProposal = new Map<string, StagingWorkItem[]>();
  const forTransaction = new Map<string, StagingWorkItem[]>();
  for (const row of waiting) {
    if (row.ImportMessage === WaitingReason.proposalNotSynchronized && row.InvoiceId !== undefined) {
      forProposal.set(row.InvoiceId, [...(forProposal.get(row.InvoiceId) ?? []), row]);
    } else if (row.ImportMessage === WaitingReason.transactionNotPosted && row.UnbilledActualId !== undefined) {
      const key = `${row.ContractId}/${row.UnbilledActualId}`;
      forTransaction.set(key, [...(forTransaction.get(key) ?? []), row]);
    }
  }
  await mapLimit([...forProposal], 8, async ([invoiceId, billed]) => {
    try {
      await checkWaitingForProposal(run, invoiceId, billed);
    } catch (error) {
      run.failure(`the rows waiting for the proposal of invoice ${invoiceId}`, error);
    }
  });
  try {
    await checkWaitingForTransactions(run, forTransaction);
  } catch (error) {
    run.failure('the rows waiting for project transactions', error);
  }
}

/** Staging rows in Error: import retries them every run, but only a person can remove the cause. One row per contract. */
function reportErrorRows(run: Run, errors: readonly StagingWorkItem[]): void {
  const byContract = new Map<string, StagingWorkItem[]>();
  for (const row of errors) byContract.set(row.ContractId, [...(byContract.get(row.ContractId) ?? []), row]);
  for (const [contractId, rows] of byContract) {
    const reasons = [...new Set(rows.map((r) => r.ImportMessage ?? '(no reason given)'))];
    addProblem(run, {
      key: `staging-errors/${contractId}`,
      reference: contractId,
      since: rows.map((r) => r.QueuedAt).reduce(earlier),
      message:
        `${rows.length} foActualsStaging row(s) of contract ${contractId} are in Error (for example actual ${rows[0]!.ActualId}): ${reasons.slice(0, 3).join(' | ')}${reasons.length > 3 ? ` (and ${reasons.length - 3} more reasons)` : ''}. ` +
        'Import retries them on every run, and billed rows that bill them wait meanwhile; remove the cause (for a missing rate, add it to foExchangeRates) and they go through on the next run.',
    });
  }
}

async function checkWaitingForProposal(run: Run, invoiceId: string, billed: readonly StagingWorkItem[]): Promise<void> {
  const since = billed.map((r) => r.QueuedAt).reduce(earlier);
  const example = `${billed.length} billed row(s) in F&O staging (for example actual ${billed[0]!.ActualId})`;
  if (run.repairs.get(invoiceId)?.proposal) return;
  const invoice = await run.deps.dataverse.invoices.get(invoiceId, invoiceId);
  if (!invoice) {
    addProblem(run, {
      key: `waiting-for-unknown-invoice/${invoiceId}`,
      reference: invoiceId,
      since,
      message: `${example} wait for the proposal of invoice ${invoiceId}, which is not in Dataverse, so no proposal will come. Find out where these billed actuals came from; if they were sent by mistake, remove their staging rows.`,
    });
    return;
  }
  if (invoice.msdyn_projectinvoicestatus === InvoiceStatus.Confirmed) {
    addRepair(run, invoiceId, invoice.invoicenumber, since, `${example} wait for its proposal`, { proposal: true });
    return;
  }
  addProblem(run, {
    key: `waiting-for-unconfirmed-invoice/${invoiceId}`,
    reference: invoice.invoicenumber,
    since,
    message:
      `${example} wait for the proposal of invoice ${invoice.invoicenumber}, which is ${labelOf.invoiceStatus(invoice.msdyn_projectinvoicestatus)} on Dataverse: ` +
      (invoice.msdyn_projectinvoicestatus === InvoiceStatus.Posted
        ? `its proposal should exist; republish it by hand if it is right to (POST /api/dataverse/invoices/${invoiceId}/republish) or find out why F&O lost it.`
        : 'only a confirmed invoice has billed actuals and a proposal. Find out where these billed actuals came from; if they were sent by mistake, remove their staging rows.'),
  });
}

async function checkWaitingForTransactions(run: Run, groups: ReadonlyMap<string, StagingWorkItem[]>): Promise<void> {
  if (groups.size === 0) return;
  const keys = [...groups.values()].map((rows) => ({ partitionKey: rows[0]!.ContractId, rowKey: rows[0]!.UnbilledActualId! }));
  const found = await run.deps.finance.staging.getMany(keys, 16);
  for (const [key, rows] of groups) {
    // A staging row exists: import posts it (Pending), or it is in Error and reported as such.
    if (found.has(key)) continue;
    const unbilledId = rows[0]!.UnbilledActualId!;
    const since = rows.map((r) => r.QueuedAt).reduce(earlier);
    const byInvoice = new Map<string, StagingWorkItem[]>();
    for (const row of rows) if (row.InvoiceId !== undefined) byInvoice.set(row.InvoiceId, [...(byInvoice.get(row.InvoiceId) ?? []), row]);
    for (const [invoiceId, billed] of byInvoice) {
      addRepair(run, invoiceId, invoiceId, since, `billed actual ${billed[0]!.ActualId} waits for unbilled actual ${unbilledId}, which is not in F&O staging`, {
        actualIds: [unbilledId],
      });
    }
  }
}

// ---- (c) accounting details that did not come back ------------------------------------------

function addAccounting(run: Run, proposal: Proposal, reason: string): void {
  const since = proposal.PostedOn ?? iso(0);
  const existing = run.accounting.get(proposal.ProposalId);
  if (existing) existing.reasons.push(reason);
  else run.accounting.set(proposal.ProposalId, { proposal, reasons: [reason], since });
}

async function findMissingAccounting(run: Run): Promise<void> {
  const { deps, o, now, result } = run;
  const found = await deps.finance.postedProposalsBetween(iso(now.getTime() - o.postedWithinMs), iso(now.getTime() - o.postedForMs), o.maxPostedProposals + 1);
  if (found.length > o.maxPostedProposals) result.capped.push('postedProposals');
  const proposals = found.slice(0, o.maxPostedProposals);
  result.checked.postedProposals = proposals.length;
  await mapLimit(proposals, 8, async (proposal) => {
    if (run.accounting.has(proposal.ProposalId)) return;
    try {
      const counts = await deps.dataverse.billedAccountingOfInvoice(proposal.ContractId, proposal.InvoiceId);
      if (counts.billed < proposal.ExpectedLineCount) {
        addProblem(run, {
          key: `posted-billed-missing/${proposal.ProposalId}`,
          reference: proposal.ProposalId,
          since: proposal.PostedOn ?? iso(0),
          message:
            `Invoice proposal ${proposal.ProposalId} is posted as ${proposal.CustomerInvoiceId ?? '(unknown)'} with ${proposal.ExpectedLineCount} lines, but Dataverse holds only ${counts.billed} billed actuals of invoice ${proposal.InvoiceId}, ` +
            'so the accounting details of the others have nowhere to go. Republishing cannot repair this: compare the invoice trace (GET /api/invoices/{invoiceId}/trace) with the proposal and find out what removed them.',
        });
      }
      if (counts.withoutAccounting > 0) addAccounting(run, proposal, `${counts.withoutAccounting} of its ${counts.billed} billed actuals on Dataverse lack their accounting details`);
    } catch (error) {
      run.failure(`posted proposal ${proposal.ProposalId}`, error);
    }
  });
}

// ---- repairs ---------------------------------------------------------------------------------

async function repairInvoice(run: Run, repair: InvoiceRepair): Promise<void> {
  const { deps, now, result } = run;
  let recomputed;
  try {
    recomputed = await recomputeConfirmation(deps.dataverse, repair.invoiceId);
  } catch (error) {
    if (!(error instanceof BusinessError)) throw error;
    addProblem(run, {
      key: `cannot-republish/${repair.invoiceId}`,
      reference: error.reference ?? repair.reference,
      since: repair.since,
      message: `Invoice ${repair.reference} needs its confirmation messages again (${repair.reasons.join('; ')}), but they cannot be republished: ${error.message}`,
    });
    return;
  }
  const { invoice, plan } = recomputed;
  const contractId = invoice.salesorderid;
  const actuals = new Set<string>();
  if (repair.missing) {
    const staged = repair.staged ?? (await deps.finance.billedStagingIdsOfInvoice(contractId, invoice.invoiceid));
    const others = plan.actualsToPublish.filter((a) => a.msdyn_transactiontypecode !== TransactionType.BilledSales);
    const othersStaged = await deps.finance.staging.getMany(others.map((a) => ({ partitionKey: a.msdyn_salescontract, rowKey: a.msdyn_actualid })), 16);
    for (const a of plan.actualsToPublish) {
      const isStaged = a.msdyn_transactiontypecode === TransactionType.BilledSales ? staged.has(a.msdyn_actualid) : othersStaged.has(`${a.msdyn_salescontract}/${a.msdyn_actualid}`);
      if (!isStaged) actuals.add(a.msdyn_actualid);
    }
  }
  const published = new Set(plan.actualsToPublish.map((a) => a.msdyn_actualid));
  for (const id of repair.actualIds) {
    if (published.has(id)) actuals.add(id);
    else await reportUnsyncedActual(run, invoice, id, repair.since);
  }
  if (!repair.proposal && actuals.size === 0) return;
  const sent = await sendRecomputed(deps.publisher, recomputed, { at: now, proposal: repair.proposal, actuals });
  result.republished.invoices++;
  if (sent.proposalMessageId) result.republished.proposalMessages++;
  result.republished.actualsMessages += sent.actualsMessageIds.length;
  result.republished.actuals += sent.actuals;
  run.notes.push(`${invoice.invoicenumber}(${sent.proposalMessageId ? 'proposal+' : ''}${sent.actuals} actuals)`);
  if (olderThan(repair.since, now.getTime() - run.o.escalateAfterMs)) {
    addProblem(run, {
      key: `stuck-confirmation/${invoice.invoiceid}`,
      reference: invoice.invoicenumber,
      since: repair.since,
      message:
        `Invoice ${invoice.invoicenumber} has been stuck on its way to F&O since ${repair.since}: ${repair.reasons.join('; ')}. ` +
        `The repair sweep republishes its messages on every run (last at ${now.toISOString()}), and they have not taken effect. ${WHERE_TO_LOOK}; the invoice trace (GET /api/invoices/${invoice.invoiceid}/trace) shows what is missing.`,
    });
  }
}

/** An unbilled actual a billed row waits for is not in staging, and the confirmation does not publish it: it came from approval. */
async function reportUnsyncedActual(run: Run, invoice: Invoice, actualId: string, since: string): Promise<void> {
  const actual = await run.deps.dataverse.actuals.get(invoice.salesorderid, actualId);
  const why =
    actual === undefined
      ? 'it is not in Dataverse either, so it cannot be sent; find out what removed it'
      : actual.msdyn_skipsync
        ? 'it is a skip-sync actual, so it never goes to F&O; the billed actual that bills it cannot become a proposal line until that is corrected'
        : 'it was created before this invoice (by an approval) and its actuals message never reached F&O; send it again through the actuals sync (queue actuals, or replay its dead letter from the error log)';
  addProblem(run, {
    key: `unbilled-not-staged/${actualId}`,
    reference: invoice.invoicenumber,
    since,
    message: `A billed actual of invoice ${invoice.invoicenumber} waits for unbilled actual ${actualId}, which is not in F&O staging: ${why}.`,
  });
}

async function repairAccounting(run: Run, repair: AccountingRepair): Promise<void> {
  const { deps, now, result } = run;
  const proposalId = repair.proposal.ProposalId;
  try {
    const sent = await republishAccounting({ finance: deps.finance, sequences: deps.sequences, publisher: deps.publisher }, proposalId, { at: now });
    result.republished.accountingProposals++;
    result.republished.accountingMessages += sent.messageIds.length;
    run.notes.push(`${proposalId}(accounting ${sent.details})`);
  } catch (error) {
    if (!(error instanceof BusinessError)) throw error;
    addProblem(run, {
      key: `cannot-republish-accounting/${proposalId}`,
      reference: proposalId,
      since: repair.since,
      message: `Invoice proposal ${proposalId} needs its accounting details on Dataverse again (${repair.reasons.join('; ')}), but they cannot be republished: ${error.message}`,
    });
    return;
  }
  if (olderThan(repair.since, now.getTime() - run.o.escalateAfterMs)) {
    addProblem(run, {
      key: `stuck-accounting/${proposalId}`,
      reference: proposalId,
      since: repair.since,
      message:
        `The accounting details of invoice proposal ${proposalId} (posted ${repair.since}) are still not all on Dataverse: ${repair.reasons.join('; ')}. ` +
        `The repair sweep republishes them on every run (last at ${now.toISOString()}), and they have not taken effect. ${WHERE_TO_LOOK}.`,
    });
  }
}

// ---- the run -----------------------------------------------------------------------------------

export async function reconcile(deps: ReconcileDeps, options: ReconcileOptions = {}): Promise<ReconcileResult> {
  const started = Date.now();
  const o = { ...RECONCILE_DEFAULTS };
  for (const key of Object.keys(RECONCILE_DEFAULTS) as (keyof typeof RECONCILE_DEFAULTS)[]) {
    const value = options[key];
    if (value !== undefined) o[key] = value;
  }
  const now = options.now ?? new Date();
  const log = options.log ?? (() => undefined);
  const result: ReconcileResult = {
    runId: randomUUID(),
    ran: false,
    leaseLost: false,
    checked: { invoices: 0, waitingRows: 0, errorRows: 0, postedProposals: 0 },
    republished: { invoices: 0, proposalMessages: 0, actualsMessages: 0, actuals: 0, accountingProposals: 0, accountingMessages: 0 },
    problems: 0,
    failures: 0,
    capped: [],
    durationMs: 0,
  };
  const run: Run = {
    deps,
    o,
    now,
    result,
    repairs: new Map(),
    accounting: new Map(),
    problems: new Map(),
    notes: [],
    failure(what, error) {
      result.failures++;
      result.firstFailure ??= `${what}: ${error instanceof Error ? error.message : String(error)}`;
    },
  };
  const finish = (note: string) => {
    result.durationMs = Date.now() - started;
    const c = result.checked;
    const r = result.republished;
    log(
      `[${RECONCILE}] run=${result.runId} ${note} invoices=${c.invoices} waitingRows=${c.waitingRows} errorRows=${c.errorRows} postedProposals=${c.postedProposals} ` +
        `republishedInvoices=${r.invoices} proposalMessages=${r.proposalMessages} actualsMessages=${r.actualsMessages} actuals=${r.actuals} ` +
        `accountingProposals=${r.accountingProposals} accountingMessages=${r.accountingMessages} problems=${result.problems} failures=${result.failures}` +
        (result.capped.length ? ` capped=${result.capped.join(',')}` : '') +
        (run.notes.length ? ` repaired=${run.notes.slice(0, 20).join(',')}${run.notes.length > 20 ? ',...' : ''}` : '') +
        (result.firstFailure ? ` firstFailure="${result.firstFailure.slice(0, 300)}"` : '') +
        ` durationMs=${result.durationMs}`,
    );
    return result;
  };

  const lease = await deps.leases.acquire(RECONCILE_LEASE, { ttlMs: o.leaseTtlMs, owner: result.runId });
  if (lease === undefined) return finish('skipped: another run holds the lease');
  result.ran = true;
  const stillHeld = () => {
    if (!lease.held()) result.leaseLost = true;
    return !result.leaseLost;
  };
  try {
    // Each finder on its own: one side being unreachable does not stop the others.
    for (const [what, find] of [
      ['the Confirmed invoices', findStuckConfirmations],
      ['the unfinished staging rows', findStuckStagingRows],
      ['the posted proposals', findMissingAccounting],
    ] as const) {
      try {
        await find(run);
      } catch (error) {
        run.failure(what, error);
      }
    }
    if (!stillHeld()) return finish('stopped: lease lost');

    await mapLimit([...run.repairs.values()], 4, async (repair) => {
      if (!stillHeld()) return;
      try {
        await repairInvoice(run, repair);
      } catch (error) {
        run.failure(`republishing invoice ${repair.reference}`, error);
      }
    });
    await mapLimit([...run.accounting.values()], 4, async (repair) => {
      if (!stillHeld()) return;
      try {
        await repairAccounting(run, repair);
      } catch (error) {
        run.failure(`republishing the accounting details of ${repair.proposal.ProposalId}`, error);
      }
    });

    // One row per problem: its key and start time make the row id, so later runs rewrite it.
    for (const p of run.problems.values()) {
      try {
        await deps.errorLog.record({
          source: RECONCILE,
          category: 'Business',
          reference: p.reference,
          message: p.message,
          messageId: `reconcile/${p.key}`,
          dedupeKey: `reconcile/${p.key}`,
          enqueuedAt: new Date(Date.parse(p.since) || 0),
        });
        result.problems++;
      } catch (error) {
        run.failure(`recording "${p.key}"`, error);
      }
    }
    return finish(result.leaseLost ? 'finished after losing the lease' : 'done');
  } finally {
    await lease.release();
  }
}
