/**
 * Posting an invoice proposal (domain step 10) as a pure plan; postInvoiceProposal does the I/O.
 *
 * The plan for a complete, open proposal is one voucher (`PIV-` + hash of the proposal id, the
 * same on every retry) in the accounting currency:
 *   for each invoiced unbilled transaction: debit AccruedRevenue, credit WIPSalesValue, by the
 *     transaction's AccountingAmount as posted at import (reverses the accrual);
 *   debit CustomerBalance by the invoice total including tax, converted at the posting-date rate;
 *   credit SalesTaxPayable by the total tax, converted;
 *   credit Revenue per line by the line amount, converted.
 * Rounding: converting per line can differ by cents from converting the totals. The customer
 * balance and the tax are converted as totals, and the difference goes to the Revenue entry of the
 * line with the largest absolute amount (first such line), so the voucher balances to exactly zero
 * and the customer balance equals the converted invoice total. That line's accounting detail
 * carries the adjusted amount, so the lines' accounting amounts add up to the revenue posted.
 *
 * Decisions:
 * - The customer invoice id comes from the caller (its number sequence, `formatCustomerInvoiceId`);
 *   a retry after a crash must reuse the id it reserved for this proposal.
 * - An unbilled transaction already fully invoiced by another customer invoice (a credit
 *   proposal's lines point at transactions invoiced before) is not reversed again and not marked
 *   again; one already marked with this customer invoice id (a retry) is planned the same way.
 * - Customer invoice date = posting date. PostedOn defaults to the posting date at 00:00 UTC.
 * - Accounting details carry the line's sales tax in the transaction currency (as on the actual).
 */
import type { AccountingDetail } from '../messaging/schemas';
import type { CustomerInvoice, ExchangeRate, LedgerEntry, Proposal, ProposalLine, ProjectTransaction } from './finance';
import { lookupRate, toAccounting } from './foExchange';
import { buildVoucher, credit, debit, type LedgerLine } from './foLedger';
import { shortHash } from './ids';
import { amount, dec, eq, sum } from './money';

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
      proposalUpdate: Pick<Proposal, 'Status' | 'CustomerInvoiceId' | 'Voucher' | 'PostedOn'>;
      accounting: AccountingDetail[];
    };

function refuse(reason: string): PostingPlan {
  return { ok: false, reason };
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
  const importedAmount = amount(sum(lines.map((l) => l.LineAmount)));
  if (lines.length !== proposal.ExpectedLineCount || !eq(importedAmount, proposal.ExpectedAmount)) {
    return refuse(
      `Invoice proposal ${id} is incomplete: expected ${proposal.ExpectedLineCount} lines totalling ` +
        `${amount(proposal.ExpectedAmount)} ${proposal.CurrencyCode}, imported ${lines.length} lines totalling ` +
        `${importedAmount} ${proposal.CurrencyCode}. Post it once the remaining billed actuals are imported ` +
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

  // Unbilled transactions to reverse and mark, each once, in line order.
  const invoiced: ProjectTransaction[] = [];
  const seen = new Set<string>();
  for (const line of lines) {
    if (line.UnbilledActualId === undefined || seen.has(line.UnbilledActualId)) continue;
    seen.add(line.UnbilledActualId);
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

  const ledgerLines: LedgerLine[] = [];
  for (const t of invoiced) {
    const extra = { projectId: t.ProjectId, reference: t.TransId, text: `Reverse accrued revenue of ${t.TransId}` };
    ledgerLines.push(debit('AccruedRevenue', t.AccountingAmount, extra), credit('WIPSalesValue', t.AccountingAmount, extra));
  }
  ledgerLines.push(
    debit('CustomerBalance', customerAccounting, {
      reference: customerInvoiceId,
      text: `Customer invoice ${customerInvoiceId} ${totalAmount} ${proposal.CurrencyCode}, account ${proposal.CustomerAccount}`,
    }),
  );
  lines.forEach((l, i) => {
    ledgerLines.push(
      credit('Revenue', lineAccounting[i]!, {
        projectId: l.ProjectId,
        reference: l.ActualId,
        text: `${l.TransType} ${l.LineAmount} ${l.CurrencyCode} on ${customerInvoiceId}`,
      }),
    );
  });
  ledgerLines.push(
    credit('SalesTaxPayable', taxAccounting, { reference: customerInvoiceId, text: `Sales tax ${taxAmount} ${proposal.CurrencyCode} on ${customerInvoiceId}` }),
  );
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
    proposalUpdate: {
      Status: 'Posted',
      CustomerInvoiceId: customerInvoiceId,
      Voucher: voucher,
      PostedOn: input.postedOn ?? `${postingDate}T00:00:00.000Z`,
    },
    accounting,
  };
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
