/**
 * "Import from staging" (domain steps 3 and 9) as pure decisions: the order of a run's rows, a
 * cost or unbilled row posted as a project transaction with its ledger pair and accounting
 * details, journal slots, a billed row's fate (line, waiting with the reason, or error), and the
 * proposal's imported counters. The I/O and the run: shared/finance/import/.
 */
import type { AccountingDetail } from '../../messages';
import type {
  ExchangeRate,
  LedgerEntry,
  Proposal,
  ProposalLine,
  ProjectTransaction,
  StagingRow,
  StagingTransType,
} from '../records';
import { lookupRate, toAccounting } from './exchange';
import { buildVoucher, credit, debit, type LedgerLine } from './ledger';
import { toProposalTransType } from './stagingMap';
import { shortHash } from '../../core/ids';
import { amount, dec, sum } from '../../core/money';

// Completeness (line count, amount and tax) is one rule: rules/completeness.ts.
export { isComplete, reconcile, type Reconciliation } from './completeness';

export const WaitingReason = {
  proposalNotSynchronized: 'Invoice proposal not synchronized yet',
  transactionNotPosted: "Project transaction hasn't been posted yet",
} as const;
export type WaitingReason = (typeof WaitingReason)[keyof typeof WaitingReason];

/**
 * The one-row voucher of one actual, `PJV-` + 10 hex digits of a hash of the ActualId. Import used
 * it before rows were journalized (transactions posted then still name it); `postTransaction`
 * falls back to it when it is given no journal slot (seeding, pure unit tests).
 */
export function transactionVoucher(actualId: string): string {
  return `PJV-${shortHash(10, actualId)}`;
}

/** Rows (each a balanced debit/credit pair) one journal voucher holds at most: 100 ledger entries, one table transaction. */
export const JOURNAL_MAX_ROWS = 50;
/** Ledger lines a row's slot reserves: its debit and its credit. */
export const LINES_PER_ROW = 2;

/** Where a row's ledger entries go: its journal voucher and the line number of its first entry. */
export interface JournalSlot {
  voucher: string;
  firstLine: number;
}

/** A row's pinned slot (what import/journalStore.ts stores per ActualId). */
export interface JournalReservation extends JournalSlot {
  actualId: string;
  /** Line numbers reserved from firstLine on: 2, or 0 for a row whose amount is zero (no ledger lines). */
  lineCount: number;
}

/**
 * The prefix of one run's journal vouchers: `PJV-<yyyyMMddHHmmss>-<8 hex>`, the run's start (UTC)
 * and the first 8 hex digits of its random run id. Vouchers are `<prefix>-<nnnn>` (`nnnn` = 0001,
 * 0002, ... within the run, more digits past 9999), e.g. `PJV-20240401080000-3FA9C21B-0001`: a
 * fresh number no other run can produce (it would need the same second and the same 32 random bits;
 * the ledger writer also checks every entry it finds against the row that owns its line).
 */
export function journalVoucherPrefix(startedAt: Date, runId: string): string {
  const stamp = startedAt.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const random = runId.replace(/[^0-9a-fA-F]/g, '').slice(0, 8).toUpperCase();
  if (random.length !== 8) throw new Error(`Run id ${runId} has fewer than 8 hex digits`);
  return `PJV-${stamp}-${random}`;
}

export function journalVoucher(prefix: string, n: number): string {
  return `${prefix}-${String(n).padStart(4, '0')}`;
}

/** Ledger lines a row reserves: none for a zero amount (no zero lines are posted), else its pair. Depends only on the row. */
export function ledgerLineCount(row: Pick<StagingRow, 'Amount'>): number {
  return dec(row.Amount).isZero() ? 0 : LINES_PER_ROW;
}

/**
 * Slots for `rows` in the given order: consecutive rows share a voucher, at most `maxRows` rows
 * (and so at most 2 x maxRows lines) per voucher; line numbers run 1, 2, 3, ... within a voucher,
 * a zero-amount row taking none. `nextVoucher` hands out fresh voucher numbers.
 */
export function planJournals(
  rows: ReadonlyArray<Pick<StagingRow, 'ActualId' | 'Amount'>>,
  nextVoucher: () => string,
  maxRows: number = JOURNAL_MAX_ROWS,
): JournalReservation[] {
  if (!Number.isInteger(maxRows) || maxRows < 1 || maxRows > JOURNAL_MAX_ROWS) throw new Error(`A journal holds 1 to ${JOURNAL_MAX_ROWS} rows, not ${maxRows}`);
  const out: JournalReservation[] = [];
  let voucher = '';
  let rowsIn = maxRows;
  let nextLine = 1;
  for (const row of rows) {
    if (rowsIn === maxRows) {
      voucher = nextVoucher();
      rowsIn = 0;
      nextLine = 1;
    }
    const lineCount = ledgerLineCount(row);
    out.push({ actualId: row.ActualId, voucher, firstLine: nextLine, lineCount });
    nextLine += lineCount;
    rowsIn++;
  }
  return out;
}

/** Rows an import run still has to handle (Imported rows are done). */
export function needsImport(row: Pick<StagingRow, 'ImportStatus'>): boolean {
  return row.ImportStatus !== 'Imported';
}

const PHASE: Readonly<Record<StagingTransType, number>> = { Cost: 0, UnbilledSales: 0, BilledSales: 1 };

/** A run's rows with cost and unbilled sales first, billed sales last; otherwise the given order (stable, no mutation). */
export function orderForImport<T extends Pick<StagingRow, 'TransType'>>(rows: readonly T[]): T[] {
  return rows
    .map((row, index) => ({ row, index }))
    .sort((a, b) => PHASE[a.row.TransType] - PHASE[b.row.TransType] || a.index - b.index)
    .map(({ row }) => row);
}

export interface ImportOptions {
  accountingCurrency: string;
  rates: readonly ExchangeRate[];
  /**
   * The date the transaction posts on and whose exchange rate applies. Defaults to the row's
   * AccountingDate ("on its date", domain refusals); leave it out so that a run retried on a later
   * day posts exactly the same transaction.
   */
  postingDate?: string;
  /** Timestamp written to the row's ImportedOn; omitted when not given (keeps the function pure). */
  importedOn?: string;
}

export type PostTransactionResult =
  | {
      kind: 'posted';
      transaction: ProjectTransaction;
      ledger: LedgerEntry[];
      accounting: AccountingDetail;
      rowUpdate: Partial<StagingRow>;
    }
  | { kind: 'error'; reason: string; rowUpdate: Partial<StagingRow> };

/** Staging row fields for a row that stays in staging with an error (retried on later runs). */
export function errorRowUpdate(reason: string): Partial<StagingRow> {
  return { ImportStatus: 'Error', ImportMessage: reason };
}

/** Staging row fields for a billed row that waits for its proposal or its unbilled transaction. */
export function waitingRowUpdate(reason: string): Partial<StagingRow> {
  return { ImportStatus: 'Waiting', ImportMessage: reason };
}

/**
 * Post a cost or unbilled sales row as a project transaction with its voucher (`slot`: the
 * row's journal voucher and first line; without it, the row's own one-row voucher, lines 1-2):
 * - cost: debit ProjectCost, credit CostOffset; unbilled sales: debit WIPSalesValue, credit AccruedRevenue;
 * - by the accounting-currency amount (row amount x rate on the posting date, 2 decimals), so a
 *   negative row (an adjustment reversal) simply posts negative amounts;
 * - a zero amount posts the transaction naming the voucher but writes no ledger lines.
 * No rate from the row's currency to the accounting currency on the posting date: "error" with
 * the reason "No exchange rate from EUR to USD on or before 2026-03-01"; the row stays in staging
 * as Error and is retried on later runs.
 * Throws for a billed sales row (those become proposal lines: `decideBilled`).
 */
export function postTransaction(row: StagingRow, options: ImportOptions, slot?: JournalSlot): PostTransactionResult {
  if (row.TransType === 'BilledSales') {
    throw new Error(`Staging row ${row.ActualId} is billed sales; it becomes a proposal line, not a project transaction`);
  }
  const postingDate = options.postingDate ?? row.AccountingDate;
  const found = lookupRate(options.rates, row.TransactionCurrencyId, options.accountingCurrency, postingDate);
  if (!found.ok) {
    return { kind: 'error', reason: found.reason, rowUpdate: errorRowUpdate(found.reason) };
  }
  const exchangeRate = found.rate;
  const accountingAmount = toAccounting(row.Amount, exchangeRate);
  const voucher = slot?.voucher ?? transactionVoucher(row.ActualId);
  const firstLine = slot?.firstLine ?? 1;
  if (!Number.isInteger(firstLine) || firstLine < 1) throw new Error(`Journal slot of ${row.ActualId} starts at line ${firstLine}`);
  const extra = {
    projectId: row.ProjectId,
    reference: row.ActualId,
    text: `${row.TransType} ${row.TransactionClassification} ${amount(row.Amount)} ${row.TransactionCurrencyId}`,
  };
  const lines: LedgerLine[] =
    row.TransType === 'Cost'
      ? [debit('ProjectCost', accountingAmount, extra), credit('CostOffset', accountingAmount, extra)]
      : [debit('WIPSalesValue', accountingAmount, extra), credit('AccruedRevenue', accountingAmount, extra)];

  const transaction: ProjectTransaction = {
    TransId: row.ActualId,
    ProjectId: row.ProjectId,
    ContractId: row.ContractId,
    TransType: row.TransType,
    Classification: row.TransactionClassification,
    Quantity: row.Quantity,
    Amount: row.Amount,
    CurrencyCode: row.TransactionCurrencyId,
    AccountingAmount: accountingAmount,
    Voucher: voucher,
    PostingDate: postingDate,
    FullyInvoiced: false,
  };
  const accounting: AccountingDetail = {
    actualId: row.ActualId,
    contractId: row.ContractId,
    voucher,
    postingDate,
    accountingCurrency: options.accountingCurrency,
    accountingAmount,
    exchangeRate,
  };
  if (row.SalesTaxAmount !== undefined) accounting.salesTaxAmount = row.SalesTaxAmount;
  const rowUpdate: Partial<StagingRow> = {
    ImportStatus: 'Imported',
    ImportMessage: `Posted as project transaction with voucher ${voucher} on ${postingDate}`,
    VoucherNumber: voucher,
    PostingDate: postingDate,
    AccountingCurrency: options.accountingCurrency,
    AccountingAmount: accountingAmount,
    ExchangeRate: exchangeRate,
  };
  if (options.importedOn !== undefined) rowUpdate.ImportedOn = options.importedOn;
  // The row's own entries, balanced on their own, numbered from its slot's first line.
  const ledger = buildVoucher(voucher, postingDate, lines).map((e, i) => ({ ...e, LineNumber: firstLine + i }));
  return { kind: 'posted', transaction, ledger, accounting, rowUpdate };
}

/** How to find a billed row's proposal: by ProposalId when the row names it, else by InvoiceId. */
export type ProposalKey = { by: 'ProposalId'; proposalId: string } | { by: 'InvoiceId'; invoiceId: string } | { by: 'none' };

export function proposalKey(row: Pick<StagingRow, 'InvoiceProposalId' | 'InvoiceId'>): ProposalKey {
  if (row.InvoiceProposalId !== undefined && row.InvoiceProposalId !== '') {
    return { by: 'ProposalId', proposalId: row.InvoiceProposalId };
  }
  if (row.InvoiceId !== undefined) return { by: 'InvoiceId', invoiceId: row.InvoiceId };
  return { by: 'none' };
}

/** Whether `proposal` is the one `row` belongs to (by `proposalKey`). */
export function proposalMatches(proposal: Proposal, row: Pick<StagingRow, 'InvoiceProposalId' | 'InvoiceId'>): boolean {
  const key = proposalKey(row);
  if (key.by === 'ProposalId') return proposal.ProposalId === key.proposalId;
  if (key.by === 'InvoiceId') return proposal.InvoiceId === key.invoiceId;
  return false;
}

export interface BilledContext {
  /** The row's proposal as resolved by the caller (`proposalKey`); undefined when not synchronized yet. */
  proposal?: Proposal;
  /** Whether the project transaction of this unbilled actual is posted (stored, or posted earlier in this run). */
  unbilledPosted: (actualId: string) => boolean;
  importedOn?: string;
}

export type BilledDecision =
  | { kind: 'line'; line: ProposalLine; rowUpdate: Partial<StagingRow> }
  | { kind: 'waiting'; reason: WaitingReason; rowUpdate: Partial<StagingRow> }
  | { kind: 'error'; reason: string; rowUpdate: Partial<StagingRow> };

/**
 * A billed sales row becomes a proposal line only when its proposal exists and the unbilled
 * transaction it bills (if any) is posted; otherwise it waits with the exact reason. The proposal
 * is checked first. "error" (stays in staging as Error): the row names no invoice, the proposal it
 * names by id belongs to another invoice, the proposal is already posted, the row's currency
 * differs from the proposal's, or the row is a billed sales reversal (ReversedActualId) but its
 * proposal is not a credit proposal. Throws when the row is not billed sales or `proposal` is not
 * the row's proposal (a caller bug).
 *
 * Credit proposals (domain.md step 12) need nothing else: a billed sales reversal is a negative row
 * on the corrective invoice and becomes a negative line carrying ReversedActualId; its
 * UnbilledActualId is the reversed billed actual's, posted long ago, so it does not wait. Re-billed
 * rows are ordinary billed rows (positive lines) whose new unbilled actual posts in the same run.
 */
export function decideBilled(row: StagingRow, context: BilledContext): BilledDecision {
  if (row.TransType !== 'BilledSales') {
    throw new Error(`Staging row ${row.ActualId} is ${row.TransType}; only billed sales rows become proposal lines`);
  }
  const fail = (reason: string): BilledDecision => ({ kind: 'error', reason, rowUpdate: errorRowUpdate(reason) });
  const wait = (reason: WaitingReason): BilledDecision => ({ kind: 'waiting', reason, rowUpdate: waitingRowUpdate(reason) });

  if (proposalKey(row).by === 'none') {
    return fail(`Billed sales row ${row.ActualId} names neither an invoice proposal nor an invoice`);
  }
  const { proposal } = context;
  if (proposal === undefined) return wait(WaitingReason.proposalNotSynchronized);
  if (!proposalMatches(proposal, row)) {
    throw new Error(`Proposal ${proposal.ProposalId} is not the proposal of billed sales row ${row.ActualId}`);
  }
  if (row.InvoiceId !== undefined && proposal.InvoiceId !== row.InvoiceId) {
    return fail(
      `Billed sales row ${row.ActualId} of invoice ${row.InvoiceId} names invoice proposal ${proposal.ProposalId}, but that proposal belongs to invoice ${proposal.InvoiceId}; ` +
        'the number was given to two invoices. Correct the row\'s InvoiceProposalId (or clear it to find the proposal by invoice)',
    );
  }
  if (proposal.Status === 'Posted') {
    return fail(
      `Invoice proposal ${proposal.ProposalId} is already posted as customer invoice ${proposal.CustomerInvoiceId ?? '(unknown)'}; ` +
        `billed sales row ${row.ActualId} cannot be added to it`,
    );
  }
  if (row.TransactionCurrencyId !== proposal.CurrencyCode) {
    return fail(
      `Billed sales row ${row.ActualId} is in ${row.TransactionCurrencyId} but invoice proposal ${proposal.ProposalId} is in ${proposal.CurrencyCode}`,
    );
  }
  if (row.ReversedActualId !== undefined && proposal.CorrectedProposalId === undefined) {
    return fail(
      `Billed sales row ${row.ActualId} reverses billed actual ${row.ReversedActualId}, but invoice proposal ${proposal.ProposalId} is not a credit proposal ` +
        '(its header names no corrected invoice); a billed sales reversal belongs on the corrective invoice. Check the header of the ' +
        `invoice ${proposal.InvoiceId}: once it names the invoice it corrects, the next import takes this row`,
    );
  }
  if (row.UnbilledActualId !== undefined && !context.unbilledPosted(row.UnbilledActualId)) {
    return wait(WaitingReason.transactionNotPosted);
  }

  const line: ProposalLine = {
    ProposalId: proposal.ProposalId,
    LineId: row.ActualId,
    ActualId: row.ActualId,
    ProjectId: row.ProjectId,
    ContractLineId: row.ContractLineId,
    TransType: toProposalTransType(row.TransactionClassification),
    LineProperty: row.BillingType,
    Quantity: row.Quantity,
    SalesPrice: row.UnitPrice,
    LineAmount: row.Amount,
    SalesTaxAmount: row.SalesTaxAmount ?? '0.00',
    CurrencyCode: row.TransactionCurrencyId,
  };
  if (row.UnbilledActualId !== undefined) line.UnbilledActualId = row.UnbilledActualId;
  if (row.ReversedActualId !== undefined) line.ReversedActualId = row.ReversedActualId;
  const rowUpdate: Partial<StagingRow> = {
    ImportStatus: 'Imported',
    ImportMessage: `Imported as a line of invoice proposal ${proposal.ProposalId}`,
    InvoiceProposalId: proposal.ProposalId,
  };
  if (context.importedOn !== undefined) rowUpdate.ImportedOn = context.importedOn;
  return { kind: 'line', line, rowUpdate };
}

function assertLinesOf(proposal: Proposal, lines: readonly ProposalLine[]): void {
  for (const line of lines) {
    if (line.ProposalId !== proposal.ProposalId) {
      throw new Error(`Line ${line.LineId} belongs to proposal ${line.ProposalId}, not ${proposal.ProposalId}`);
    }
  }
}

/**
 * The proposal with `lines` added to ImportedLineCount / ImportedAmount / ImportedTax (decimal).
 * Pass only lines newly created by this run, under an ETag-guarded update; otherwise prefer
 * `reconcileFromLines`. A proposal whose tax was never counted (ImportedTax absent) keeps it
 * absent: only a recount from all its lines can know it.
 */
export function applyLines(proposal: Proposal, lines: readonly ProposalLine[]): Proposal {
  assertLinesOf(proposal, lines);
  const next: Proposal = {
    ...proposal,
    ImportedLineCount: proposal.ImportedLineCount + lines.length,
    ImportedAmount: amount(sum([proposal.ImportedAmount, ...lines.map((l) => l.LineAmount)])),
  };
  if (proposal.ImportedTax !== undefined) next.ImportedTax = amount(sum([proposal.ImportedTax, ...lines.map((l) => l.SalesTaxAmount)]));
  return next;
}

/**
 * The proposal with ImportedLineCount / ImportedAmount / ImportedTax recomputed from all its
 * stored lines (duplicates by LineId counted once).
 */
export function reconcileFromLines(proposal: Proposal, allLines: readonly ProposalLine[]): Proposal {
  assertLinesOf(proposal, allLines);
  const unique = [...new Map(allLines.map((l) => [l.LineId, l] as const)).values()];
  return {
    ...proposal,
    ImportedLineCount: unique.length,
    ImportedAmount: amount(sum(unique.map((l) => l.LineAmount))),
    ImportedTax: amount(sum(unique.map((l) => l.SalesTaxAmount))),
  };
}

/** Whether a recount changed the imported counters (then the header is rewritten). */
export function countersDiffer(a: Proposal, b: Proposal): boolean {
  return a.ImportedLineCount !== b.ImportedLineCount || a.ImportedAmount !== b.ImportedAmount || a.ImportedTax !== b.ImportedTax;
}
