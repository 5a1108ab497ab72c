/**
 * Editing a proforma invoice while it is Draft or In Review and no confirmation was requested
 * (domain.md step 5), behind
 *   PATCH  api/dataverse/invoices/{invoiceId}/details/{detailId}   updateInvoiceLineDetail
 *   DELETE api/dataverse/invoices/{invoiceId}/details/{detailId}   deleteInvoiceLineDetail
 *   POST   api/dataverse/invoices/{invoiceId}/details              addInvoiceLineDetail
 * Every answer is the invoice as stored, its totals recomputed from all ILDs. The class of an ILD
 * never changes; price changes only on time-and-material lines; a milestone ILD is invoiced in
 * full. Details are read before the header and written under their ETag, so an edit never lands
 * behind the fence a confirmation puts on them. Deleting an ILD removes it first, then releases
 * its item back to the backlog. Rules: docs/decisions/proforma-invoices.md.
 */
import { randomUUID } from 'node:crypto';
import { BusinessError, ConcurrencyConflict, NotFoundError } from '../../core/errors';
import { labelOf } from '../../core/labels';
import { amount, eq } from '../../core/money';
import { BillingMethod, BillingType, TransactionClass } from '../../core/options';
import { withoutEtag, type Stored } from '../../core/stored';
import type { TableStore } from '../../storage/tableStore';
import type { ContractLine, Invoice, InvoiceLine, InvoiceLineDetail } from '../records';
import { correctiveFigures, keptQuantityRefusal } from '../rules/correctionRules';
import { moveItem, onInvoiceStatus, readyStatus, type ClaimStore } from './claims';
import { assertEditable, detailAmount, invoiceLineId, rescaledTax, taxAt } from '../rules/invoiceRules';
import { detailOr404, loadInvoiceOr404, refreshTotals, viewOf, type InvoiceView, type TotalsWriter } from './invoiceView';
import type { AddDetailRequest, UpdateDetailRequest } from './requests';

/** What editing needs of the Dataverse store. */
export interface EditInvoiceStore extends TotalsWriter, ClaimStore {
  invoiceLineDetails: Pick<TableStore<InvoiceLineDetail>, 'replaceIfMatch' | 'insert' | 'deleteIfMatch'>;
  invoiceLines: TotalsWriter['invoiceLines'] & Pick<TableStore<InvoiceLine>, 'createIfAbsent'>;
  contractLines: Pick<TableStore<ContractLine>, 'get'>;
  releaseClaims(contractId: string, itemIds: readonly string[], invoiceId: string): Promise<void>;
}

export async function updateInvoiceLineDetail(
  deps: { dataverse: EditInvoiceStore },
  invoiceId: string,
  detailId: string,
  patch: UpdateDetailRequest,
): Promise<InvoiceView & { detail: InvoiceLineDetail }> {
  const { dataverse } = deps;
  const loaded = await loadInvoiceOr404(dataverse, invoiceId, { detailsFirst: true });
  const inv = loaded.invoice;
  assertEditable(inv, 'changing an invoice line detail');
  const detail = detailOr404(loaded, detailId);
  const ref = { reference: inv.invoicenumber };
  const what = `Invoice line detail ${detailId}`;

  const cls = detail.msdyn_transactionclassification;
  if (detail.msdyn_originalbilledactual !== undefined) return updateCorrectiveDetail(dataverse, inv, detail, patch);
  if (patch.msdyn_transactionclassification !== undefined && patch.msdyn_transactionclassification !== cls) {
    throw new BusinessError(
      `${what} has class ${labelOf.transactionClass(cls)}; the transaction class of a detail can never be changed. Delete the detail and add a manual one with class ${labelOf.transactionClass(patch.msdyn_transactionclassification)} instead.`,
      ref,
    );
  }
  const quantity = patch.msdyn_quantity ?? detail.msdyn_quantity;
  const price = patch.msdyn_price ?? detail.msdyn_price;
  const type = patch.msdyn_billingtype ?? detail.msdyn_billingtype;
  const changesMoney = !eq(quantity, detail.msdyn_quantity) || !eq(price, detail.msdyn_price) || type !== detail.msdyn_billingtype;
  if (detail.msdyn_milestone !== undefined && changesMoney) {
    throw new BusinessError(
      `${what} bills milestone ${detail.msdyn_milestone}, which is invoiced in full: its quantity, price and billing type cannot change. Delete the detail to leave the milestone out of this invoice.`,
      ref,
    );
  }
  if (!eq(price, detail.msdyn_price) || !eq(quantity, detail.msdyn_quantity)) {
    const line = loaded.lines.find((l) => l.invoicedetailid === detail.msdyn_invoicelineid);
    if (line?.msdyn_billingmethod !== BillingMethod.TimeAndMaterial) {
      throw new BusinessError(
        `${what} is on a fixed-price line; its quantity and price cannot change (only its billing type and tax). Only details on time-and-material lines may change quantity or price.`,
        ref,
      );
    }
  }

  const value = detailAmount(quantity, price, type);
  const tax =
    patch.msdyn_tax !== undefined
      ? amount(patch.msdyn_tax)
      : patch.taxPercent !== undefined
        ? taxAt(value, patch.taxPercent)
        : value === amount(detail.msdyn_amount)
          ? detail.msdyn_tax
          : rescaledTax(detail.msdyn_tax, detail.msdyn_amount, value);
  const updated: InvoiceLineDetail = { ...withoutEtag(detail), msdyn_quantity: quantity, msdyn_price: price, msdyn_billingtype: type, msdyn_amount: value, msdyn_tax: tax };
  if ((await dataverse.invoiceLineDetails.replaceIfMatch(updated, detail.etag)) === undefined) {
    throw new BusinessError(`${what} was changed by someone else while this request was applied; reload the invoice and send the change again.`, ref);
  }
  const view = await refreshTotals(dataverse, invoiceId, 'changing an invoice line detail');
  return { ...view, detail: view.details.find((d) => d.msdyn_invoicelinetransactionid === detailId) ?? updated };
}

export async function deleteInvoiceLineDetail(deps: { dataverse: EditInvoiceStore }, invoiceId: string, detailId: string): Promise<InvoiceView> {
  const { dataverse } = deps;
  const loaded = await loadInvoiceOr404(dataverse, invoiceId, { detailsFirst: true });
  const inv = loaded.invoice;
  assertEditable(inv, 'deleting an invoice line detail');
  const detail = detailOr404(loaded, detailId);

  // The detail goes first, under its ETag (a fenced detail is not deleted); then its item is
  // released back to the backlog. A crash between the two is mended by the next invoice request
  // of the contract (claims.ts: a claim whose invoice no longer names the item is released).
  if (!(await dataverse.invoiceLineDetails.deleteIfMatch(invoiceId, detailId, detail.etag))) {
    throw new ConcurrencyConflict(`Invoice line detail ${detailId} was changed by someone else while this request was applied; reload the invoice.`, inv.invoicenumber);
  }
  // A corrective detail holds no backlog item: deleting it keeps its billed line in full.
  const corrective = detail.msdyn_originalbilledactual !== undefined;
  const item = corrective ? undefined : detail.msdyn_sourceactual !== undefined ? { kind: 'Actual' as const, id: detail.msdyn_sourceactual } : detail.msdyn_milestone !== undefined ? { kind: 'Milestone' as const, id: detail.msdyn_milestone } : undefined;
  if (item) {
    await moveItem(dataverse, inv.salesorderid, item.kind, item.id, onInvoiceStatus(item.kind), readyStatus(item.kind));
    await dataverse.releaseClaims(inv.salesorderid, [item.id], invoiceId);
  }
  return refreshTotals(dataverse, invoiceId, 'deleting an invoice line detail');
}

export async function addInvoiceLineDetail(
  deps: { dataverse: EditInvoiceStore; newId?: () => string },
  invoiceId: string,
  request: AddDetailRequest,
): Promise<InvoiceView & { detail: InvoiceLineDetail; created: boolean }> {
  const { dataverse } = deps;
  const loaded = await loadInvoiceOr404(dataverse, invoiceId);
  const inv = loaded.invoice;
  assertEditable(inv, 'adding an invoice line detail');
  if (inv.msdyn_correctedinvoice !== undefined) {
    throw new BusinessError(
      `Invoice ${inv.invoicenumber} is a corrective invoice (it corrects ${inv.msdyn_correctedinvoice}): it holds only the billed lines it corrects. Invoice new work on an ordinary invoice instead.`,
      { reference: inv.invoicenumber },
    );
  }
  const contractLine = await dataverse.contractLines.get(inv.salesorderid, request.msdyn_salescontractlineid);
  if (!contractLine) {
    throw new NotFoundError(
      `Contract line ${request.msdyn_salescontractlineid} is not a line of contract ${inv.salesorderid}, the contract of invoice ${inv.invoicenumber}.`,
      inv.invoicenumber,
    );
  }
  const detailId = request.msdyn_invoicelinetransactionid ?? (deps.newId ?? randomUUID)();
  const type = request.msdyn_billingtype ?? BillingType.Chargeable;
  const value = detailAmount(request.msdyn_quantity, request.msdyn_price, type);
  const tax = request.msdyn_tax !== undefined ? amount(request.msdyn_tax) : request.taxPercent !== undefined ? taxAt(value, request.taxPercent) : '0.00';
  const existingLine = loaded.lines.find((l) => l.salesorderdetailid === contractLine.salesorderdetailid);
  const lineId = existingLine?.invoicedetailid ?? invoiceLineId(invoiceId, contractLine.salesorderdetailid);
  const detail: InvoiceLineDetail = {
    msdyn_invoicelinetransactionid: detailId,
    msdyn_invoice: invoiceId,
    msdyn_invoicelineid: lineId,
    msdyn_salescontractlineid: contractLine.salesorderdetailid,
    msdyn_project: contractLine.msdyn_project,
    msdyn_transactionclassification: request.msdyn_transactionclassification,
    msdyn_billingtype: type,
    msdyn_quantity: request.msdyn_quantity,
    msdyn_price: request.msdyn_price,
    msdyn_amount: value,
    msdyn_tax: tax,
    transactioncurrencyid: inv.transactioncurrencyid,
    msdyn_documentdate: request.msdyn_documentdate ?? inv.msdyn_invoicedate,
  };

  const same = loaded.details.find((d) => d.msdyn_invoicelinetransactionid === detailId);
  if (same) {
    const s = withoutEtag(same);
    const identical =
      s.msdyn_sourceactual === undefined &&
      s.msdyn_milestone === undefined &&
      s.msdyn_salescontractlineid === detail.msdyn_salescontractlineid &&
      s.msdyn_transactionclassification === detail.msdyn_transactionclassification &&
      s.msdyn_billingtype === detail.msdyn_billingtype &&
      eq(s.msdyn_quantity, detail.msdyn_quantity) &&
      eq(s.msdyn_price, detail.msdyn_price);
    if (!identical) {
      throw new BusinessError(`Invoice line detail ${detailId} already exists on invoice ${inv.invoicenumber} with other values; change it with PATCH or choose another id.`, { reference: inv.invoicenumber });
    }
    return { ...viewOf(loaded), detail: s, created: false };
  }

  if (!existingLine) {
    await dataverse.invoiceLines.createIfAbsent({
      invoicedetailid: lineId,
      invoiceid: invoiceId,
      salesorderdetailid: contractLine.salesorderdetailid,
      msdyn_billingmethod: contractLine.msdyn_billingmethod,
      extendedamount: '0.00',
      tax: '0.00',
    });
  }
  const etag = await dataverse.invoiceLineDetails.insert(detail);
  if (etag === undefined) {
    throw new BusinessError(`Invoice line detail ${detailId} was added by someone else at the same moment; reload the invoice.`, { reference: inv.invoicenumber });
  }
  try {
    const view = await refreshTotals(dataverse, invoiceId, 'adding an invoice line detail');
    return { ...view, detail, created: true };
  } catch (error) {
    // Its confirmation was requested while the detail was added: the detail is taken back (unless
    // the confirmation already fenced it, then it is part of what is confirmed).
    if (error instanceof BusinessError) await dataverse.invoiceLineDetails.deleteIfMatch(invoiceId, detailId, etag);
    throw error;
  }
}

/**
 * A corrective detail changes only the quantity kept of the billed line it corrects (0 credits it
 * in full, up to the billed quantity; a milestone 0 or all); its amount and tax follow (kept minus
 * billed). Price, billing type, tax and class stay those of the billed line.
 */
async function updateCorrectiveDetail(
  dataverse: EditInvoiceStore,
  inv: Invoice,
  detail: Stored<InvoiceLineDetail>,
  patch: UpdateDetailRequest,
): Promise<InvoiceView & { detail: InvoiceLineDetail }> {
  const id = detail.msdyn_invoicelinetransactionid;
  const ref = { reference: inv.invoicenumber };
  const what = `Corrective detail ${id}`;
  const other: string[] = [];
  if (patch.msdyn_price !== undefined && !eq(patch.msdyn_price, detail.msdyn_price)) other.push('price');
  if (patch.msdyn_billingtype !== undefined && patch.msdyn_billingtype !== detail.msdyn_billingtype) other.push('billing type');
  if (patch.msdyn_transactionclassification !== undefined && patch.msdyn_transactionclassification !== detail.msdyn_transactionclassification) other.push('class');
  if (patch.msdyn_tax !== undefined || patch.taxPercent !== undefined) other.push('tax');
  if (other.length > 0) {
    throw new BusinessError(`${what} can change only its quantity (the quantity kept of the billed line it corrects), not its ${other.join(', ')}: a correction credits what was billed, at the billed price.`, ref);
  }
  const billedId = detail.msdyn_originalbilledactual!;
  const billed = await dataverse.actuals.get(inv.salesorderid, billedId);
  if (!billed) throw new NotFoundError(`${what} corrects billed actual ${billedId}, which was not found in contract ${inv.salesorderid}.`, inv.invoicenumber);
  const kept = patch.msdyn_quantity ?? detail.msdyn_quantity;
  const isMilestone = detail.msdyn_milestone !== undefined || detail.msdyn_transactionclassification === TransactionClass.Milestone;
  const refusal = keptQuantityRefusal(billed, kept, isMilestone);
  if (refusal) throw new BusinessError(`${what}: ${refusal}.`, ref);
  const figures = correctiveFigures(withoutEtag(billed), kept);
  const updated: InvoiceLineDetail = { ...withoutEtag(detail), msdyn_quantity: figures.kept, msdyn_amount: figures.amount, msdyn_tax: figures.tax };
  if ((await dataverse.invoiceLineDetails.replaceIfMatch(updated, detail.etag)) === undefined) {
    throw new BusinessError(`${what} was changed by someone else while this request was applied; reload the invoice and send the change again.`, ref);
  }
  const view = await refreshTotals(dataverse, inv.invoiceid, 'changing an invoice line detail');
  return { ...view, detail: view.details.find((d) => d.msdyn_invoicelinetransactionid === id) ?? updated };
}
