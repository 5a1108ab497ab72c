/**
 * What the Dataverse-side use cases (approvals, backlog, proforma invoices) share: request field
 * schemas, lookups by id across partitions (always `odata`-built filters), ETag-guarded batch
 * updates that turn a concurrent change into a 409 a person can act on, the tax rule, and the
 * recomputation of invoice and invoice-line totals from the ILDs.
 *
 * TAX (contract.md: ILDs carry `msdyn_tax`; invoice `totaltax` is the sum of the ILD taxes)
 * - A request may give `taxPercent` ("19" = 19 %, up to 4 decimals, 0..100): an ILD's tax is then
 *   amount x taxPercent / 100, rounded to 2 decimals. Creating an invoice applies it to every ILD;
 *   adding or editing an ILD applies it to that ILD. A request may instead give the tax amount
 *   (`msdyn_tax`) of one ILD. Without either, a new ILD has tax 0.00.
 * - When an edit changes an ILD's amount and says nothing about tax, the ILD keeps its rate: the
 *   percent that reproduces its current tax (the simplest percent with 2 decimals that does, e.g.
 *   19 for 228.00 on 1200.00; otherwise the exact ratio) is applied to the new amount.
 */
import type { Actual, Invoice, InvoiceLine, InvoiceLineDetail } from '../records';
import { amount, dec, extend, isDecimalString, sum } from '../../core/money';
import { BillingStatus, BillingType, InvoiceStatus, MilestoneStatus, TransactionType } from '../../core/options';
import { labelOf } from '../../bridge/confirmation/refusals';
import { dateString as sharedDateString, decimalString } from '../../core/fields';
import { BusinessError, ConcurrencyConflict, NotFoundError } from '../../core/errors';
import type { DataverseTables, StoredMilestone } from '../dataverseStore';
import { chunk, mapLimit } from '../../storage/concurrency';
import { isStatus, odata, type Stored, type TableStore } from '../../storage/tableStore';

// ---------------------------------------------------------------------------------------------
// Request field schemas

function decimals(value: string): number {
  const dot = value.indexOf('.');
  return dot < 0 ? 0 : value.length - dot - 1;
}

/** A quantity or price: a non-negative decimal string with at most 6 decimals. */
export const nonNegativeDecimal = decimalString
  .refine((s) => !s.startsWith('-'), { message: 'must not be negative' })
  .refine((s) => decimals(s) <= 6, { message: 'may have at most 6 decimals' });

/** A quantity that must be above zero. */
export const positiveDecimal = nonNegativeDecimal.refine((s) => !isDecimalString(s) || dec(s).greaterThan(0), { message: 'must be greater than 0' });

/** A tax amount: non-negative, at most 2 decimals. */
export const taxAmount = decimalString
  .refine((s) => !s.startsWith('-'), { message: 'must not be negative' })
  .refine((s) => decimals(s) <= 2, { message: 'is an amount and may have at most 2 decimals' });

/** A tax rate in percent: "19" or "7.5", between 0 and 100, at most 4 decimals. */
export const taxPercent = decimalString
  .refine((s) => !isDecimalString(s) || (!s.startsWith('-') && dec(s).lessThanOrEqualTo(100)), { message: 'must be a percentage between 0 and 100 such as "19"' })
  .refine((s) => decimals(s) <= 4, { message: 'may have at most 4 decimals' });

/**
 * A calendar date yyyy-MM-dd that exists. (The shared `dateString` relies on Date.parse, which
 * rolls "2026-02-30" over to March 2 instead of refusing it, so requests use this stricter one.)
 */
export const dateString = sharedDateString.refine(
  (s) => {
    const d = new Date(`${s}T00:00:00Z`);
    return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
  },
  {
    message: 'must be a real calendar date',
  },
);

// ---------------------------------------------------------------------------------------------
// Records as stored -> records as answered

/** A stored record without its ETag (what routes answer and what is written back). */
export function plain<T extends object>(row: T & { etag?: string }): T {
  const { etag: _etag, ...rest } = row;
  return rest as T;
}

// ---------------------------------------------------------------------------------------------
// Lookups by id across partitions

/** Ids per query: `RowKey eq 'a' or RowKey eq 'b' ...` stays well under URL limits. */
const IDS_PER_QUERY = 15;

/** Rows of `store` whose RowKey is one of `ids`, whatever their partition (one query per 15 ids). */
export async function findByRowKeys<T>(store: Pick<TableStore<T>, 'query'>, ids: readonly string[]): Promise<Stored<T>[]> {
  const unique = [...new Set(ids)];
  const pages = await mapLimit(chunk(unique, IDS_PER_QUERY), 4, (page) =>
    store.query(page.map((id) => odata`RowKey eq ${id}`).join(' or ')),
  );
  return pages.flat();
}

/** Writes an ETag-guarded batch; a row someone changed meanwhile becomes a 409 asking to retry. */
export async function replaceGuarded<T>(
  store: Pick<TableStore<T>, 'replaceManyIfMatch'>,
  rows: readonly Stored<T>[],
  what: string,
): Promise<void> {
  if (!rows.length) return;
  try {
    await store.replaceManyIfMatch(rows.map((row) => ({ record: plain(row as T & { etag: string }), etag: row.etag })));
  } catch (error) {
    if (isStatus(error, 412) || isStatus(error, 404) || isStatus(error, 409)) {
      throw new ConcurrencyConflict(`${what} changed while this request was being applied (someone else updated them); nothing of yours was lost: send the request again.`);
    }
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Invoices

export const EDITABLE_INVOICE_STATUSES: readonly number[] = [InvoiceStatus.Draft, InvoiceStatus.InReview];

export interface InvoiceView {
  invoice: Invoice;
  lines: InvoiceLine[];
  details: InvoiceLineDetail[];
}

export function byKey<T>(key: (t: T) => string): (a: T, b: T) => number {
  return (a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
}

/** The invoice with its lines and ILDs as a route answers it (ETags dropped, stable order). */
export function viewOf(loaded: { invoice: Stored<Invoice>; lines: Stored<InvoiceLine>[]; details: Stored<InvoiceLineDetail>[] }): InvoiceView {
  return {
    invoice: plain(loaded.invoice),
    lines: loaded.lines.map((l) => plain(l)).sort(byKey((l) => l.invoicedetailid)),
    details: loaded.details
      .map((d) => plain(d))
      .sort((a, b) => byKey<InvoiceLineDetail>((d) => d.msdyn_invoicelineid)(a, b) || byKey<InvoiceLineDetail>((d) => d.msdyn_invoicelinetransactionid)(a, b)),
  };
}

export async function loadInvoiceOr404(dataverse: DataverseTables, invoiceId: string) {
  const loaded = await dataverse.loadInvoice(invoiceId);
  if (!loaded) throw new NotFoundError(`Invoice ${invoiceId} was not found.`, invoiceId);
  return loaded;
}

/** Refuse changes to an invoice that is not Draft or In Review (409). */
export function assertEditable(invoice: Invoice, doing: string): void {
  if (EDITABLE_INVOICE_STATUSES.includes(invoice.msdyn_projectinvoicestatus)) return;
  throw new BusinessError(
    `Invoice ${invoice.invoicenumber} is ${labelOf.invoiceStatus(invoice.msdyn_projectinvoicestatus)}; ${doing} is allowed only while it is Draft or In Review. A confirmed invoice is read-only (correct it with a corrective invoice).`,
    { status: 409, reference: invoice.invoicenumber },
  );
}

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
 * nothing about tax: the ILD keeps its rate (see the file comment).
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

/**
 * Bring the totals of an invoice and its lines in line with its ILDs, and return the fresh view.
 * The header write is ETag-guarded and checks that the invoice is still editable, so a total is
 * never written over a confirmation that happened meanwhile. Totals are always recomputed from
 * every stored ILD, so any later change repairs totals a crash may have left stale.
 */
export async function refreshTotals(dataverse: DataverseTables, invoiceId: string, doing: string): Promise<InvoiceView> {
  for (let attempt = 1; ; attempt++) {
    const loaded = await loadInvoiceOr404(dataverse, invoiceId);
    assertEditable(loaded.invoice, doing);
    const totals = totalsOf(loaded.lines.map(plain), loaded.details.map(plain));
    const changedLines = loaded.lines.filter((line) => {
      const next = totals.lines.find((l) => l.invoicedetailid === line.invoicedetailid)!;
      return next.extendedamount !== line.extendedamount || next.tax !== line.tax;
    });
    try {
      if (changedLines.length) {
        await dataverse.invoiceLines.replaceManyIfMatch(
          changedLines.map((line) => ({ record: totals.lines.find((l) => l.invoicedetailid === line.invoicedetailid)!, etag: line.etag })),
        );
      }
      const invoice: Invoice = { ...plain(loaded.invoice), totalamount: totals.totalamount, totaltax: totals.totaltax };
      if (!(await dataverse.invoices.replaceIfMatch(invoice, loaded.invoice.etag))) throw Object.assign(new Error('invoice changed'), { retry: true });
      return viewOf(await loadInvoiceOr404(dataverse, invoiceId));
    } catch (error) {
      const retry = (error as { retry?: boolean }).retry === true || isStatus(error, 412);
      if (!retry || attempt >= 5) throw error;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Backlog rules

/**
 * Why an actual cannot be marked ready or not ready (domain step 4), or undefined when it can:
 * only chargeable unbilled sales actuals that are not adjusted and not yet on an invoice.
 * (This project has no not-to-exceed limits, so no actual fails that check.)
 */
export function readyRefusal(actual: Actual): string | undefined {
  const id = actual.msdyn_actualid;
  if (actual.msdyn_adjustmentstatus !== undefined) {
    return `actual ${id} is ${labelOf.adjustmentStatus(actual.msdyn_adjustmentstatus)}`;
  }
  if (actual.msdyn_transactiontypecode !== TransactionType.UnbilledSales) {
    return `actual ${id} is a ${labelOf.transactionType(actual.msdyn_transactiontypecode)} actual, not an unbilled sales actual`;
  }
  if (actual.msdyn_billingtype !== BillingType.Chargeable) {
    return `actual ${id} is ${labelOf.billingType(actual.msdyn_billingtype)}, not chargeable`;
  }
  const status = actual.msdyn_billingstatus;
  const open = status === BillingStatus.UnbilledSalesCreated || status === BillingStatus.ReadyToInvoice;
  if (!open) {
    return `actual ${id} has billing status ${labelOf.billingStatus(status)} (already on an invoice or closed)`;
  }
  return undefined;
}

/** Why a milestone cannot be marked ready (or not ready), or undefined when it can. */
export function milestoneReadyRefusal(milestone: StoredMilestone): string | undefined {
  const status = milestone.msdyn_invoicestatus;
  if (status === MilestoneStatus.NotReady || status === MilestoneStatus.Ready) return undefined;
  return `milestone "${milestone.msdyn_name}" (${milestone.msdyn_contractlinescheduleofvalueid}) is ${labelOf.milestoneStatus(status)}`;
}
