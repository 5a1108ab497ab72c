/**
 * Map "Project Operations integration actuals", F&O -> Dataverse (domain steps 3 and 11): queue
 * `actuals-accounting`, produced by importFromStaging (cost and unbilled sales: voucher of the
 * project transaction) and postInvoiceProposal (billed sales: voucher of the customer invoice,
 * plus `invoice`).
 *
 * - Every detail is merged onto its Dataverse actual (dvActuals, PartitionKey = contractId):
 *   msdyn_externalreferenceid = voucher, msdyn_postingdate, msdyn_accountingcurrency,
 *   msdyn_accountingamount, msdyn_exchangerate, and msdyn_salestaxamount when the detail has it.
 *   A missing actual is never created. How the writes are batched (one read and one transaction
 *   per 100 actuals on a first delivery): DataverseStore.mergeIntoActuals and
 *   docs/decisions/accounting-back.md.
 * - `invoice` present: dvInvoices gets msdyn_customerinvoicenumber, msdyn_customerinvoicedate and
 *   status Posted (ETag-guarded). Already Posted (or Paid) with that number: nothing to do.
 * - Business errors, recorded after everything else of the message is applied (so one bad
 *   record does not hold back the others): an actual that is not in dvActuals under the detail's
 *   contract (named, with its voucher); an unknown invoice; an invoice already posted with another
 *   customer invoice number; an invoice that is not confirmed (Draft / In Review).
 */
import { BusinessError } from '../core/errors';
import { InvoiceStatus, optionName } from '../core/options';
import type { ActualPatch, ActualPatchResult } from '../dataverse/dataverseStore';
import type { Actual, Invoice } from '../dataverse/records';
import type { TableStore } from '../storage/tableStore';
import type { AccountingDetail, ActualsAccountingMessage } from '../messages';

/** What writing accounting details back needs of the Dataverse store. */
export interface AccountingBackStore {
  mergeIntoActuals(patches: readonly ActualPatch[]): Promise<ActualPatchResult>;
  invoices: Pick<TableStore<Invoice>, 'get' | 'mergeFields'>;
}

export interface SyncActualsAccountingDeps {
  dataverse: AccountingBackStore;
  log?: (line: string) => void;
}

export interface AccountingSyncResult {
  /** Actuals written (those already carrying the same details are not counted). */
  updated: number;
  /** Actuals that already carried these details. */
  unchanged: number;
  unknownActuals: string[];
  invoice?: 'posted' | 'unchanged';
}

/** The dvActuals fields a detail sets. */
export function accountingFields(detail: AccountingDetail): Partial<Actual> {
  const fields: Partial<Actual> = {
    msdyn_externalreferenceid: detail.voucher,
    msdyn_postingdate: detail.postingDate,
    msdyn_accountingcurrency: detail.accountingCurrency,
    msdyn_accountingamount: detail.accountingAmount,
    msdyn_exchangerate: detail.exchangeRate,
  };
  if (detail.salesTaxAmount !== undefined) fields.msdyn_salestaxamount = detail.salesTaxAmount;
  return fields;
}

export async function syncActualsAccounting(deps: SyncActualsAccountingDeps, message: ActualsAccountingMessage): Promise<AccountingSyncResult> {
  const log = deps.log ?? (() => undefined);
  const problems: string[] = [];

  // The last detail of an actual wins if a message names it twice.
  const details = [...new Map(message.details.map((d) => [`${d.contractId}|${d.actualId}`, d] as const)).values()];
  const byPatch = new Map<ActualPatch, AccountingDetail>();
  const patches = details.map((d) => {
    const patch: ActualPatch = { contractId: d.contractId, actualId: d.actualId, fields: accountingFields(d) };
    byPatch.set(patch, d);
    return patch;
  });
  const applied = await deps.dataverse.mergeIntoActuals(patches);
  const unknown = applied.unknown.map((p) => byPatch.get(p)!);
  log(
    `accounting details: ${applied.updated} actuals updated, ${applied.unchanged} already up to date, ${unknown.length} unknown ` +
      `(${applied.optimisticGroups} of ${applied.groups} contract groups written without reading each actual)`,
  );

  if (unknown.length > 0) {
    problems.push(
      `${unknown.length === 1 ? 'Actual' : 'Actuals'} ${unknown.map((d) => `${d.actualId} (contract ${d.contractId}, voucher ${d.voucher})`).join(', ')} ` +
        `${unknown.length === 1 ? 'is' : 'are'} not in dvActuals, so ${unknown.length === 1 ? 'its' : 'their'} accounting details were not applied ` +
        `(the other ${details.length - unknown.length} of this message were). Check that the actual exists in Dataverse under that contract, then resend the message`,
    );
  }

  let invoiceOutcome: AccountingSyncResult['invoice'];
  if (message.invoice) {
    const result = await markInvoicePosted(deps, message.invoice);
    if (typeof result === 'string') invoiceOutcome = result;
    else problems.push(result.problem);
  }

  const result: AccountingSyncResult = { updated: applied.updated, unchanged: applied.unchanged, unknownActuals: unknown.map((d) => d.actualId) };
  if (invoiceOutcome !== undefined) result.invoice = invoiceOutcome;
  if (problems.length > 0) {
    throw new BusinessError(problems.join('. '), { reference: unknown[0]?.actualId ?? message.invoice?.invoiceId });
  }
  return result;
}

async function markInvoicePosted(
  deps: SyncActualsAccountingDeps,
  posted: NonNullable<ActualsAccountingMessage['invoice']>,
): Promise<'posted' | 'unchanged' | { problem: string }> {
  const { invoiceId, customerInvoiceNumber, customerInvoiceDate } = posted;
  for (let attempt = 1; attempt <= 5; attempt++) {
    const invoice = await deps.dataverse.invoices.get(invoiceId, invoiceId);
    if (!invoice) {
      return { problem: `Invoice ${invoiceId} is not in dvInvoices, so it could not be set Posted with customer invoice ${customerInvoiceNumber}` };
    }
    const status = invoice.msdyn_projectinvoicestatus;
    const number = invoice.msdyn_customerinvoicenumber;
    if (number !== undefined && number !== customerInvoiceNumber) {
      return {
        problem: `Invoice ${invoice.invoicenumber} (${invoiceId}) is already posted as customer invoice ${number}; customer invoice ${customerInvoiceNumber} was not recorded on it`,
      };
    }
    const done = (status === InvoiceStatus.Posted || status === InvoiceStatus.Paid) && number === customerInvoiceNumber && invoice.msdyn_customerinvoicedate === customerInvoiceDate;
    if (done) return 'unchanged';
    if (status !== InvoiceStatus.Confirmed && status !== InvoiceStatus.Posted && status !== InvoiceStatus.Paid) {
      return {
        problem: `Invoice ${invoice.invoicenumber} (${invoiceId}) is ${optionName(InvoiceStatus, status)}; only a confirmed invoice can become Posted (customer invoice ${customerInvoiceNumber})`,
      };
    }
    const fields: Partial<Invoice> = { msdyn_customerinvoicenumber: customerInvoiceNumber, msdyn_customerinvoicedate: customerInvoiceDate };
    if (status === InvoiceStatus.Confirmed) fields.msdyn_projectinvoicestatus = InvoiceStatus.Posted;
    if ((await deps.dataverse.invoices.mergeFields({ partitionKey: invoiceId, rowKey: invoiceId }, fields, invoice.etag)) !== undefined) return 'posted';
  }
  throw new Error(`Invoice ${invoiceId} kept changing while it was being set Posted; the message is retried`);
}
