/**
 * Rules of corrective invoices (domain.md step 12), pure: which invoices may be corrected, the ids
 * of a correction, what a corrective ILD is worth, and the corrective Draft built from the billed
 * lines of the invoice it corrects. The confirmation of a corrective invoice:
 * confirmation/corrections.ts. Why each choice: docs/decisions/corrections.md.
 *
 * A corrective ILD names the billed sales actual it corrects (msdyn_originalbilledactual). Its
 * quantity is the quantity KEPT of that line (0 = a full credit, up to the original's quantity);
 * its amount and tax are the CHANGE the correction makes: what is kept minus what was billed, so
 * negative for a credit, and the invoice's totals (sums of its ILDs) are the corrective invoice's
 * net credit, as the contract says every invoice's totals are.
 */
import { BusinessError } from '../../core/errors';
import { deterministicGuid } from '../../core/ids';
import { labelOf } from '../../core/labels';
import { amount, dec } from '../../core/money';
import { InvoiceStatus, TransactionType } from '../../core/options';
import type { Actual, ContractLine, Invoice, InvoiceLine, InvoiceLineDetail } from '../records';
import { detailAmount, invoiceLineId, totalsOf } from './invoiceRules';

/** The statuses an invoice may be corrected from. */
export const CORRECTABLE_STATUSES: readonly number[] = [InvoiceStatus.Confirmed, InvoiceStatus.Posted];

/** Why an invoice cannot be corrected (its status), or undefined. */
export function correctionStatusRefusal(invoice: Invoice): string | undefined {
  if (CORRECTABLE_STATUSES.includes(invoice.msdyn_projectinvoicestatus)) return undefined;
  const status = labelOf.invoiceStatus(invoice.msdyn_projectinvoicestatus);
  const editable = invoice.msdyn_projectinvoicestatus === InvoiceStatus.Draft || invoice.msdyn_projectinvoicestatus === InvoiceStatus.InReview;
  return `Invoice ${invoice.invoicenumber} is ${status}; only a Confirmed or Posted invoice can be corrected.${editable ? ' While it is not confirmed, change it directly (PATCH or DELETE its details).' : ''}`;
}

/** The id of the n-th correction of an invoice (n = 1, 2, ...): one per number, so two requests cannot both open one. */
export function correctiveInvoiceId(originalInvoiceId: string, n: number): string {
  return deterministicGuid(originalInvoiceId, 'correction', String(n));
}

/** The corrective ILD of one billed actual. */
export function correctiveDetailId(correctiveInvoiceId: string, billedActualId: string): string {
  return deterministicGuid(correctiveInvoiceId, 'corrective-ild', billedActualId);
}

/**
 * A billed line a correction can take: a billed sales actual that is not itself a reversal and not
 * corrected already (Adjusted by an earlier confirmed correction).
 */
export function isCorrectable(actual: Actual): boolean {
  return actual.msdyn_transactiontypecode === TransactionType.BilledSales && actual.msdyn_reversedactual === undefined && actual.msdyn_adjustmentstatus === undefined;
}

/** What correcting a billed actual to a kept quantity is worth. */
export interface CorrectiveFigures {
  /** The quantity kept (billed again) and credited (back to the backlog). */
  kept: string;
  credited: string;
  /** The kept quantity's amount and tax (0.00 when nothing is kept). */
  keptAmount: string;
  keptTax: string;
  /** The ILD's amount and tax: kept minus billed. */
  amount: string;
  tax: string;
}

/**
 * The figures of keeping `kept` of a billed actual: the kept amount at the billed price and billing
 * type; its tax the billed tax in proportion to the quantity (rounded to the cent).
 */
export function correctiveFigures(billed: Actual, kept: string): CorrectiveFigures {
  const keptQty = dec(kept);
  const billedQty = dec(billed.msdyn_quantity);
  const billedTax = dec(billed.msdyn_salestaxamount ?? '0');
  const keptAmount = keptQty.isZero() ? '0.00' : detailAmount(kept, billed.msdyn_price, billed.msdyn_billingtype);
  const keptTax = keptQty.isZero() || billedQty.isZero() ? '0.00' : keptQty.equals(billedQty) ? amount(billedTax) : amount(billedTax.times(keptQty).dividedBy(billedQty));
  return {
    kept: keptQty.toFixed(),
    credited: billedQty.minus(keptQty).toFixed(),
    keptAmount,
    keptTax,
    amount: amount(dec(keptAmount).minus(dec(billed.msdyn_amount))),
    tax: amount(dec(keptTax).minus(billedTax)),
  };
}

/**
 * Why `kept` cannot be kept of this billed actual, or undefined: between 0 and the billed
 * quantity; a milestone is credited in full only (0) or kept whole.
 */
export function keptQuantityRefusal(billed: Actual, kept: string, milestone: boolean): string | undefined {
  const keptQty = dec(kept);
  const billedQty = dec(billed.msdyn_quantity);
  if (keptQty.isNegative()) return `the quantity kept cannot be negative (${kept}); 0 credits the line in full`;
  if (keptQty.greaterThan(billedQty)) return `the quantity kept (${kept}) cannot exceed the quantity billed (${billed.msdyn_quantity}); a correction only credits`;
  if (milestone && !keptQty.isZero() && !keptQty.equals(billedQty)) return `a milestone is credited in full only: its quantity is 0 (credit) or ${billed.msdyn_quantity} (keep)`;
  return undefined;
}

export interface CorrectiveDraftInput {
  correctiveInvoiceId: string;
  invoicenumber: string;
  original: Invoice;
  /** The correctable billed actuals of the original (isCorrectable), each one corrective ILD. */
  billed: readonly Actual[];
  /** Billed actual id -> the milestone it billed (from the original's milestone ILDs). */
  milestoneOfBilled: ReadonlyMap<string, string>;
  contractLines: ReadonlyMap<string, ContractLine>;
  invoiceDate: string;
  name?: string;
}

/**
 * The corrective Draft: the original's customer, contract and currency, `msdyn_correctedinvoice` =
 * the original; one line per contract line; one ILD per billed actual at quantity 0 (a full
 * credit: amount and tax the billed ones negated); totals summed from the ILDs.
 */
export function buildCorrectiveDraft(input: CorrectiveDraftInput): { invoice: Invoice; lines: InvoiceLine[]; details: InvoiceLineDetail[] } {
  const { original, correctiveInvoiceId: invoiceId } = input;
  if (input.billed.length === 0) throw new BusinessError(`Invoice ${original.invoicenumber} has no billed line left to correct.`, { reference: original.invoicenumber });
  const details: InvoiceLineDetail[] = [...input.billed]
    .sort((a, b) => (a.msdyn_actualid < b.msdyn_actualid ? -1 : a.msdyn_actualid > b.msdyn_actualid ? 1 : 0))
    .map((b) => {
      const figures = correctiveFigures(b, '0');
      const detail: InvoiceLineDetail = {
        msdyn_invoicelinetransactionid: correctiveDetailId(invoiceId, b.msdyn_actualid),
        msdyn_invoice: invoiceId,
        msdyn_invoicelineid: invoiceLineId(invoiceId, b.msdyn_salescontractlineid),
        msdyn_salescontractlineid: b.msdyn_salescontractlineid,
        msdyn_project: b.msdyn_project,
        msdyn_transactionclassification: b.msdyn_transactionclassification,
        msdyn_billingtype: b.msdyn_billingtype,
        msdyn_quantity: '0',
        msdyn_price: b.msdyn_price,
        msdyn_amount: figures.amount,
        msdyn_tax: figures.tax,
        transactioncurrencyid: b.transactioncurrencyid,
        msdyn_documentdate: b.msdyn_documentdate,
        msdyn_originalbilledactual: b.msdyn_actualid,
      };
      const milestone = input.milestoneOfBilled.get(b.msdyn_actualid);
      if (milestone !== undefined) detail.msdyn_milestone = milestone;
      return detail;
    });
  const lines: InvoiceLine[] = [...new Set(details.map((d) => d.msdyn_salescontractlineid))].sort().map((contractLineId) => {
    const contractLine = input.contractLines.get(contractLineId);
    if (!contractLine) throw new BusinessError(`Invoice ${original.invoicenumber} bills contract line ${contractLineId}, which is no longer on contract ${original.salesorderid}; it cannot be corrected here.`, { reference: original.invoicenumber });
    return {
      invoicedetailid: invoiceLineId(invoiceId, contractLineId),
      invoiceid: invoiceId,
      salesorderdetailid: contractLineId,
      msdyn_billingmethod: contractLine.msdyn_billingmethod,
      extendedamount: '0.00',
      tax: '0.00',
    };
  });
  const totals = totalsOf(lines, details);
  const invoice: Invoice = {
    invoiceid: invoiceId,
    invoicenumber: input.invoicenumber,
    name: input.name ?? `Correction of ${original.invoicenumber}`,
    customerid: original.customerid,
    salesorderid: original.salesorderid,
    transactioncurrencyid: original.transactioncurrencyid,
    msdyn_projectinvoicestatus: InvoiceStatus.Draft,
    msdyn_invoicedate: input.invoiceDate,
    totalamount: totals.totalamount,
    totaltax: totals.totaltax,
    msdyn_correctedinvoice: original.invoiceid,
  };
  return { invoice, lines: totals.lines, details };
}

