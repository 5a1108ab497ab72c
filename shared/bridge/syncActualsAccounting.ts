/**
 * Map "Project Operations integration actuals", F&O -> Dataverse (domain steps 3 and 11): queue
 * `actuals-accounting`, produced by importFromStaging (cost and unbilled sales: voucher of the
 * project transaction) and postInvoiceProposal (billed sales: voucher of the customer invoice,
 * plus `invoice`).
 *
 * - Every detail is merged onto its Dataverse actual (dvActuals, PartitionKey = contractId):
 *   msdyn_externalreferenceid = voucher, msdyn_postingdate, msdyn_accountingcurrency,
 *   msdyn_accountingamount, msdyn_exchangerate, and msdyn_salestaxamount when the detail has it.
 *   The details are grouped by contract partition, at most 100 a group (one transaction each):
 *   - Optimistic (a first delivery): the group's FIRST actual is point-read; when it exists and
 *     lacks its details, the whole group is written as one Merge transaction with If-Match *
 *     (`update`, never an upsert: a missing actual is not created) without reading the others.
 *     One read and one transaction per 100 actuals instead of 100 reads. Should one actual of the
 *     group be missing, the transaction fails as a whole (404, nothing applied) and the group
 *     takes the exact path. An actual of such a group that happened to carry the values already
 *     is rewritten with the same values (and counted as updated).
 *   - Exact (the first actual is missing or already carries its details: a redelivery, an
 *     unknown actual, or a group the optimistic write refused): every actual is point-read and
 *     only the ones whose fields differ are written. Redelivery of an applied message: a
 *     transaction is all-or-nothing, so its first actual tells; same values, nothing written.
 *   Measured on Azurite (tests/integration/posting/timing.test.ts), 10,000 details of one
 *   contract in messages of 100, 16 at once: 25 s with a read per actual, about the bulk-write
 *   time with this path. A RowKey-range query per message was faster than 100 point reads on
 *   Azurite but scans the whole table there (it grows with the table), so it is not used.
 * - `invoice` present: dvInvoices gets msdyn_customerinvoicenumber, msdyn_customerinvoicedate and
 *   status Posted (ETag-guarded). Already Posted (or Paid) with that number: nothing to do.
 * - Business errors, recorded after everything else of the message is applied (so one bad
 *   record does not hold back the others): an actual that is not in dvActuals under the detail's
 *   contract (named, with its voucher); an unknown invoice; an invoice already posted with another
 *   customer invoice number; an invoice that is not confirmed (Draft / In Review).
 */
import type { DataverseTables } from '../dataverse/dataverseStore';
import type { Actual, Invoice } from '../dataverse/records';
import { InvoiceStatus, optionName } from '../core/options';
import { BusinessError } from '../core/errors';
import type { AccountingDetail, ActualsAccountingMessage } from './messages';
import { chunk, mapLimit } from '../storage/concurrency';
import { isStatus, MAX_BATCH } from '../storage/tableStore';

export interface SyncActualsAccountingDeps {
  dataverse: Pick<DataverseTables, 'actuals' | 'invoices'>;
  log?: (line: string) => void;
}

type TableAction = Parameters<DataverseTables['actuals']['submit']>[0][number];

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

function differs(actual: Actual, fields: Partial<Actual>): boolean {
  return Object.entries(fields).some(([k, v]) => (actual as Record<string, unknown>)[k] !== v);
}

export async function syncActualsAccounting(deps: SyncActualsAccountingDeps, message: ActualsAccountingMessage): Promise<AccountingSyncResult> {
  const log = deps.log ?? (() => undefined);
  const problems: string[] = [];

  // The last detail of an actual wins if a message names it twice.
  const details = [...new Map(message.details.map((d) => [`${d.contractId}|${d.actualId}`, d] as const)).values()];
  const groups = groupByContract(details);
  const applied = await mapLimit(groups, GROUP_CONCURRENCY, (group) => applyGroup(deps, group));

  let updated = 0;
  let unchanged = 0;
  let optimistic = 0;
  const unknown: AccountingDetail[] = [];
  for (const g of applied) {
    updated += g.updated;
    unchanged += g.unchanged;
    unknown.push(...g.unknown);
    if (g.path === 'optimistic') optimistic++;
  }
  log(
    `accounting details: ${updated} actuals updated, ${unchanged} already up to date, ${unknown.length} unknown ` +
      `(${optimistic} of ${groups.length} contract groups written without reading each actual)`,
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

  const result: AccountingSyncResult = { updated, unchanged, unknownActuals: unknown.map((d) => d.actualId) };
  if (invoiceOutcome !== undefined) result.invoice = invoiceOutcome;
  if (problems.length > 0) {
    throw new BusinessError(problems.join('. '), { reference: unknown[0]?.actualId ?? message.invoice?.invoiceId });
  }
  return result;
}

/** Contract groups (one partition, <= 100 actuals: one transaction) applied at once per message. */
const GROUP_CONCURRENCY = 8;

/** The details grouped by contract (partition), in message order, at most MAX_BATCH per group. */
function groupByContract(details: readonly AccountingDetail[]): AccountingDetail[][] {
  const byContract = new Map<string, AccountingDetail[]>();
  for (const d of details) {
    let list = byContract.get(d.contractId);
    if (!list) byContract.set(d.contractId, (list = []));
    list.push(d);
  }
  return [...byContract.values()].flatMap((list) => chunk(list, MAX_BATCH));
}

interface GroupOutcome {
  path: 'optimistic' | 'exact';
  updated: number;
  unchanged: number;
  unknown: AccountingDetail[];
}

function mergeAction(detail: AccountingDetail): TableAction {
  // 'update' (not upsert), no ETag given: If-Match *, so a missing actual fails instead of being created.
  return ['update', { partitionKey: detail.contractId, rowKey: detail.actualId, ...accountingFields(detail) }, 'Merge'];
}

/**
 * One contract group: optimistic when its first actual exists and lacks its details (a first
 * delivery), exact otherwise (a redelivery, an unknown actual, mixed states).
 */
async function applyGroup(deps: SyncActualsAccountingDeps, group: AccountingDetail[]): Promise<GroupOutcome> {
  const first = group[0]!;
  const sample = await deps.dataverse.actuals.get(first.contractId, first.actualId);
  if (sample && differs(sample, accountingFields(first))) {
    if (group.length === 1) {
      await deps.dataverse.actuals.submit([mergeAction(first)]);
      return { path: 'optimistic', updated: 1, unchanged: 0, unknown: [] };
    }
    try {
      // One transaction: all applied, or (an actual is missing: 404) none.
      await deps.dataverse.actuals.submit(group.map(mergeAction));
      return { path: 'optimistic', updated: group.length, unchanged: 0, unknown: [] };
    } catch (error) {
      if (!isStatus(error, 404)) throw error;
    }
  }
  return applyGroupExactly(deps, group, new Map([[first.actualId, sample]]));
}

/** Read every actual of the group (reusing what was read already) and write only those whose fields differ. */
async function applyGroupExactly(
  deps: SyncActualsAccountingDeps,
  group: AccountingDetail[],
  known: Map<string, (Actual & { etag: string }) | undefined>,
): Promise<GroupOutcome> {
  const found = await mapLimit(group, 16, (d) => (known.has(d.actualId) ? Promise.resolve(known.get(d.actualId)) : deps.dataverse.actuals.get(d.contractId, d.actualId)));
  const actions: TableAction[] = [];
  const unknown: AccountingDetail[] = [];
  let unchanged = 0;
  group.forEach((detail, i) => {
    const actual = found[i];
    if (!actual) {
      unknown.push(detail);
      return;
    }
    if (!differs(actual, accountingFields(detail))) {
      unchanged++;
      return;
    }
    actions.push(mergeAction(detail));
  });
  await deps.dataverse.actuals.submit(actions);
  return { path: 'exact', updated: actions.length, unchanged, unknown };
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
    try {
      await deps.dataverse.invoices.submit([['update', { partitionKey: invoiceId, rowKey: invoiceId, ...fields }, 'Merge', { etag: invoice.etag }]]);
      return 'posted';
    } catch (error) {
      if (!isStatus(error, 412)) throw error;
    }
  }
  throw new Error(`Invoice ${invoiceId} kept changing while it was being set Posted; the message is retried`);
}
