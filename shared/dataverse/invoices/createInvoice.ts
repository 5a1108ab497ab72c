/**
 * `POST api/dataverse/contracts/{contractId}/invoices` (domain.md step 5): a Draft proforma
 * invoice from every ready actual and ready milestone of the contract (rules/invoiceRules.ts
 * `buildDraftInvoice`). Nothing ready: refused.
 *
 * The invoice id derives from the contract and the ready ids, so two concurrent or repeated
 * requests over the same backlog make the same invoice; its number is reserved per invoice id.
 * Write order: ILDs, lines, the header (create-if-absent), then the claims (actuals -> Customer
 * Invoice Created, milestones -> Customer invoice created; ETag-guarded). A crash between the
 * header and the last claim leaves a Draft whose ILDs name items still Ready; the next request for
 * the contract finishes those claims first and answers with that invoice. Why:
 * docs/decisions/proforma-invoices.md.
 */
import { byKey } from '../../core/collections';
import { BusinessError, NotFoundError } from '../../core/errors';
import { BillingStatus, MilestoneStatus } from '../../core/options';
import { withoutEtag, type Stored } from '../../core/stored';
import type { TableStore } from '../../storage/tableStore';
import { replaceGuarded } from '../guardedWrites';
import type { Actual, Contract, ContractLine, Invoice, InvoiceLine, InvoiceLineDetail, StoredMilestone } from '../records';
import { buildDraftInvoice, EDITABLE_INVOICE_STATUSES, isReadyActual, proformaInvoiceId } from '../rules/invoiceRules';
import { loadInvoiceOr404, viewOf, type InvoiceReader, type InvoiceView } from './invoiceView';
import type { InvoiceNumbers } from './numbers';
import type { CreateInvoiceRequest } from './requests';

/** What creating an invoice needs of the Dataverse store. */
export interface CreateInvoiceStore extends InvoiceReader {
  contracts: Pick<TableStore<Contract>, 'get'>;
  contractLines: Pick<TableStore<ContractLine>, 'listPartition'>;
  readyBacklog(contractId: string): Promise<{ actuals: Stored<Actual>[]; milestones: Stored<StoredMilestone>[] }>;
  invoicesOfContract(contractId: string): Promise<Stored<Invoice>[]>;
  invoices: Pick<TableStore<Invoice>, 'createIfAbsent'>;
  invoiceLines: Pick<TableStore<InvoiceLine>, 'createManyIfAbsent'>;
  invoiceLineDetails: Pick<TableStore<InvoiceLineDetail>, 'createManyIfAbsent' | 'listPartition'>;
  actuals: Pick<TableStore<Actual>, 'replaceAllIfMatch'>;
  milestones: Pick<TableStore<StoredMilestone>, 'replaceAllIfMatch'>;
}

export interface InvoiceDeps {
  dataverse: CreateInvoiceStore;
  numbers: InvoiceNumbers;
  now?: () => Date;
}

function isoDate(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** Claim ready items for an invoice: actuals -> Customer Invoice Created, milestones -> Customer invoice created. */
async function claim(dataverse: CreateInvoiceStore, actuals: Stored<Actual>[], milestones: Stored<StoredMilestone>[]): Promise<void> {
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
  dataverse: CreateInvoiceStore,
  contractId: string,
  readyActuals: Stored<Actual>[],
  readyMilestones: Stored<StoredMilestone>[],
): Promise<{ invoiceId: string; actualIds: Set<string>; milestoneIds: Set<string> } | undefined> {
  const drafts = (await dataverse.invoicesOfContract(contractId)).filter((i) => EDITABLE_INVOICE_STATUSES.includes(i.msdyn_projectinvoicestatus));
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

  const [backlog, lineRows] = await Promise.all([dataverse.readyBacklog(contractId), dataverse.contractLines.listPartition(contractId)]);
  const readyActuals = backlog.actuals.filter(isReadyActual);
  const readyMilestones = backlog.milestones;
  if (!readyActuals.length && !readyMilestones.length) {
    throw new BusinessError(
      `Contract ${contract.ordernumber} (${contractId}) has nothing ready to invoice: no unbilled actual is Ready to Invoice and no milestone is Ready. Mark some ready first (POST /api/dataverse/actuals/ready).`,
      { reference: contract.ordernumber },
    );
  }

  const finished = await finishUnfinishedClaims(dataverse, contractId, readyActuals, readyMilestones);
  if (finished) return viewOf(await loadInvoiceOr404(dataverse, finished.invoiceId));

  const lines = new Map<string, ContractLine>(lineRows.map((l) => [l.salesorderdetailid, withoutEtag(l)]));
  const orphans = [
    ...readyActuals.filter((a) => !lines.has(a.msdyn_salescontractlineid)).map((a) => `actual ${a.msdyn_actualid}`),
    ...readyMilestones.filter((m) => !lines.has(m.msdyn_contractlineid)).map((m) => `milestone ${m.msdyn_contractlinescheduleofvalueid}`),
  ];
  if (orphans.length) {
    throw new BusinessError(
      `Cannot invoice contract ${contract.ordernumber}: ${orphans.join(', ')} name${orphans.length === 1 ? 's' : ''} a contract line that is not on the contract. Mark ${orphans.length === 1 ? 'it' : 'them'} not ready or fix the contract.`,
      { reference: contract.ordernumber },
    );
  }

  const invoiceId = proformaInvoiceId(contractId, [...readyActuals.map((a) => a.msdyn_actualid), ...readyMilestones.map((m) => m.msdyn_contractlinescheduleofvalueid)]);
  const draft = buildDraftInvoice({
    invoiceId,
    invoicenumber: await deps.numbers.numberFor(invoiceId),
    contract: withoutEtag(contract),
    contractLines: lines,
    readyActuals: readyActuals.map((a) => withoutEtag(a)),
    readyMilestones: readyMilestones.map((m) => withoutEtag(m)),
    invoiceDate: request.invoiceDate ?? isoDate(now()),
    ...(request.name !== undefined ? { name: request.name } : {}),
    ...(request.taxPercent !== undefined ? { taxPercent: request.taxPercent } : {}),
  });

  await dataverse.invoiceLineDetails.createManyIfAbsent(draft.details);
  await dataverse.invoiceLines.createManyIfAbsent(draft.lines);
  await dataverse.invoices.createIfAbsent(draft.invoice);
  await claim(dataverse, readyActuals, readyMilestones);
  return viewOf(await loadInvoiceOr404(dataverse, invoiceId));
}
