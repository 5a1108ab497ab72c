/**
 * Rules of proforma invoices on the Dataverse side (domain.md step 5), pure: which invoices may
 * change, ILD amounts and tax, totals, the ids of what an invoice is made of, and the draft an
 * invoice request builds from the ready backlog. Decisions: docs/decisions/proforma-invoices.md.
 */
import { BusinessError } from '../../core/errors';
import { deterministicGuid } from '../../core/ids';
import { labelOf } from '../../core/labels';
import { amount, dec, extend, sum } from '../../core/money';
import { BillingStatus, BillingType, InvoiceStatus, TransactionClass, TransactionType } from '../../core/options';
import type { Actual, Contract, ContractLine, Invoice, InvoiceLine, InvoiceLineDetail, Milestone } from '../records';

export const EDITABLE_INVOICE_STATUSES: readonly number[] = [InvoiceStatus.Draft, InvoiceStatus.InReview];

/** Refuse changes to an invoice that is not Draft or In Review, or whose confirmation was requested. */
export function assertEditable(invoice: Invoice, doing: string): void {
  if (!EDITABLE_INVOICE_STATUSES.includes(invoice.msdyn_projectinvoicestatus)) {
    throw new BusinessError(
      `Invoice ${invoice.invoicenumber} is ${labelOf.invoiceStatus(invoice.msdyn_projectinvoicestatus)}; ${doing} is allowed only while it is Draft or In Review. A confirmed invoice is read-only (correct it with a corrective invoice).`,
      { reference: invoice.invoicenumber },
    );
  }
  if (invoice.pi_confirmationrequestedon !== undefined) {
    throw new BusinessError(
      `Invoice ${invoice.invoicenumber}: its confirmation was requested at ${invoice.pi_confirmationrequestedon}, so ${doing} is no longer allowed; the invoice stays as it is while the confirmation runs. If the confirmation is refused, the reason is in the error log (GET /api/errors) and the invoice can be edited again.`,
      { reference: invoice.invoicenumber },
    );
  }
}

// ---- ids ------------------------------------------------------------------------------------

/** The invoice over a contract's ready items: the same items make the same invoice. */
export function proformaInvoiceId(contractId: string, readyIds: readonly string[]): string {
  return deterministicGuid('proforma-invoice', contractId, ...[...readyIds].sort());
}
export function invoiceLineId(invoiceId: string, contractLineId: string): string {
  return deterministicGuid(invoiceId, 'line', contractLineId);
}
export function invoiceDetailId(invoiceId: string, sourceId: string): string {
  return deterministicGuid(invoiceId, 'ild', sourceId);
}

// ---- amounts and tax --------------------------------------------------------------------------

/** The amount of an ILD: quantity x price when chargeable, 0.00 when non-chargeable or complimentary. */
export function detailAmount(quantity: string, price: string, billingType: number): string {
  return billingType === BillingType.NonChargeable || billingType === BillingType.Complimentary ? '0.00' : extend(quantity, price);
}

/** Tax of an amount at a percent, rounded to 2 decimals. */
export function taxAt(value: string, percent: string): string {
  return amount(dec(value).times(dec(percent)).dividedBy(100));
}

/**
 * The tax of an ILD whose amount changes from `oldAmount` to `newAmount` when the request says
 * nothing about tax: the ILD keeps its rate, the simplest percent with 2 decimals that reproduces
 * its current tax (19 for 228.00 on 1200.00), otherwise the exact ratio.
 */
export function rescaledTax(oldTax: string, oldAmount: string, newAmount: string): string {
  if (dec(oldTax).isZero() || dec(oldAmount).isZero()) return '0.00';
  const ratio = dec(oldTax).dividedBy(dec(oldAmount)).times(100);
  const simple = ratio.toDecimalPlaces(2);
  const percent = taxAt(oldAmount, simple.toFixed()) === amount(oldTax) ? simple : ratio;
  return amount(dec(newAmount).times(percent).dividedBy(100));
}

/** Line and invoice totals recomputed from the ILDs (contract: totals are the sums of the ILDs). */
export function totalsOf(lines: readonly InvoiceLine[], details: readonly InvoiceLineDetail[]): { lines: InvoiceLine[]; totalamount: string; totaltax: string } {
  const out = lines.map((line) => {
    const mine = details.filter((d) => d.msdyn_invoicelineid === line.invoicedetailid);
    return { ...line, extendedamount: amount(sum(mine.map((d) => d.msdyn_amount))), tax: amount(sum(mine.map((d) => d.msdyn_tax))) };
  });
  return {
    lines: out,
    totalamount: amount(sum(details.map((d) => d.msdyn_amount))),
    totaltax: amount(sum(details.map((d) => d.msdyn_tax))),
  };
}

// ---- the draft invoice of a contract's ready backlog --------------------------------------------

/** An unbilled actual that an invoice request takes: chargeable, Ready to Invoice, not adjusted. */
export function isReadyActual(a: Actual): boolean {
  return (
    a.msdyn_transactiontypecode === TransactionType.UnbilledSales &&
    a.msdyn_billingstatus === BillingStatus.ReadyToInvoice &&
    a.msdyn_billingtype === BillingType.Chargeable &&
    a.msdyn_adjustmentstatus === undefined
  );
}

export interface DraftInvoiceInput {
  invoiceId: string;
  invoicenumber: string;
  contract: Contract;
  /** The contract's lines by id; every ready item's line must be among them. */
  contractLines: ReadonlyMap<string, ContractLine>;
  readyActuals: readonly Actual[];
  readyMilestones: readonly Milestone[];
  invoiceDate: string;
  name?: string;
  /** Tax rate applied to every ILD ("19" = 19 %); none: tax 0.00. */
  taxPercent?: string;
}

export interface DraftInvoice {
  invoice: Invoice;
  lines: InvoiceLine[];
  details: InvoiceLineDetail[];
}

/**
 * The Draft proforma invoice over ready items: one line per contract line, one ILD per actual
 * (its class, billing type, quantity, price, document date and project) or milestone (class
 * Milestone, quantity 1, price = amount = the milestone amount), totals summed from the ILDs.
 */
export function buildDraftInvoice(input: DraftInvoiceInput): DraftInvoice {
  const { invoiceId, contract } = input;
  const taxOf = (value: string) => (input.taxPercent === undefined ? '0.00' : taxAt(value, input.taxPercent));
  const lineOf = (id: string) => {
    const line = input.contractLines.get(id);
    if (!line) throw new Error(`Contract line ${id} is not a line of contract ${contract.salesorderid}`);
    return line;
  };

  const details: InvoiceLineDetail[] = [];
  for (const a of input.readyActuals) {
    const value = detailAmount(a.msdyn_quantity, a.msdyn_price, a.msdyn_billingtype);
    details.push({
      msdyn_invoicelinetransactionid: invoiceDetailId(invoiceId, a.msdyn_actualid),
      msdyn_invoice: invoiceId,
      msdyn_invoicelineid: invoiceLineId(invoiceId, a.msdyn_salescontractlineid),
      msdyn_salescontractlineid: a.msdyn_salescontractlineid,
      msdyn_project: a.msdyn_project,
      msdyn_transactionclassification: a.msdyn_transactionclassification,
      msdyn_billingtype: a.msdyn_billingtype,
      msdyn_quantity: a.msdyn_quantity,
      msdyn_price: a.msdyn_price,
      msdyn_amount: value,
      msdyn_tax: taxOf(value),
      transactioncurrencyid: a.transactioncurrencyid,
      msdyn_documentdate: a.msdyn_documentdate,
      msdyn_sourceactual: a.msdyn_actualid,
    });
  }
  for (const m of input.readyMilestones) {
    const line = lineOf(m.msdyn_contractlineid);
    const value = amount(m.msdyn_amount);
    details.push({
      msdyn_invoicelinetransactionid: invoiceDetailId(invoiceId, m.msdyn_contractlinescheduleofvalueid),
      msdyn_invoice: invoiceId,
      msdyn_invoicelineid: invoiceLineId(invoiceId, m.msdyn_contractlineid),
      msdyn_salescontractlineid: m.msdyn_contractlineid,
      msdyn_project: line.msdyn_project,
      msdyn_transactionclassification: TransactionClass.Milestone,
      msdyn_billingtype: BillingType.Chargeable,
      msdyn_quantity: '1',
      msdyn_price: value,
      msdyn_amount: value,
      msdyn_tax: taxOf(value),
      transactioncurrencyid: contract.transactioncurrencyid,
      msdyn_documentdate: m.msdyn_milestonedate,
      msdyn_milestone: m.msdyn_contractlinescheduleofvalueid,
    });
  }
  const invoiceLines: InvoiceLine[] = [...new Set(details.map((d) => d.msdyn_salescontractlineid))].map((contractLineId) => ({
    invoicedetailid: invoiceLineId(invoiceId, contractLineId),
    invoiceid: invoiceId,
    salesorderdetailid: contractLineId,
    msdyn_billingmethod: lineOf(contractLineId).msdyn_billingmethod,
    extendedamount: '0.00',
    tax: '0.00',
  }));
  const totals = totalsOf(invoiceLines, details);
  const invoice: Invoice = {
    invoiceid: invoiceId,
    invoicenumber: input.invoicenumber,
    name: input.name ?? `${contract.name} ${input.invoiceDate}`,
    customerid: contract.customerid,
    salesorderid: contract.salesorderid,
    transactioncurrencyid: contract.transactioncurrencyid,
    msdyn_projectinvoicestatus: InvoiceStatus.Draft,
    msdyn_invoicedate: input.invoiceDate,
    totalamount: totals.totalamount,
    totaltax: totals.totaltax,
  };
  return { invoice, lines: totals.lines, details };
}
