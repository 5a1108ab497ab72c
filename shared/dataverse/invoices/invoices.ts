/**
 * Proforma invoices on the Dataverse side (domain.md step 5 and the request of step 6), behind
 *   POST   api/dataverse/contracts/{contractId}/invoices          createProformaInvoice
 *   GET    api/dataverse/invoices/{invoiceId}                      getProformaInvoice
 *   PATCH  api/dataverse/invoices/{invoiceId}/details/{detailId}   updateInvoiceLineDetail
 *   DELETE api/dataverse/invoices/{invoiceId}/details/{detailId}   deleteInvoiceLineDetail
 *   POST   api/dataverse/invoices/{invoiceId}/details              addInvoiceLineDetail
 *   POST   api/dataverse/invoices/{invoiceId}/confirm              requestInvoiceConfirmation
 * Tax: see dataverseCommon.ts. Every answer is the invoice as stored: { invoice, lines, details }.
 *
 * CREATING AN INVOICE  (body optional: { "invoiceDate"?: "yyyy-MM-dd", "name"?: "...", "taxPercent"?: "19" })
 * - Takes every ready item of the contract: unbilled sales actuals in billing status Ready to
 *   Invoice (chargeable, not adjusted) and milestones in status Ready. Nothing ready: 409.
 * - One invoice line per contract line (id deterministicGuid(invoiceId, 'line', contractLineId)),
 *   one ILD per actual or milestone (id deterministicGuid(invoiceId, 'ild', actualId|milestoneId)).
 *   An actual's ILD copies its class, billing type, quantity, price, document date and project;
 *   a milestone's ILD has class Milestone, quantity 1, price = amount = the milestone amount.
 * - The invoice id is deterministicGuid('proforma-invoice', contractId, sorted ready ids), so two
 *   concurrent or repeated requests over the same backlog make the same invoice. Its number comes
 *   from the number sequence `ProformaInvoiceNumber` ("PI-000001", reserved per invoice id, so a
 *   retry keeps its number); it becomes the F&O invoice proposal id. Invoice date: the request's
 *   or today (UTC); status Draft; totals = sums of the ILDs.
 * - Write order: ILDs, lines, the header (create-if-absent), then the claims: actuals ->
 *   Customer Invoice Created, milestones -> Customer invoice created (ETag-guarded, 100 per
 *   transaction). A crash between the header and the last claim leaves a Draft invoice whose ILDs
 *   name items still Ready; the next create request for the contract finishes those claims first
 *   and answers with that invoice (an item Ready to Invoice named by an ILD of a Draft/In Review
 *   invoice can only be such an unfinished claim, because deleting an ILD removes it).
 *
 * EDITING (Draft or In Review only, else 409)
 * - PATCH body (Dataverse field names): { msdyn_quantity?, msdyn_price?, msdyn_billingtype?,
 *   msdyn_tax? | taxPercent?, msdyn_transactionclassification? (must be the current class: 409
 *   otherwise; the class can never change) }. Price only on time-and-material lines; a milestone
 *   ILD is invoiced in full (quantity, price, billing type fixed). Billing type Not Available is
 *   refused (it could not be confirmed). Amount = quantity x price (0.00 when Non Chargeable or
 *   Complimentary); line and invoice totals are recomputed from all ILDs.
 * - DELETE: the ILD's actual goes back to Ready to Invoice, a milestone back to Ready (done
 *   before the ILD is removed, so a crash never loses an actual from the backlog).
 * - POST details body: { msdyn_salescontractlineid, msdyn_transactionclassification (Time,
 *   Expense, Material or Fee), msdyn_quantity, msdyn_price, msdyn_billingtype? (default
 *   Chargeable), msdyn_documentdate? (default the invoice date), msdyn_tax? | taxPercent?,
 *   msdyn_invoicelinetransactionid? (send it to make a retry safe) }: a manual ILD with no actual.
 *
 * CONFIRMING (body optional: { "confirmedBy"?: "..." })
 * - The invoice must be Draft or In Review and pass every confirmation rule: the pure plan of
 *   shared/domain/confirmation.ts is computed as a dry run, so a refusal is answered at once
 *   (409) instead of landing in the error log later. Already Confirmed or Posted: nothing is sent.
 * - Sends { invoiceId, confirmedOn, confirmedBy? } to `invoice-confirmations` with message id
 *   deterministicGuid('invoice-confirmation', invoiceId, the header's ETag): repeated clicks on an
 *   unchanged invoice make one message; after an edit (the header's totals are rewritten) a new one.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Account, Actual, ContractLine, Invoice, InvoiceLine, InvoiceLineDetail, Milestone } from '../records';
import { ConfirmationRefused, planConfirmation } from '../../bridge/confirmation/plan';
import { labelOf } from '../../bridge/confirmation/refusals';
import { deterministicGuid } from '../../core/ids';
import { amount, eq } from '../../core/money';
import { BillingMethod, BillingStatus, BillingType, InvoiceStatus, MilestoneStatus, TransactionClass, TransactionType } from '../../core/options';
import { billingType, guid, transactionClass } from '../../core/fields';
import type { DataverseTables, StoredMilestone } from '../dataverseStore';
import { BusinessError, NotFoundError } from '../../core/errors';
import type { SequencePort } from '../../storage/sequences';
import { Queues, type Publisher } from '../../bridge/messages';
import { odata, type Stored } from '../../storage/tableStore';
import {
  assertEditable,
  byKey,
  dateString,
  detailAmount,
  EDITABLE_INVOICE_STATUSES,
  loadInvoiceOr404,
  nonNegativeDecimal,
  plain,
  refreshTotals,
  replaceGuarded,
  rescaledTax,
  taxAmount,
  taxAt,
  taxPercent,
  totalsOf,
  viewOf,
  type InvoiceView,
} from './common';

/** Hands out the proforma invoice number of an invoice id (the same number on every retry). */
export interface InvoiceNumbers {
  numberFor(invoiceId: string): Promise<string>;
}

export const PROFORMA_SEQUENCE = 'ProformaInvoiceNumber';
export function formatProformaNumber(n: number): string {
  return `PI-${String(n).padStart(6, '0')}`;
}

/** Proforma invoice numbers from the integration's number sequences, one reservation per invoice id. */
export function sequenceInvoiceNumbers(sequences: SequencePort): InvoiceNumbers {
  return {
    async numberFor(invoiceId) {
      return (await sequences.reserve(PROFORMA_SEQUENCE, invoiceId, { format: formatProformaNumber })).value;
    },
  };
}

export interface InvoiceDeps {
  dataverse: DataverseTables;
  numbers: InvoiceNumbers;
  now?: () => Date;
}

export interface ConfirmDeps {
  dataverse: DataverseTables;
  publisher: Publisher;
  now?: () => Date;
}

// ---------------------------------------------------------------------------------------------
// Request schemas

export const createInvoiceRequestSchema = z.strictObject({
  invoiceDate: dateString.optional(),
  name: z.string().trim().min(1).max(200).optional(),
  taxPercent: taxPercent.optional(),
});
export type CreateInvoiceRequest = z.infer<typeof createInvoiceRequestSchema>;

const invoiceableBillingType = billingType.refine((v) => v !== BillingType.NotAvailable, {
  message: 'Not Available cannot be invoiced; use Chargeable (192350001), Non Chargeable (192350000) or Complimentary (192350002)',
});

export const updateDetailRequestSchema = z
  .strictObject({
    msdyn_quantity: nonNegativeDecimal.optional(),
    msdyn_price: nonNegativeDecimal.optional(),
    msdyn_billingtype: invoiceableBillingType.optional(),
    msdyn_transactionclassification: transactionClass.optional(),
    msdyn_tax: taxAmount.optional(),
    taxPercent: taxPercent.optional(),
  })
  .refine((r) => Object.keys(r).length > 0, { message: 'send at least one of msdyn_quantity, msdyn_price, msdyn_billingtype, msdyn_tax, taxPercent' })
  .refine((r) => r.msdyn_tax === undefined || r.taxPercent === undefined, { message: 'send either msdyn_tax or taxPercent, not both' });
export type UpdateDetailRequest = z.infer<typeof updateDetailRequestSchema>;

export const addDetailRequestSchema = z
  .strictObject({
    msdyn_invoicelinetransactionid: guid.optional(),
    msdyn_salescontractlineid: guid,
    msdyn_transactionclassification: transactionClass.refine((v) => v !== TransactionClass.Milestone, {
      message: 'a manual detail is Time (192350000), Expense (192350001), Material (192350002) or Fee (192350004); milestones come from the contract',
    }),
    msdyn_quantity: nonNegativeDecimal,
    msdyn_price: nonNegativeDecimal,
    msdyn_billingtype: invoiceableBillingType.optional(),
    msdyn_documentdate: dateString.optional(),
    msdyn_tax: taxAmount.optional(),
    taxPercent: taxPercent.optional(),
  })
  .refine((r) => r.msdyn_tax === undefined || r.taxPercent === undefined, { message: 'send either msdyn_tax or taxPercent, not both' });
export type AddDetailRequest = z.infer<typeof addDetailRequestSchema>;

export const confirmRequestSchema = z.strictObject({
  confirmedBy: z.string().trim().min(1).max(200).optional(),
});
export type ConfirmRequest = z.infer<typeof confirmRequestSchema>;

// ---------------------------------------------------------------------------------------------
// Ids

export function proformaInvoiceId(contractId: string, readyIds: readonly string[]): string {
  return deterministicGuid('proforma-invoice', contractId, ...[...readyIds].sort());
}
export function invoiceLineId(invoiceId: string, contractLineId: string): string {
  return deterministicGuid(invoiceId, 'line', contractLineId);
}
export function invoiceDetailId(invoiceId: string, sourceId: string): string {
  return deterministicGuid(invoiceId, 'ild', sourceId);
}

function isoDate(d: Date): string {
  return d.toISOString().slice(0, 10);
}

// ---------------------------------------------------------------------------------------------
// Create

function isReadyActual(a: Actual): boolean {
  return (
    a.msdyn_transactiontypecode === TransactionType.UnbilledSales &&
    a.msdyn_billingstatus === BillingStatus.ReadyToInvoice &&
    a.msdyn_billingtype === BillingType.Chargeable &&
    a.msdyn_adjustmentstatus === undefined
  );
}

/** Claim ready items for an invoice: actuals -> Customer Invoice Created, milestones -> Customer invoice created. */
async function claim(dataverse: DataverseTables, actuals: Stored<Actual>[], milestones: Stored<StoredMilestone>[]): Promise<void> {
  await replaceGuarded<Actual>(
    dataverse.actuals,
    actuals.map((a) => ({ ...a, msdyn_billingstatus: BillingStatus.CustomerInvoiceCreated })),
    'Actuals of the invoice',
  );
  await replaceGuarded<StoredMilestone>(
    dataverse.milestones,
    milestones.map((m) => ({ ...m, msdyn_invoicestatus: MilestoneStatus.CustomerInvoiceCreated })),
    'Milestones of the invoice',
  );
}

/**
 * Finish claims a crashed create left behind: ready items named by ILDs of an editable invoice
 * of the contract. Returns the invoice whose claims were finished, if any.
 */
async function finishUnfinishedClaims(
  dataverse: DataverseTables,
  contractId: string,
  readyActuals: Stored<Actual>[],
  readyMilestones: Stored<StoredMilestone>[],
): Promise<{ invoiceId: string; actualIds: Set<string>; milestoneIds: Set<string> } | undefined> {
  const drafts = (await dataverse.invoices.query(odata`salesorderid eq ${contractId}`)).filter((i) =>
    EDITABLE_INVOICE_STATUSES.includes(i.msdyn_projectinvoicestatus),
  );
  if (!drafts.length) return undefined;
  const readyActualIds = new Set(readyActuals.map((a) => a.msdyn_actualid));
  const readyMilestoneIds = new Set(readyMilestones.map((m) => m.msdyn_contractlinescheduleofvalueid));
  for (const draft of drafts.sort(byKey((d) => d.invoiceid))) {
    const details = await dataverse.invoiceLineDetails.listPartition(draft.invoiceid);
    const actualIds = new Set(details.map((d) => d.msdyn_sourceactual).filter((id): id is string => id !== undefined && readyActualIds.has(id)));
    const milestoneIds = new Set(details.map((d) => d.msdyn_milestone).filter((id): id is string => id !== undefined && readyMilestoneIds.has(id)));
    if (!actualIds.size && !milestoneIds.size) continue;
    await claim(
      dataverse,
      readyActuals.filter((a) => actualIds.has(a.msdyn_actualid)),
      readyMilestones.filter((m) => milestoneIds.has(m.msdyn_contractlinescheduleofvalueid)),
    );
    return { invoiceId: draft.invoiceid, actualIds, milestoneIds };
  }
  return undefined;
}

export async function createProformaInvoice(deps: InvoiceDeps, contractId: string, request: CreateInvoiceRequest): Promise<InvoiceView> {
  const { dataverse } = deps;
  const now = deps.now ?? (() => new Date());
  const contract = await dataverse.contracts.get(contractId, contractId);
  if (!contract) throw new NotFoundError(`Contract ${contractId} was not found.`, contractId);

  const [actualRows, readyMilestones, lineRows] = await Promise.all([
    dataverse.actuals.query(
      odata`PartitionKey eq ${contractId} and msdyn_transactiontypecode eq ${TransactionType.UnbilledSales} and msdyn_billingstatus eq ${BillingStatus.ReadyToInvoice}`,
    ),
    dataverse.milestones.query(odata`PartitionKey eq ${contractId} and msdyn_invoicestatus eq ${MilestoneStatus.Ready}`),
    dataverse.contractLines.listPartition(contractId),
  ]);
  const readyActuals = actualRows.filter(isReadyActual);
  const nothingReady = () =>
    new BusinessError(
      `Contract ${contract.ordernumber} (${contractId}) has nothing ready to invoice: no unbilled actual is Ready to Invoice and no milestone is Ready. Mark some ready first (POST /api/dataverse/actuals/ready).`,
      { status: 409, reference: contract.ordernumber },
    );
  if (!readyActuals.length && !readyMilestones.length) throw nothingReady();

  const finished = await finishUnfinishedClaims(dataverse, contractId, readyActuals, readyMilestones);
  if (finished) return viewOf(await loadInvoiceOr404(dataverse, finished.invoiceId));

  const lines = new Map<string, ContractLine>(lineRows.map((l) => [l.salesorderdetailid, plain(l)]));
  const orphans = [
    ...readyActuals.filter((a) => !lines.has(a.msdyn_salescontractlineid)).map((a) => `actual ${a.msdyn_actualid}`),
    ...readyMilestones.filter((m) => !lines.has(m.msdyn_contractlineid)).map((m) => `milestone ${m.msdyn_contractlinescheduleofvalueid}`),
  ];
  if (orphans.length) {
    throw new BusinessError(`Cannot invoice contract ${contract.ordernumber}: ${orphans.join(', ')} name${orphans.length === 1 ? 's' : ''} a contract line that is not on the contract. Mark ${orphans.length === 1 ? 'it' : 'them'} not ready or fix the contract.`, {
      status: 409,
      reference: contract.ordernumber,
    });
  }

  const invoiceId = proformaInvoiceId(contractId, [
    ...readyActuals.map((a) => a.msdyn_actualid),
    ...readyMilestones.map((m) => m.msdyn_contractlinescheduleofvalueid),
  ]);
  const invoicenumber = await deps.numbers.numberFor(invoiceId);
  const invoiceDate = request.invoiceDate ?? isoDate(now());
  const taxOf = (value: string) => (request.taxPercent === undefined ? '0.00' : taxAt(value, request.taxPercent));

  const details: InvoiceLineDetail[] = [];
  for (const a of readyActuals) {
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
  for (const m of readyMilestones) {
    const line = lines.get(m.msdyn_contractlineid)!;
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
    msdyn_billingmethod: lines.get(contractLineId)!.msdyn_billingmethod,
    extendedamount: '0.00',
    tax: '0.00',
  }));
  const totals = totalsOf(invoiceLines, details);
  const invoice: Invoice = {
    invoiceid: invoiceId,
    invoicenumber,
    name: request.name ?? `${contract.name} ${invoiceDate}`,
    customerid: contract.customerid,
    salesorderid: contractId,
    transactioncurrencyid: contract.transactioncurrencyid,
    msdyn_projectinvoicestatus: InvoiceStatus.Draft,
    msdyn_invoicedate: invoiceDate,
    totalamount: totals.totalamount,
    totaltax: totals.totaltax,
  };

  await dataverse.invoiceLineDetails.createManyIfAbsent(details);
  await dataverse.invoiceLines.createManyIfAbsent(totals.lines);
  await dataverse.invoices.createIfAbsent(invoice);
  await claim(dataverse, readyActuals, readyMilestones);
  return viewOf(await loadInvoiceOr404(dataverse, invoiceId));
}

// ---------------------------------------------------------------------------------------------
// Read

export async function getProformaInvoice(deps: { dataverse: DataverseTables }, invoiceId: string): Promise<InvoiceView> {
  return viewOf(await loadInvoiceOr404(deps.dataverse, invoiceId));
}

// ---------------------------------------------------------------------------------------------
// Edit

function detailOr404(loaded: { invoice: Invoice; details: Stored<InvoiceLineDetail>[] }, detailId: string): Stored<InvoiceLineDetail> {
  const detail = loaded.details.find((d) => d.msdyn_invoicelinetransactionid === detailId);
  if (!detail) {
    throw new NotFoundError(`Invoice line detail ${detailId} is not on invoice ${loaded.invoice.invoicenumber} (${loaded.invoice.invoiceid}).`, loaded.invoice.invoicenumber);
  }
  return detail;
}

export async function updateInvoiceLineDetail(
  deps: { dataverse: DataverseTables },
  invoiceId: string,
  detailId: string,
  patch: UpdateDetailRequest,
): Promise<InvoiceView & { detail: InvoiceLineDetail }> {
  const { dataverse } = deps;
  const loaded = await loadInvoiceOr404(dataverse, invoiceId);
  const inv = loaded.invoice;
  assertEditable(inv, 'changing an invoice line detail');
  const detail = detailOr404(loaded, detailId);
  const ref = { reference: inv.invoicenumber };
  const what = `Invoice line detail ${detailId}`;

  const cls = detail.msdyn_transactionclassification;
  if (patch.msdyn_transactionclassification !== undefined && patch.msdyn_transactionclassification !== cls) {
    throw new BusinessError(
      `${what} has class ${labelOf.transactionClass(cls)}; the transaction class of a detail can never be changed. Delete the detail and add a manual one with class ${labelOf.transactionClass(patch.msdyn_transactionclassification)} instead.`,
      { status: 409, ...ref },
    );
  }
  const quantity = patch.msdyn_quantity ?? detail.msdyn_quantity;
  const price = patch.msdyn_price ?? detail.msdyn_price;
  const type = patch.msdyn_billingtype ?? detail.msdyn_billingtype;
  const changesMoney = !eq(quantity, detail.msdyn_quantity) || !eq(price, detail.msdyn_price) || type !== detail.msdyn_billingtype;
  if (detail.msdyn_milestone !== undefined && changesMoney) {
    throw new BusinessError(
      `${what} bills milestone ${detail.msdyn_milestone}, which is invoiced in full: its quantity, price and billing type cannot change. Delete the detail to leave the milestone out of this invoice.`,
      { status: 409, ...ref },
    );
  }
  if (!eq(price, detail.msdyn_price)) {
    const line = loaded.lines.find((l) => l.invoicedetailid === detail.msdyn_invoicelineid);
    if (line?.msdyn_billingmethod !== BillingMethod.TimeAndMaterial) {
      throw new BusinessError(`${what} is on a fixed-price line; only details on time-and-material lines may change their price.`, { status: 409, ...ref });
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
  const updated: InvoiceLineDetail = { ...plain(detail), msdyn_quantity: quantity, msdyn_price: price, msdyn_billingtype: type, msdyn_amount: value, msdyn_tax: tax };
  if (!(await dataverse.invoiceLineDetails.replaceIfMatch(updated, detail.etag))) {
    throw new BusinessError(`${what} was changed by someone else while this request was applied; reload the invoice and send the change again.`, { status: 409, ...ref });
  }
  const view = await refreshTotals(dataverse, invoiceId, 'changing an invoice line detail');
  return { ...view, detail: view.details.find((d) => d.msdyn_invoicelinetransactionid === detailId) ?? updated };
}

export async function deleteInvoiceLineDetail(deps: { dataverse: DataverseTables }, invoiceId: string, detailId: string): Promise<InvoiceView> {
  const { dataverse } = deps;
  const loaded = await loadInvoiceOr404(dataverse, invoiceId);
  const inv = loaded.invoice;
  assertEditable(inv, 'deleting an invoice line detail');
  const detail = detailOr404(loaded, detailId);

  // Back to the backlog first: a crash after this step leaves the ILD on the invoice with its actual
  // Ready to Invoice, which the next create request treats as an unfinished claim (see above).
  if (detail.msdyn_sourceactual !== undefined) {
    const actual = await dataverse.actuals.get(inv.salesorderid, detail.msdyn_sourceactual);
    if (actual && actual.msdyn_billingstatus === BillingStatus.CustomerInvoiceCreated && actual.msdyn_adjustmentstatus === undefined) {
      await replaceGuarded<Actual>(dataverse.actuals, [{ ...actual, msdyn_billingstatus: BillingStatus.ReadyToInvoice }], `Actual ${actual.msdyn_actualid}`);
    }
  }
  if (detail.msdyn_milestone !== undefined) {
    const milestone = await dataverse.milestones.get(inv.salesorderid, detail.msdyn_milestone);
    if (milestone && milestone.msdyn_invoicestatus === MilestoneStatus.CustomerInvoiceCreated) {
      await replaceGuarded<StoredMilestone>(dataverse.milestones, [{ ...milestone, msdyn_invoicestatus: MilestoneStatus.Ready }], `Milestone ${milestone.msdyn_name}`);
    }
  }
  await dataverse.invoiceLineDetails.delete(invoiceId, detailId);
  return refreshTotals(dataverse, invoiceId, 'deleting an invoice line detail');
}

export async function addInvoiceLineDetail(
  deps: { dataverse: DataverseTables; newId?: () => string },
  invoiceId: string,
  request: AddDetailRequest,
): Promise<InvoiceView & { detail: InvoiceLineDetail; created: boolean }> {
  const { dataverse } = deps;
  const loaded = await loadInvoiceOr404(dataverse, invoiceId);
  const inv = loaded.invoice;
  assertEditable(inv, 'adding an invoice line detail');
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
    const s = plain(same);
    const identical =
      s.msdyn_sourceactual === undefined &&
      s.msdyn_milestone === undefined &&
      s.msdyn_salescontractlineid === detail.msdyn_salescontractlineid &&
      s.msdyn_transactionclassification === detail.msdyn_transactionclassification &&
      s.msdyn_billingtype === detail.msdyn_billingtype &&
      eq(s.msdyn_quantity, detail.msdyn_quantity) &&
      eq(s.msdyn_price, detail.msdyn_price);
    if (!identical) {
      throw new BusinessError(`Invoice line detail ${detailId} already exists on invoice ${inv.invoicenumber} with other values; change it with PATCH or choose another id.`, {
        status: 409,
        reference: inv.invoicenumber,
      });
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
  if ((await dataverse.invoiceLineDetails.createIfAbsent(detail)) === 'exists') {
    throw new BusinessError(`Invoice line detail ${detailId} was added by someone else at the same moment; reload the invoice.`, { status: 409, reference: inv.invoicenumber });
  }
  const view = await refreshTotals(dataverse, invoiceId, 'adding an invoice line detail');
  return { ...view, detail, created: true };
}

// ---------------------------------------------------------------------------------------------
// Confirm

export interface ConfirmResult {
  invoiceId: string;
  invoicenumber: string;
  status: 'Queued' | 'AlreadyConfirmed';
  messageId?: string;
}

export function confirmationMessageId(invoiceId: string, etag: string): string {
  return deterministicGuid('invoice-confirmation', invoiceId, etag);
}

export async function requestInvoiceConfirmation(deps: ConfirmDeps, invoiceId: string, request: ConfirmRequest): Promise<ConfirmResult> {
  const { dataverse } = deps;
  const now = deps.now ?? (() => new Date());
  const loaded = await loadInvoiceOr404(dataverse, invoiceId);
  const inv = loaded.invoice;
  const status = inv.msdyn_projectinvoicestatus;
  if (status === InvoiceStatus.Confirmed || status === InvoiceStatus.Posted || status === InvoiceStatus.Paid) {
    return { invoiceId, invoicenumber: inv.invoicenumber, status: 'AlreadyConfirmed' };
  }
  if (!EDITABLE_INVOICE_STATUSES.includes(status)) {
    throw new BusinessError(`Invoice ${inv.invoicenumber} is ${labelOf.invoiceStatus(status)}; only a Draft or In Review invoice can be confirmed.`, {
      status: 409,
      reference: inv.invoicenumber,
    });
  }

  // Dry run of the confirmation rules on what is stored now.
  const contract = await dataverse.contracts.get(inv.salesorderid, inv.salesorderid);
  if (!contract) throw new BusinessError(`Invoice ${inv.invoicenumber}: its contract ${inv.salesorderid} no longer exists, so it cannot be confirmed.`, { status: 409, reference: inv.invoicenumber });
  const account: Stored<Account> | undefined = await dataverse.accounts.get(inv.customerid, inv.customerid);
  if (!account) {
    throw new BusinessError(`Invoice ${inv.invoicenumber}: its customer account ${inv.customerid} does not exist, so no F&O customer account can be named. Create the account first.`, {
      status: 409,
      reference: inv.invoicenumber,
    });
  }
  const sourceIds = new Set(loaded.details.map((d) => d.msdyn_sourceactual).filter((id): id is string => id !== undefined));
  const [sources, milestoneRows, contractLines] = await Promise.all([
    sourceIds.size ? dataverse.actualsOfContract(inv.salesorderid, sourceIds) : Promise.resolve(new Map<string, Stored<Actual>>()),
    loaded.details.some((d) => d.msdyn_milestone !== undefined) ? dataverse.milestones.listPartition(inv.salesorderid) : Promise.resolve([]),
    dataverse.contractLines.listPartition(inv.salesorderid),
  ]);
  try {
    planConfirmation({
      invoice: plain(inv),
      lines: loaded.lines.map(plain),
      details: loaded.details.map(plain),
      sourceActuals: new Map([...sources].map(([id, a]) => [id, plain(a)])),
      milestones: new Map<string, Milestone>(milestoneRows.map((m) => [m.msdyn_contractlinescheduleofvalueid, plain(m)])),
      contract: plain(contract),
      contractLines: new Map(contractLines.map((l) => [l.salesorderdetailid, plain(l)])),
      account: plain(account),
      confirmedOn: now().toISOString(),
    });
  } catch (error) {
    if (error instanceof ConfirmationRefused) {
      throw new BusinessError(`${error.reason} Nothing was sent.`, { status: 409, reference: inv.invoicenumber });
    }
    throw error;
  }

  const messageId = confirmationMessageId(invoiceId, inv.etag);
  const body: { invoiceId: string; confirmedOn: string; confirmedBy?: string } = { invoiceId, confirmedOn: now().toISOString() };
  if (request.confirmedBy !== undefined) body.confirmedBy = request.confirmedBy;
  await deps.publisher.publish(Queues.invoiceConfirmations, [{ messageId, body, subject: 'confirm', correlationId: inv.invoicenumber }]);
  return { invoiceId, invoicenumber: inv.invoicenumber, status: 'Queued', messageId };
}
