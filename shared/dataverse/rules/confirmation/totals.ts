/**
 * Totals of a confirmation: per line and per invoice from the ILDs, and the proposal header F&O
 * receives, checked against them. Pure. The rules: docs/decisions/confirmation.md.
 */
import type { InvoiceProposalMessage } from '../../../messages';
import type { Account, Actual, Invoice, InvoiceLine, InvoiceLineDetail } from '../../records';
import { amount, dec, type Dec } from '../../../core/money';
import { InvoiceStatus, TransactionType } from '../../../core/options';
import { byId } from './values';

interface Sums {
  amount: Dec;
  tax: Dec;
}

/** Running sums of the ILD amounts and taxes, per invoice line and for the invoice. */
export class Totals {
  private readonly byLine = new Map<string, Sums>();
  private readonly invoice: Sums = { amount: dec(0), tax: dec(0) };

  add(ild: InvoiceLineDetail): void {
    const ildAmount = dec(ild.msdyn_amount);
    const ildTax = dec(ild.msdyn_tax);
    const line = this.byLine.get(ild.msdyn_invoicelineid) ?? { amount: dec(0), tax: dec(0) };
    this.byLine.set(ild.msdyn_invoicelineid, { amount: line.amount.plus(ildAmount), tax: line.tax.plus(ildTax) });
    this.invoice.amount = this.invoice.amount.plus(ildAmount);
    this.invoice.tax = this.invoice.tax.plus(ildTax);
  }

  /** The lines by id with extendedamount / tax = the sums of their ILDs (0.00 without ILDs). */
  lines(lines: Iterable<InvoiceLine>): InvoiceLine[] {
    return [...lines].sort(byId((l) => l.invoicedetailid)).map((line) => {
      const sums = this.byLine.get(line.invoicedetailid);
      return { ...line, extendedamount: amount(sums?.amount ?? 0), tax: amount(sums?.tax ?? 0) };
    });
  }

  /** The invoice Confirmed, with its confirmation time and totals. */
  confirmed(invoice: Invoice, confirmedOn: string): Invoice {
    return {
      ...invoice,
      msdyn_projectinvoicestatus: InvoiceStatus.Confirmed,
      msdyn_confirmedon: confirmedOn,
      totalamount: amount(this.invoice.amount),
      totaltax: amount(this.invoice.tax),
    };
  }
}

/** Count, amount and tax of the billed sales actuals a confirmation creates, added up one by one. */
export class BilledSums {
  count = 0;
  amount: Dec = dec(0);
  tax: Dec = dec(0);

  add(a: Actual): void {
    if (a.msdyn_transactiontypecode !== TransactionType.BilledSales) return;
    this.count += 1;
    this.amount = this.amount.plus(dec(a.msdyn_amount));
    this.tax = this.tax.plus(dec(a.msdyn_salestaxamount ?? '0'));
  }
}

/**
 * The proposal header: one expected line per billed sales actual, their amount and tax (negative
 * on a corrective invoice that credits more than it bills again). Throws (a
 * bug, not a refusal) when those differ from the confirmed invoice's totals.
 */
export function proposalOf(
  confirmed: Invoice,
  account: Account,
  billed: BilledSums,
  confirmedOn: string,
  correctedInvoice?: Pick<Invoice, 'invoiceid' | 'invoicenumber'>,
): InvoiceProposalMessage {
  const expectedAmount = amount(billed.amount);
  const expectedTax = amount(billed.tax);
  if (expectedAmount !== confirmed.totalamount || expectedTax !== confirmed.totaltax) {
    // Cannot happen: every ILD amount/tax is validated and billed exactly once.
    throw new Error(
      `Invoice ${confirmed.invoicenumber}: billed actuals total ${expectedAmount} (tax ${expectedTax}) but the invoice totals ${confirmed.totalamount} (tax ${confirmed.totaltax})`,
    );
  }
  return {
    proposalId: confirmed.invoicenumber,
    invoiceId: confirmed.invoiceid,
    contractId: confirmed.salesorderid,
    customerId: confirmed.customerid,
    customerAccount: account.accountnumber,
    currencyCode: confirmed.transactioncurrencyid,
    invoiceDate: confirmed.msdyn_invoicedate,
    expectedLineCount: billed.count,
    expectedAmount,
    expectedTax,
    confirmedOn,
    // A corrective invoice's header: F&O makes it a credit proposal of the proposal it corrects.
    ...(correctedInvoice !== undefined ? { correctedInvoiceId: correctedInvoice.invoiceid, correctedProposalId: correctedInvoice.invoicenumber } : {}),
  };
}
