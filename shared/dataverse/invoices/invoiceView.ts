/**
 * An invoice as the routes answer it ({ invoice, lines, details }, ETags dropped, stable order),
 * and the totals refresh every edit ends with.
 */
import { byKey } from '../../core/collections';
import { NotFoundError, StaleWriteError } from '../../core/errors';
import { withoutEtag, type Stored } from '../../core/stored';
import type { StoredInvoice } from '../dataverseStore';
import type { TableStore } from '../../storage/tableStore';
import type { Invoice, InvoiceLine, InvoiceLineDetail } from '../records';
import { assertEditable, totalsOf } from '../rules/invoiceRules';

export interface InvoiceView {
  invoice: Invoice;
  lines: InvoiceLine[];
  details: InvoiceLineDetail[];
}

/** Reading an invoice with its lines and ILDs. */
export interface InvoiceReader {
  loadInvoice(invoiceId: string, options?: { detailsFirst?: boolean }): Promise<StoredInvoice | undefined>;
}

/** Rewriting an editable invoice's totals. */
export interface TotalsWriter extends InvoiceReader {
  invoices: Pick<TableStore<Invoice>, 'replaceIfMatch'>;
  invoiceLines: Pick<TableStore<InvoiceLine>, 'replaceAllIfMatch'>;
}

/** The invoice with its lines and ILDs as a route answers it (ETags dropped, stable order). */
export function viewOf(loaded: StoredInvoice): InvoiceView {
  return {
    invoice: withoutEtag(loaded.invoice),
    lines: loaded.lines.map((l) => withoutEtag(l)).sort(byKey((l) => l.invoicedetailid)),
    details: loaded.details
      .map((d) => withoutEtag(d))
      .sort((a, b) => byKey<InvoiceLineDetail>((d) => d.msdyn_invoicelineid)(a, b) || byKey<InvoiceLineDetail>((d) => d.msdyn_invoicelinetransactionid)(a, b)),
  };
}

export async function loadInvoiceOr404(dataverse: InvoiceReader, invoiceId: string, options: { detailsFirst?: boolean } = {}): Promise<StoredInvoice> {
  const loaded = await dataverse.loadInvoice(invoiceId, options);
  if (!loaded) throw new NotFoundError(`Invoice ${invoiceId} was not found.`, invoiceId);
  return loaded;
}

export async function getProformaInvoice(deps: { dataverse: InvoiceReader }, invoiceId: string): Promise<InvoiceView> {
  return viewOf(await loadInvoiceOr404(deps.dataverse, invoiceId));
}

/**
 * Bring the totals of an invoice and its lines in line with its ILDs, and return the fresh view.
 * The header write is ETag-guarded and checks that the invoice is still editable, so a total is
 * never written over a confirmation that happened meanwhile. Totals are always recomputed from
 * every stored ILD, so any later change repairs totals a crash may have left stale.
 */
export async function refreshTotals(dataverse: TotalsWriter, invoiceId: string, doing: string): Promise<InvoiceView> {
  for (let attempt = 1; ; attempt++) {
    const loaded = await loadInvoiceOr404(dataverse, invoiceId);
    assertEditable(loaded.invoice, doing);
    const totals = totalsOf(loaded.lines.map((l) => withoutEtag(l)), loaded.details.map((d) => withoutEtag(d)));
    const changedLines = loaded.lines.filter((line) => {
      const next = totals.lines.find((l) => l.invoicedetailid === line.invoicedetailid)!;
      return next.extendedamount !== line.extendedamount || next.tax !== line.tax;
    });
    try {
      await dataverse.invoiceLines.replaceAllIfMatch(
        changedLines.map((line) => ({ record: totals.lines.find((l) => l.invoicedetailid === line.invoicedetailid)!, etag: line.etag })),
      );
      const invoice: Invoice = { ...withoutEtag(loaded.invoice), totalamount: totals.totalamount, totaltax: totals.totaltax };
      if ((await dataverse.invoices.replaceIfMatch(invoice, loaded.invoice.etag)) === undefined) throw new StaleWriteError(`Invoice ${invoice.invoicenumber} changed meanwhile`);
      return viewOf(await loadInvoiceOr404(dataverse, invoiceId));
    } catch (error) {
      if (!(error instanceof StaleWriteError) || attempt >= 5) throw error;
    }
  }
}

/** The stored ILD of an invoice, or a 404 naming the invoice. */
export function detailOr404(loaded: { invoice: Invoice; details: Stored<InvoiceLineDetail>[] }, detailId: string): Stored<InvoiceLineDetail> {
  const detail = loaded.details.find((d) => d.msdyn_invoicelinetransactionid === detailId);
  if (!detail) {
    throw new NotFoundError(`Invoice line detail ${detailId} is not on invoice ${loaded.invoice.invoicenumber} (${loaded.invoice.invoiceid}).`, loaded.invoice.invoicenumber);
  }
  return detail;
}
