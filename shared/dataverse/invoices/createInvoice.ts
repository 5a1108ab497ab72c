/**
 * `POST api/dataverse/contracts/{contractId}/invoices` (domain.md step 5): a Draft proforma
 * invoice from every ready actual and ready milestone of the contract that no other invoice holds
 * (rules/invoiceRules.ts `buildDraftInvoice`). Nothing ready: refused.
 *
 * Every request makes its own invoice id: fresh, or derived from the request's idempotency key so
 * that the same request sent again answers the same invoice. Items are claimed first (claims.ts:
 * create-if-absent, so two invoices never hold one item), then the details, lines and header are
 * written, then the items move to Customer Invoice Created. A crash anywhere is finished by the
 * same request sent again, or mended by the next request for the contract. Why:
 * docs/decisions/proforma-invoices.md.
 */
import { randomUUID } from 'node:crypto';
import { BusinessError, ConcurrencyConflict, NotFoundError } from '../../core/errors';
import { deterministicGuid } from '../../core/ids';
import { BillingStatus, MilestoneStatus } from '../../core/options';
import { withoutEtag, type Stored } from '../../core/stored';
import type { TableStore } from '../../storage/tableStore';
import type { Actual, Contract, ContractLine, Invoice, InvoiceClaim, InvoiceLine, InvoiceLineDetail, StoredMilestone } from '../records';
import { buildDraftInvoice, isReadyActual } from '../rules/invoiceRules';
import { healClaims, moveItem, type ClaimStore } from './claims';
import { loadInvoiceOr404, refreshTotals, viewOf, type InvoiceView, type TotalsWriter } from './invoiceView';
import type { InvoiceNumbers } from './numbers';
import type { CreateInvoiceRequest } from './requests';

/** What creating an invoice needs of the Dataverse store. */
export interface CreateInvoiceStore extends ClaimStore, TotalsWriter {
  contracts: Pick<TableStore<Contract>, 'get'>;
  contractLines: Pick<TableStore<ContractLine>, 'listPartition'>;
  readyBacklog(contractId: string): Promise<{ actuals: Stored<Actual>[]; milestones: Stored<StoredMilestone>[] }>;
  claimItems(
    contractId: string,
    items: ReadonlyArray<{ itemId: string; kind: InvoiceClaim['ItemKind'] }>,
    invoiceId: string,
    at: Date,
  ): Promise<{ held: Set<string>; others: Stored<InvoiceClaim>[] }>;
  releaseClaims(contractId: string, itemIds: readonly string[], invoiceId: string): Promise<void>;
  invoices: TotalsWriter['invoices'] & Pick<TableStore<Invoice>, 'createIfAbsent'>;
  invoiceLines: TotalsWriter['invoiceLines'] & Pick<TableStore<InvoiceLine>, 'createManyIfAbsent'>;
  invoiceLineDetails: Pick<TableStore<InvoiceLineDetail>, 'createManyIfAbsent' | 'delete'>;
  actuals: ClaimStore['actuals'] & Pick<TableStore<Actual>, 'replaceEachIfMatch'>;
  milestones: ClaimStore['milestones'] & Pick<TableStore<StoredMilestone>, 'replaceEachIfMatch'>;
}

export interface InvoiceDeps {
  dataverse: CreateInvoiceStore;
  numbers: InvoiceNumbers;
  now?: () => Date;
}

/** The invoice id of a create request: from its idempotency key (the same for a resend), else fresh. */
export function requestedInvoiceId(contractId: string, idempotencyKey?: string): string {
  return idempotencyKey === undefined ? randomUUID() : deterministicGuid('proforma-invoice-request', contractId, idempotencyKey);
}

function isoDate(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** Items named by the invoice's details that are still Ready move on to it (a create that stopped after writing it). */
async function finishItems(dataverse: CreateInvoiceStore, contractId: string, details: readonly InvoiceLineDetail[]): Promise<void> {
  for (const d of details) {
    if (d.msdyn_sourceactual !== undefined) await moveItem(dataverse, contractId, 'Actual', d.msdyn_sourceactual, BillingStatus.ReadyToInvoice, BillingStatus.CustomerInvoiceCreated);
    if (d.msdyn_milestone !== undefined) await moveItem(dataverse, contractId, 'Milestone', d.msdyn_milestone, MilestoneStatus.Ready, MilestoneStatus.CustomerInvoiceCreated);
  }
}

/**
 * Create the Draft invoice `invoiceId` (see requestedInvoiceId) over the contract's ready items.
 * Sent again with the same id after it was written, it answers that invoice.
 */
export async function createProformaInvoice(
  deps: InvoiceDeps,
  contractId: string,
  request: CreateInvoiceRequest,
  invoiceId: string = requestedInvoiceId(contractId),
  options: { fresh?: boolean } = {},
): Promise<InvoiceView> {
  const { dataverse } = deps;
  const now = deps.now ?? (() => new Date());
  const contract = await dataverse.contracts.get(contractId, contractId);
  if (!contract) throw new NotFoundError(`Contract ${contractId} was not found.`, contractId);

  // A fresh random id cannot name a written invoice; only an id from an idempotency key is looked up.
  const written = options.fresh === true ? undefined : await dataverse.loadInvoice(invoiceId);
  if (written) {
    if (written.invoice.salesorderid !== contractId) {
      throw new BusinessError(`The idempotency key of this request made invoice ${written.invoice.invoicenumber} of contract ${written.invoice.salesorderid}; use a new key for contract ${contractId}.`, {
        reference: written.invoice.invoicenumber,
      });
    }
    await finishItems(dataverse, contractId, written.details);
    return viewOf(await loadInvoiceOr404(dataverse, invoiceId));
  }

  const healed = await healClaims(dataverse, contractId, invoiceId, now());
  const [backlog, lineRows] = await Promise.all([dataverse.readyBacklog(contractId), dataverse.contractLines.listPartition(contractId)]);
  const readyActuals = backlog.actuals.filter((a) => isReadyActual(a) && !healed.heldByOthers.has(a.msdyn_actualid));
  const readyMilestones = backlog.milestones.filter((m) => !healed.heldByOthers.has(m.msdyn_contractlinescheduleofvalueid));
  if (!readyActuals.length && !readyMilestones.length) {
    if (healed.finished) return viewOf(await loadInvoiceOr404(dataverse, healed.finished));
    const busy = healed.heldByOthers.size ? ` (${healed.heldByOthers.size} item(s) are on other draft invoices or being put on one right now)` : '';
    throw new BusinessError(
      `Contract ${contract.ordernumber} (${contractId}) has nothing ready to invoice${busy}: no unbilled actual is Ready to Invoice and no milestone is Ready. Mark some ready first (POST /api/dataverse/actuals/ready).`,
      { reference: contract.ordernumber },
    );
  }

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

  // 1. Claim: what another request claimed at the same moment stays theirs.
  const { held } = await dataverse.claimItems(
    contractId,
    [...readyActuals.map((a) => ({ itemId: a.msdyn_actualid, kind: 'Actual' as const })), ...readyMilestones.map((m) => ({ itemId: m.msdyn_contractlinescheduleofvalueid, kind: 'Milestone' as const }))],
    invoiceId,
    now(),
  );
  const actuals = readyActuals.filter((a) => held.has(a.msdyn_actualid));
  const milestones = readyMilestones.filter((m) => held.has(m.msdyn_contractlinescheduleofvalueid));
  if (!actuals.length && !milestones.length) {
    throw new ConcurrencyConflict(`The ready items of contract ${contract.ordernumber} were put on another invoice at the same moment; send the request again to see what is left.`, contract.ordernumber);
  }

  // 2. The draft.
  const draft = buildDraftInvoice({
    invoiceId,
    invoicenumber: await deps.numbers.numberFor(invoiceId),
    contract: withoutEtag(contract),
    contractLines: lines,
    readyActuals: actuals.map((a) => withoutEtag(a)),
    readyMilestones: milestones.map((m) => withoutEtag(m)),
    invoiceDate: request.invoiceDate ?? isoDate(now()),
    ...(request.name !== undefined ? { name: request.name } : {}),
    ...(request.taxPercent !== undefined ? { taxPercent: request.taxPercent } : {}),
  });
  const detailsWritten = await dataverse.invoiceLineDetails.createManyIfAbsent(draft.details);
  const linesWritten = await dataverse.invoiceLines.createManyIfAbsent(draft.lines);
  const headerWritten = await dataverse.invoices.createIfAbsent(draft.invoice);
  // What was written is the draft itself when every row was new (the answer needs no re-read);
  // rows an earlier attempt left behind are read back instead.
  const allNew = detailsWritten.existing.size === 0 && linesWritten.existing.size === 0 && headerWritten === 'created';

  // 3. The items move on to it. One that changed since it was read is read again; one that left
  // the backlog meanwhile leaves the draft again.
  const movedActuals = await dataverse.actuals.replaceEachIfMatch(actuals.map((a) => ({ record: { ...withoutEtag(a), msdyn_billingstatus: BillingStatus.CustomerInvoiceCreated }, etag: a.etag })));
  const movedMilestones = await dataverse.milestones.replaceEachIfMatch(
    milestones.map((m) => ({ record: { ...withoutEtag(m), msdyn_invoicestatus: MilestoneStatus.CustomerInvoiceCreated }, etag: m.etag })),
  );
  const left: string[] = [];
  for (const a of actuals) {
    if (movedActuals.has(`${contractId}/${a.msdyn_actualid}`)) continue;
    if (!(await moveItem(dataverse, contractId, 'Actual', a.msdyn_actualid, BillingStatus.ReadyToInvoice, BillingStatus.CustomerInvoiceCreated))) left.push(a.msdyn_actualid);
  }
  for (const m of milestones) {
    if (movedMilestones.has(`${contractId}/${m.msdyn_contractlinescheduleofvalueid}`)) continue;
    if (!(await moveItem(dataverse, contractId, 'Milestone', m.msdyn_contractlinescheduleofvalueid, MilestoneStatus.Ready, MilestoneStatus.CustomerInvoiceCreated))) left.push(m.msdyn_contractlinescheduleofvalueid);
  }
  if (!left.length) return allNew ? viewOfDraft(draft) : viewOf(await loadInvoiceOr404(dataverse, invoiceId));
  const leaving = new Set(left);
  for (const d of draft.details) {
    if (leaving.has(d.msdyn_sourceactual ?? '') || leaving.has(d.msdyn_milestone ?? '')) await dataverse.invoiceLineDetails.delete(invoiceId, d.msdyn_invoicelinetransactionid);
  }
  await dataverse.releaseClaims(contractId, left, invoiceId);
  return refreshTotals(dataverse, invoiceId, 'creating the invoice');
}

/** The view of a draft exactly as it was written (the order viewOf gives a stored invoice). */
function viewOfDraft(draft: { invoice: Invoice; lines: InvoiceLine[]; details: InvoiceLineDetail[] }): InvoiceView {
  return viewOf({ invoice: { ...draft.invoice, etag: '' }, lines: draft.lines.map((l) => ({ ...l, etag: '' })), details: draft.details.map((d) => ({ ...d, etag: '' })) });
}
