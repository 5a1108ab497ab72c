/**
 * Posting an invoice proposal (domain step 10) as a pure plan: the customer invoice, one
 * summarized voucher in the accounting currency (one entry per main account and project; the
 * rounding difference of converting per line on the largest line, so it balances exactly), the
 * invoiced transactions and every line's accounting details. A credit proposal (domain step 12)
 * plans a credit note the same way: negative amounts, the sides of the voucher reversed by the
 * signs, the work in progress of the credited transactions re-accrued and those transactions no
 * longer fully invoiced. The I/O: shared/finance/posting/.
 * Decisions: docs/decisions/posting.md, docs/decisions/credit-notes.md.
 */
import type { AccountingDetail } from '../../messages';
import type { CustomerInvoice, ExchangeRate, LedgerEntry, Proposal, ProposalLine, ProjectTransaction } from '../records';
import { lookupRate, toAccounting } from './exchange';
import { buildVoucher, credit, debit, type LedgerLine } from './ledger';
import { shortHash } from '../../core/ids';
import { amount, dec, sum } from '../../core/money';
import { describeShortfall, meetsExpectation } from './completeness';

/** Customer invoice number sequence: 1 -> "CIV-000001" (more digits past 999999). */
export function formatCustomerInvoiceId(n: number): string {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new RangeError(`A customer invoice number must be a positive integer, got ${String(n)}`);
  }
  return `CIV-${String(n).padStart(6, '0')}`;
}

/** "CIV-000042" -> 42; undefined for anything else. */
export function parseCustomerInvoiceId(id: string): number | undefined {
  const match = /^CIV-(\d{6,})$/.exec(id);
  return match ? Number(match[1]) : undefined;
}

/** The voucher of a proposal's posting: the same on every retry. */
export function postingVoucher(proposalId: string): string {
  return `PIV-${shortHash(10, proposalId)}`;
}

export interface PostingInput {
  proposal: Proposal;
  /** All stored lines of the proposal. */
  lines: readonly ProposalLine[];
  /** The project transactions the billed lines bill (TransId = the lines' UnbilledActualId). */
  unbilledTransactions: readonly ProjectTransaction[];
  /** A credit proposal's corrected proposal as stored (undefined when it is not in F&O); ignored for other proposals. */
  correctedProposal?: Proposal;
  rates: readonly ExchangeRate[];
  accountingCurrency: string;
  postingDate: string;
  customerInvoiceId: string;
  /** Timestamp for the proposal's PostedOn; defaults to `${postingDate}T00:00:00.000Z`. */
  postedOn?: string;
}

export type PostingPlan =
  | { ok: false; reason: string }
  | {
      ok: true;
      customerInvoice: CustomerInvoice;
      ledger: LedgerEntry[];
      transactionsInvoiced: ProjectTransaction[];
      /**
       * Credit notes: the transactions the reversal lines credit, as they must be stored (not
       * fully invoiced, CustomerInvoiceId removed, CreditNoteId and CreditedInvoiceId set): written
       * whole (Replace), since a merge cannot remove CustomerInvoiceId. Empty for other proposals.
       */
      transactionsCredited: ProjectTransaction[];
      proposalUpdate: Pick<Proposal, 'Status' | 'CustomerInvoiceId' | 'Voucher' | 'PostedOn'>;
      accounting: AccountingDetail[];
    };

function refuse(reason: string): PostingPlan {
  return { ok: false, reason };
}

/**
 * Why a credit proposal cannot be posted yet with respect to the proposal it corrects, or
 * undefined (also for ordinary proposals). A credit note credits a posted customer invoice, so the
 * corrected proposal must be in F&O, belong to the corrected invoice, be in the same currency and
 * be Posted. `corrected` is the stored proposal named by CorrectedProposalId.
 */
export function creditPostingRefusal(proposal: Proposal, corrected: Proposal | undefined): string | undefined {
  const of = proposal.CorrectedProposalId;
  if (of === undefined) return undefined;
  const id = proposal.ProposalId;
  if (corrected === undefined) {
    return (
      `Credit proposal ${id} corrects invoice proposal ${of}, which is not in F&O: a credit note can only credit a posted customer invoice. ` +
      `Check that proposal ${of} was synchronized (the trace of invoice ${proposal.CorrectedInvoiceId ?? '(not named)'}), post it, then post ${id}`
    );
  }
  if (corrected.ProposalId !== of) throw new Error(`Proposal ${corrected.ProposalId} given as the corrected proposal of ${id}, which corrects ${of}`);
  if (proposal.CorrectedInvoiceId !== undefined && corrected.InvoiceId !== proposal.CorrectedInvoiceId) {
    return (
      `Credit proposal ${id} corrects invoice ${proposal.CorrectedInvoiceId}, but invoice proposal ${of} belongs to invoice ${corrected.InvoiceId}; ` +
      'the corrective invoice names the wrong original. Correct the corrective invoice in Dataverse'
    );
  }
  if (corrected.CurrencyCode !== proposal.CurrencyCode) {
    return `Credit proposal ${id} is in ${proposal.CurrencyCode} but the invoice proposal ${of} it corrects is in ${corrected.CurrencyCode}; a credit note is in the currency of the invoice it credits`;
  }
  if (corrected.Status !== 'Posted') {
    return (
      `Credit proposal ${id} corrects invoice proposal ${of}, which is ${corrected.Status} (not posted yet): a credit note credits a posted customer invoice. ` +
      `Post ${of} first (POST /api/finance/proposals/${of}/post), then ${id}`
    );
  }
  if (corrected.CustomerInvoiceId === undefined) {
    return `Credit proposal ${id} corrects invoice proposal ${of}, which is Posted but names no customer invoice; check how ${of} was posted before crediting it`;
  }
  return undefined;
}

/** Whether a line credits the transaction it names: a billed sales reversal of a billed actual (negative). */
export function creditsTransaction(line: Pick<ProposalLine, 'ReversedActualId' | 'Quantity' | 'LineAmount'>): boolean {
  return line.ReversedActualId !== undefined && (dec(line.Quantity).lt(0) || dec(line.LineAmount).lt(0));
}

/**
 * Whether a line bills (invoices) the transaction it names: any billed line, and a reversal only
 * when it is positive (a reversal of a credit line, in a correction of a correction).
 */
function billsTransaction(line: Pick<ProposalLine, 'ReversedActualId' | 'Quantity' | 'LineAmount'>): boolean {
  return line.ReversedActualId === undefined || dec(line.Quantity).gt(0) || dec(line.LineAmount).gt(0);
}

/**
 * A credited transaction as stored once this credit note credited it: not fully invoiced, no
 * CustomerInvoiceId, CreditNoteId = the credit note, CreditedInvoiceId = the customer invoice it was
 * invoiced by (kept from the first time, so a retry plans the very same record).
 */
function asCredited(t: ProjectTransaction, creditNoteId: string, correctedInvoiceId: string | undefined): ProjectTransaction {
  const { CustomerInvoiceId: invoicedBy, CreditedInvoiceId: creditedBefore, ...rest } = t;
  const creditedFrom = t.CreditNoteId === creditNoteId ? creditedBefore : (invoicedBy ?? correctedInvoiceId);
  const out: ProjectTransaction = { ...rest, FullyInvoiced: false, CreditNoteId: creditNoteId };
  if (creditedFrom !== undefined) out.CreditedInvoiceId = creditedFrom;
  return out;
}

export function planPosting(input: PostingInput): PostingPlan {
  const { proposal, accountingCurrency, postingDate, customerInvoiceId } = input;
  const id = proposal.ProposalId;

  if (proposal.Status === 'Posted') {
    return refuse(
      `Invoice proposal ${id} is already posted as customer invoice ${proposal.CustomerInvoiceId ?? '(unknown)'}` +
        `${proposal.Voucher ? ` (voucher ${proposal.Voucher})` : ''}; a proposal can be posted only once`,
    );
  }
  if (proposal.Status !== 'Open') {
    return refuse(`Invoice proposal ${id} has status ${String(proposal.Status)}; only an Open proposal can be posted`);
  }

  const foreign = input.lines.filter((l) => l.ProposalId !== id);
  if (foreign.length > 0) {
    return refuse(`Lines ${foreign.map((l) => l.LineId).join(', ')} do not belong to invoice proposal ${id}`);
  }
  const lines = [...new Map(input.lines.map((l) => [l.LineId, l] as const)).values()];
  const imported = { lineCount: lines.length, amount: amount(sum(lines.map((l) => l.LineAmount))), tax: amount(sum(lines.map((l) => l.SalesTaxAmount))) };
  if (!meetsExpectation(proposal, imported)) {
    return refuse(
      `Invoice proposal ${id} is incomplete: ${describeShortfall(proposal, imported)}. Post it once the remaining billed actuals are imported ` +
        `(their staging rows say what they wait for)`,
    );
  }
  if (lines.length === 0) {
    return refuse(`Invoice proposal ${id} has no lines; there is nothing to post`);
  }
  const otherCurrency = lines.filter((l) => l.CurrencyCode !== proposal.CurrencyCode);
  if (otherCurrency.length > 0) {
    return refuse(
      `Invoice proposal ${id} is in ${proposal.CurrencyCode} but lines ${otherCurrency.map((l) => `${l.LineId} (${l.CurrencyCode})`).join(', ')} are not`,
    );
  }

  const credit = proposal.CorrectedProposalId !== undefined;
  const creditRefusal = creditPostingRefusal(proposal, input.correctedProposal);
  if (creditRefusal !== undefined) return refuse(creditRefusal);
  const reversals = lines.filter((l) => l.ReversedActualId !== undefined);
  if (!credit && reversals.length > 0) {
    return refuse(
      `Invoice proposal ${id} is not a credit proposal but lines ${reversals.map((l) => l.LineId).join(', ')} reverse billed actuals; ` +
        'billed sales reversals belong on a corrective invoice',
    );
  }
  const correctedInvoiceId = credit ? input.correctedProposal?.CustomerInvoiceId : undefined;

  const byTransId = new Map(input.unbilledTransactions.map((t) => [t.TransId, t] as const));
  const missing = [...new Set(lines.flatMap((l) => (l.UnbilledActualId === undefined || byTransId.has(l.UnbilledActualId) ? [] : [l.UnbilledActualId])))];
  if (missing.length > 0) {
    return refuse(
      `Invoice proposal ${id} cannot be posted: the project transactions ${missing.join(', ')} that its lines bill were not found`,
    );
  }

  const found = lookupRate(input.rates, proposal.CurrencyCode, accountingCurrency, postingDate);
  if (!found.ok) return refuse(`Invoice proposal ${id} cannot be posted: ${found.reason}`);
  const exchangeRate = found.rate;
  const voucher = postingVoucher(id);

  // Credit notes: the transactions the reversal lines credit, each once, in line order. A
  // transaction this credit note credited already (a retry) is planned the same way; one that is
  // not invoiced (credited by an earlier credit note) has nothing to re-accrue.
  const credited: ProjectTransaction[] = [];
  const creditedIds = new Set<string>();
  for (const line of lines) {
    if (!creditsTransaction(line) || line.UnbilledActualId === undefined || creditedIds.has(line.UnbilledActualId)) continue;
    creditedIds.add(line.UnbilledActualId);
    const t = byTransId.get(line.UnbilledActualId)!;
    if (t.CreditNoteId === customerInvoiceId || t.FullyInvoiced) credited.push(t);
  }
  // Unbilled transactions to reverse and mark, each once, in line order.
  const invoiced: ProjectTransaction[] = [];
  const seen = new Set<string>();
  for (const line of lines) {
    if (!billsTransaction(line) || line.UnbilledActualId === undefined || seen.has(line.UnbilledActualId)) continue;
    seen.add(line.UnbilledActualId);
    if (creditedIds.has(line.UnbilledActualId)) {
      return refuse(
        `Invoice proposal ${id} both credits and bills project transaction ${line.UnbilledActualId} (line ${line.LineId}); ` +
          'a kept quantity is billed again from a new unbilled actual. Check the corrective invoice in Dataverse',
      );
    }
    const t = byTransId.get(line.UnbilledActualId)!;
    if (t.FullyInvoiced && t.CustomerInvoiceId !== undefined && t.CustomerInvoiceId !== customerInvoiceId) continue;
    invoiced.push(t);
  }

  const invoiceAmount = amount(sum(lines.map((l) => l.LineAmount)));
  const taxAmount = amount(sum(lines.map((l) => l.SalesTaxAmount)));
  const totalAmount = amount(dec(invoiceAmount).plus(dec(taxAmount)));
  const customerAccounting = toAccounting(totalAmount, exchangeRate);
  const taxAccounting = toAccounting(taxAmount, exchangeRate);

  // Revenue per line, with the rounding difference on the largest line.
  const lineAccounting = lines.map((l) => toAccounting(l.LineAmount, exchangeRate));
  const revenueTotal = dec(customerAccounting).minus(dec(taxAccounting));
  const difference = revenueTotal.minus(sum(lineAccounting));
  if (!difference.isZero()) {
    let largest = 0;
    lines.forEach((l, i) => {
      if (dec(l.LineAmount).abs().greaterThan(dec(lines[largest]!.LineAmount).abs())) largest = i;
    });
    lineAccounting[largest] = amount(dec(lineAccounting[largest]!).plus(difference));
  }

  const ledgerLines = summarizedLedgerLines({
    proposalId: id,
    customerInvoiceId,
    correctedInvoiceId,
    customerAccount: proposal.CustomerAccount,
    currency: proposal.CurrencyCode,
    invoiced,
    credited,
    lines,
    lineAccounting,
    customerAccounting,
    totalAmount,
    taxAccounting,
    taxAmount,
  });
  const ledger = buildVoucher(voucher, postingDate, ledgerLines);

  const customerInvoice: CustomerInvoice = {
    InvoiceId: customerInvoiceId,
    ProposalId: id,
    CustomerAccount: proposal.CustomerAccount,
    InvoiceDate: postingDate,
    CurrencyCode: proposal.CurrencyCode,
    InvoiceAmount: invoiceAmount,
    SalesTaxAmount: taxAmount,
    TotalAmount: totalAmount,
    AccountingAmount: customerAccounting,
    Voucher: voucher,
  };
  if (credit) {
    customerInvoice.CorrectedProposalId = proposal.CorrectedProposalId!;
    if (correctedInvoiceId !== undefined) customerInvoice.CorrectedInvoiceId = correctedInvoiceId;
  }
  const accounting: AccountingDetail[] = lines.map((l, i) => ({
    actualId: l.ActualId,
    contractId: proposal.ContractId,
    voucher,
    postingDate,
    accountingCurrency,
    accountingAmount: lineAccounting[i]!,
    exchangeRate,
    salesTaxAmount: amount(l.SalesTaxAmount),
  }));
  return {
    ok: true,
    customerInvoice,
    ledger,
    transactionsInvoiced: invoiced.map((t) => ({ ...t, FullyInvoiced: true, CustomerInvoiceId: customerInvoiceId })),
    transactionsCredited: credited.map((t) => asCredited(t, customerInvoiceId, correctedInvoiceId)),
    proposalUpdate: {
      Status: 'Posted',
      CustomerInvoiceId: customerInvoiceId,
      Voucher: voucher,
      PostedOn: input.postedOn ?? `${postingDate}T00:00:00.000Z`,
    },
    accounting,
  };
}

interface SummaryInput {
  proposalId: string;
  customerInvoiceId: string;
  /** A credit note: the customer invoice it credits. */
  correctedInvoiceId: string | undefined;
  customerAccount: string;
  currency: string;
  invoiced: readonly ProjectTransaction[];
  /** A credit note: the transactions whose work in progress is re-accrued. */
  credited: readonly ProjectTransaction[];
  lines: readonly ProposalLine[];
  /** Accounting amount of each line (same order as `lines`), rounding difference included. */
  lineAccounting: readonly string[];
  customerAccounting: string;
  totalAmount: string;
  taxAccounting: string;
  taxAmount: string;
}

interface ProjectGroup<T> {
  projectId: string;
  items: T[];
}

/** Items grouped by project, projects in ascending id order (the same on every run). */
function byProject<T>(items: readonly T[], projectOf: (item: T) => string): ProjectGroup<T>[] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = projectOf(item);
    let list = groups.get(key);
    if (!list) groups.set(key, (list = []));
    list.push(item);
  }
  return [...groups.keys()].sort().map((projectId) => ({ projectId, items: groups.get(projectId)! }));
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

const TRANS_TYPE_ORDER: readonly string[] = ['Hour', 'Expense', 'Item', 'Fee', 'OnAccount'];

/** "Hour 3, Expense 1": line counts per type, in a fixed type order (whatever the lines' order). */
function transTypeCounts(lines: readonly ProposalLine[]): string {
  const counts = new Map<string, number>();
  for (const l of lines) counts.set(l.TransType, (counts.get(l.TransType) ?? 0) + 1);
  const rank = (type: string) => (TRANS_TYPE_ORDER.includes(type) ? TRANS_TYPE_ORDER.indexOf(type) : TRANS_TYPE_ORDER.length);
  return [...counts]
    .sort(([a], [b]) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0))
    .map(([type, n]) => `${type} ${n}`)
    .join(', ');
}

/**
 * The posting voucher's lines, summarized as F&O posts a summarized voucher: one line per
 * (MainAccount, ProjectId) for the accrual reversal, the re-accrual of credited transactions (a
 * credit note) and the revenue, one customer balance line and one sales tax line. A credit note's
 * negative amounts turn debit and credit around by themselves: credit CustomerBalance, debit
 * Revenue and SalesTaxPayable. Every line's Reference is the customer invoice id; its Text says what
 * it sums (how many transactions or lines, of which proposal). The per-account totals are the
 * same as one line per transaction and per proposal line would give.
 */
function summarizedLedgerLines(s: SummaryInput): LedgerLine[] {
  const on = `${s.customerInvoiceId} (proposal ${s.proposalId})`;
  const out: LedgerLine[] = [];
  for (const { projectId, items } of byProject(s.invoiced, (t) => t.ProjectId)) {
    const total = amount(sum(items.map((t) => t.AccountingAmount)));
    const extra = {
      projectId,
      reference: s.customerInvoiceId,
      text: `Reverse accrued revenue of ${plural(items.length, 'unbilled transaction', 'unbilled transactions')} invoiced on ${on}`,
    };
    out.push(debit('AccruedRevenue', total, extra), credit('WIPSalesValue', total, extra));
  }
  // A credit note: the opposite of what invoicing the credited transactions did.
  for (const { projectId, items } of byProject(s.credited, (t) => t.ProjectId)) {
    const total = amount(sum(items.map((t) => t.AccountingAmount)));
    const extra = {
      projectId,
      reference: s.customerInvoiceId,
      text: `Re-accrue work in progress of ${plural(items.length, 'unbilled transaction', 'unbilled transactions')} credited on ${on}`,
    };
    out.push(debit('WIPSalesValue', total, extra), credit('AccruedRevenue', total, extra));
  }
  const document = s.correctedInvoiceId === undefined ? `Customer invoice ${on}` : `Credit note ${on} of customer invoice ${s.correctedInvoiceId}`;
  // Debit positive: a credit note's negative total credits the customer balance.
  out.push(
    debit('CustomerBalance', s.customerAccounting, {
      reference: s.customerInvoiceId,
      text: `${document} ${s.totalAmount} ${s.currency}, account ${s.customerAccount}`,
    }),
  );
  const indexed = s.lines.map((line, i) => ({ line, accounting: s.lineAccounting[i]! }));
  for (const { projectId, items } of byProject(indexed, (x) => x.line.ProjectId)) {
    const lines = items.map((x) => x.line);
    out.push(
      credit('Revenue', amount(sum(items.map((x) => x.accounting))), {
        projectId,
        reference: s.customerInvoiceId,
        text: `Revenue of ${plural(lines.length, 'line', 'lines')} (${transTypeCounts(lines)}) ${amount(sum(lines.map((l) => l.LineAmount)))} ${s.currency} on ${on}`,
      }),
    );
  }
  out.push(
    credit('SalesTaxPayable', s.taxAccounting, { reference: s.customerInvoiceId, text: `Sales tax ${s.taxAmount} ${s.currency} on ${on}` }),
  );
  return out;
}

/** Staging row fields of a billed row once its proposal is posted (accounting details on every billed staging row). */
export function billedRowAccounting(detail: AccountingDetail): {
  VoucherNumber: string;
  PostingDate: string;
  AccountingCurrency: string;
  AccountingAmount: string;
  ExchangeRate: string;
  SalesTaxAmount?: string;
} {
  const update: ReturnType<typeof billedRowAccounting> = {
    VoucherNumber: detail.voucher,
    PostingDate: detail.postingDate,
    AccountingCurrency: detail.accountingCurrency,
    AccountingAmount: detail.accountingAmount,
    ExchangeRate: detail.exchangeRate,
  };
  if (detail.salesTaxAmount !== undefined) update.SalesTaxAmount = detail.salesTaxAmount;
  return update;
}
