/**
 * `POST api/dataverse/invoices/{invoiceId}/corrections` (domain.md step 12): a corrective Draft of a
 * Confirmed or Posted invoice, one corrective ILD per billed line at quantity 0 (a full credit);
 * the manager then raises quantities to keep parts (editInvoice.ts) and confirms it like any
 * invoice. The n-th correction of an invoice has a derived id, so two requests at once make one
 * draft: the second is answered 409 naming it, as is any request while a correction is open.
 * Rules: rules/correctionRules.ts; why: docs/decisions/corrections.md.
 */
import { z } from 'zod';
import { BusinessError, NotFoundError } from '../../core/errors';
import { dateString } from '../../core/fields';
import { InvoiceStatus } from '../../core/options';
import { withoutEtag, type Stored } from '../../core/stored';
import type { TableStore } from '../../storage/tableStore';
import type { Actual, ContractLine, Invoice, InvoiceLine, InvoiceLineDetail } from '../records';
import { confirmationActualId, ConfirmationRole } from '../rules/confirmation/plan';
import { buildCorrectiveDraft, correctionStatusRefusal, correctiveInvoiceId, isCorrectable } from '../rules/correctionRules';
import { EDITABLE_INVOICE_STATUSES } from '../rules/invoiceRules';
import { loadInvoiceOr404, viewOf, type InvoiceReader, type InvoiceView } from './invoiceView';
import type { InvoiceNumbers } from './numbers';

export const correctionRequestSchema = z.strictObject({
  /** The corrective invoice's date (default: today, UTC). */
  invoiceDate: dateString.optional(),
  name: z.string().trim().min(1).max(300).optional(),
});
export type CorrectionRequest = z.infer<typeof correctionRequestSchema>;

/** What creating a correction needs of the Dataverse store. */
export interface CorrectionStore extends InvoiceReader {
  invoices: Pick<TableStore<Invoice>, 'get' | 'createIfAbsent'>;
  invoiceLines: Pick<TableStore<InvoiceLine>, 'createManyIfAbsent'>;
  invoiceLineDetails: Pick<TableStore<InvoiceLineDetail>, 'createManyIfAbsent' | 'listPartition'>;
  contractLines: Pick<TableStore<ContractLine>, 'listPartition'>;
  billedActualsOfInvoice(contractId: string, invoiceId: string): Promise<Stored<Actual>[]>;
}

export interface CorrectionDeps {
  dataverse: CorrectionStore;
  numbers: InvoiceNumbers;
  now?: () => Date;
}

/** Corrections of one invoice are numbered 1, 2, ...; this many may exist before the search gives up. */
const MAX_CORRECTIONS = 1_000;

/** The open correction of `original`, or the number the next one gets. */
async function nextCorrection(dataverse: CorrectionStore, original: Invoice): Promise<{ open?: Stored<Invoice>; n: number }> {
  for (let n = 1; n <= MAX_CORRECTIONS; n++) {
    const existing = await dataverse.invoices.get(correctiveInvoiceId(original.invoiceid, n), correctiveInvoiceId(original.invoiceid, n));
    if (!existing) return { n };
    if (EDITABLE_INVOICE_STATUSES.includes(existing.msdyn_projectinvoicestatus)) return { open: existing, n };
  }
  throw new BusinessError(`Invoice ${original.invoicenumber} has been corrected ${MAX_CORRECTIONS} times; correct its latest corrective invoice instead.`, { reference: original.invoicenumber });
}

function openCorrectionRefusal(original: Invoice, open: Invoice): BusinessError {
  const fenced = open.pi_confirmationrequestedon !== undefined ? ' (its confirmation is under way)' : '';
  return new BusinessError(
    `Invoice ${original.invoicenumber} already has an open correction: ${open.invoicenumber} (${open.invoiceid}), ${open.msdyn_projectinvoicestatus === InvoiceStatus.InReview ? 'In Review' : 'Draft'}${fenced}. Change or confirm that one; an invoice has one open correction at a time.`,
    { reference: open.invoicenumber },
  );
}

export async function createCorrection(deps: CorrectionDeps, originalInvoiceId: string, request: CorrectionRequest): Promise<InvoiceView & { invoiceId: string; invoicenumber: string; correctedInvoiceId: string }> {
  const { dataverse } = deps;
  const now = deps.now ?? (() => new Date());
  const stored = await dataverse.invoices.get(originalInvoiceId, originalInvoiceId);
  if (!stored) throw new NotFoundError(`Invoice ${originalInvoiceId} was not found.`, originalInvoiceId);
  const original = withoutEtag(stored);
  const statusRefusal = correctionStatusRefusal(original);
  if (statusRefusal) throw new BusinessError(statusRefusal, { reference: original.invoicenumber });

  const { open, n } = await nextCorrection(dataverse, original);
  if (open) throw openCorrectionRefusal(original, open);

  const contractId = original.salesorderid;
  const [billedRows, originalDetails, contractLines] = await Promise.all([
    dataverse.billedActualsOfInvoice(contractId, original.invoiceid),
    dataverse.invoiceLineDetails.listPartition(original.invoiceid),
    dataverse.contractLines.listPartition(contractId),
  ]);
  const billed = billedRows.map((b) => withoutEtag(b)).filter(isCorrectable);
  if (billed.length === 0) {
    const corrected = billedRows.some((b) => b.msdyn_adjustmentstatus !== undefined);
    throw new BusinessError(
      corrected
        ? `Invoice ${original.invoicenumber} has no billed line left to correct: every one was corrected by an earlier corrective invoice. Correct that corrective invoice instead.`
        : `Invoice ${original.invoicenumber} has no billed sales actuals, so there is nothing to correct (was it confirmed by this integration?).`,
      { reference: original.invoicenumber },
    );
  }
  // A milestone's billed actual does not name the milestone; the original's milestone ILD does.
  const milestoneOfBilled = new Map<string, string>();
  for (const d of originalDetails) {
    if (d.msdyn_milestone === undefined) continue;
    milestoneOfBilled.set(confirmationActualId(original.invoiceid, d.msdyn_invoicelinetransactionid, ConfirmationRole.Billed), d.msdyn_milestone);
  }

  const invoiceId = correctiveInvoiceId(original.invoiceid, n);
  const draft = buildCorrectiveDraft({
    correctiveInvoiceId: invoiceId,
    invoicenumber: await deps.numbers.numberFor(invoiceId),
    original,
    billed,
    milestoneOfBilled,
    contractLines: new Map(contractLines.map((l) => [l.salesorderdetailid, withoutEtag(l)])),
    invoiceDate: request.invoiceDate ?? now().toISOString().slice(0, 10),
    ...(request.name !== undefined ? { name: request.name } : {}),
  });
  // Details and lines first, the header last: a draft is there once its header is. Another
  // request that got here at the same moment wrote the same details and lines (derived ids).
  await dataverse.invoiceLineDetails.createManyIfAbsent(draft.details);
  await dataverse.invoiceLines.createManyIfAbsent(draft.lines);
  if ((await dataverse.invoices.createIfAbsent(draft.invoice)) === 'exists') {
    const other = await dataverse.invoices.get(invoiceId, invoiceId);
    throw openCorrectionRefusal(original, other ?? draft.invoice);
  }
  const view = viewOf(await loadInvoiceOr404(dataverse, invoiceId));
  return { invoiceId, invoicenumber: view.invoice.invoicenumber, correctedInvoiceId: original.invoiceid, ...view };
}

/**
 * What the plan of a corrective invoice reads besides an ordinary one's: the invoice it corrects
 * and the billed actuals its details correct (from the contract's actuals already loaded).
 * Nothing for an ordinary invoice.
 */
export async function correctionInputs(
  invoices: Pick<TableStore<Invoice>, 'get'>,
  invoice: Invoice,
  details: readonly InvoiceLineDetail[],
  actuals: ReadonlyMap<string, Stored<Actual>>,
): Promise<{ originalBilledActuals?: Map<string, Actual>; correctedInvoice?: Pick<Invoice, 'invoiceid' | 'invoicenumber'> }> {
  const correctedId = invoice.msdyn_correctedinvoice;
  if (correctedId === undefined) return {};
  const originalBilledActuals = new Map<string, Actual>();
  for (const d of details) {
    const billed = d.msdyn_originalbilledactual === undefined ? undefined : actuals.get(d.msdyn_originalbilledactual);
    if (billed) originalBilledActuals.set(billed.msdyn_actualid, withoutEtag(billed));
  }
  const corrected = await invoices.get(correctedId, correctedId);
  return { originalBilledActuals, ...(corrected ? { correctedInvoice: { invoiceid: corrected.invoiceid, invoicenumber: corrected.invoicenumber } } : {}) };
}
