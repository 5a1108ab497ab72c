/**
 * Republish a confirmed invoice's messages (`POST dataverse/invoices/{invoiceId}/republish`, and the
 * repair sweep): the proposal header to `invoice-proposals` and the synced new actuals to `actuals`,
 * with exactly the bodies its confirmation published. They are recomputed as the "already
 * confirmed" path of confirmProformaInvoice.ts recomputes them: the plan in resume mode from the
 * stored invoice, details and source records (docs/decisions/confirmation-delivery.md), never from
 * the stored new actuals (F&O writes fields on them later). Only the message ids are new: the
 * original id and the time of the republish, so duplicate detection does not drop a resend that
 * is needed; the consumers are idempotent. Nothing is written on Dataverse. Why: docs/decisions/repair.md.
 */
import { withoutEtag, type Stored } from '../core/stored';
import type { TableStore } from '../storage/tableStore';
import type { Account, Actual, Contract, ContractLine, Invoice, InvoiceLine, InvoiceLineDetail, StoredMilestone } from '../dataverse/records';
import { ConfirmationRefused, planConfirmation, type ConfirmationPlan } from '../dataverse/rules/confirmation/plan';
import { labelOf } from '../core/labels';
import { InvoiceStatus } from '../core/options';
import { BusinessError, NotFoundError } from '../core/errors';
import { asRepublished, Queues, type OutboundMessage, type Publisher } from '../messages';
import { addByKey } from '../dataverse/dataverseStore';
import { confirmationInputOf, confirmationMessages, listActualsAlongside, namedActualIds } from './confirmProformaInvoice';

/** What republishing reads of the Dataverse store (reads only). */
export interface RepublishConfirmationRepository {
  invoices: Pick<TableStore<Invoice>, 'get'>;
  invoiceLines: Pick<TableStore<InvoiceLine>, 'listPartition'>;
  invoiceLineDetails: Pick<TableStore<InvoiceLineDetail>, 'listPartition'>;
  milestones: Pick<TableStore<StoredMilestone>, 'listPartition'>;
  contracts: Pick<TableStore<Contract>, 'get'>;
  contractLines: Pick<TableStore<ContractLine>, 'listPartition'>;
  accounts: Pick<TableStore<Account>, 'get'>;
  actualsOfContractUpTo(contractId: string, limit: () => number): Promise<{ actuals: Map<string, Stored<Actual>>; complete: boolean }>;
  actualsOfContractByIds(contractId: string, ids: Iterable<string>): Promise<Map<string, Stored<Actual>>>;
}

export interface RepublishConfirmationDeps {
  dataverse: RepublishConfirmationRepository;
  publisher: Publisher;
  log?: (line: string) => void;
}

export interface RepublishConfirmationOptions {
  /** When the republish was asked for: part of the new message ids (default now). */
  at?: Date;
  /** Re-send the proposal header (default true). */
  proposal?: boolean;
  /**
   * Re-send the actuals: every message (true, the default), none (false), or only the messages
   * that carry one of these actual ids (each such message whole, as first published).
   */
  actuals?: boolean | ReadonlySet<string>;
}

export interface RepublishConfirmationResult {
  invoiceId: string;
  invoiceNumber: string;
  status: 'Confirmed' | 'Posted';
  /** The id of the proposal header message sent (absent when not asked for). */
  proposalMessageId?: string;
  /** Ids of the actuals messages sent. */
  actualsMessageIds: string[];
  /** Actual records in those messages. */
  actuals: number;
  /** The confirmation's messages in all (1 proposal + its actuals messages), sent or not. */
  confirmationMessages: number;
}

/** The confirmation of a Confirmed or Posted invoice, recomputed from what is stored. */
export interface RecomputedConfirmation {
  invoice: Invoice;
  plan: ConfirmationPlan;
  messages: { proposal: OutboundMessage; actuals: OutboundMessage[] };
}

/**
 * Recompute what the confirmation of this invoice published. NotFoundError for an unknown
 * invoice; BusinessError for an invoice that is not Confirmed or Posted, or that was not
 * confirmed by this integration (its new actuals are missing), or whose plan is refused.
 */
export async function recomputeConfirmation(dv: RepublishConfirmationRepository, invoiceId: string): Promise<RecomputedConfirmation> {
  const stored = await dv.invoices.get(invoiceId, invoiceId);
  if (!stored) throw new NotFoundError(`Invoice ${invoiceId} was not found in Dataverse; check the invoice id.`, invoiceId);
  const invoice = withoutEtag(stored);
  const number = invoice.invoicenumber;
  const status = invoice.msdyn_projectinvoicestatus;
  if (status === InvoiceStatus.Draft || status === InvoiceStatus.InReview) {
    const inFlight = invoice.pi_confirmationrequestedon !== undefined ? ' (its confirmation was requested and is under way: wait for it)' : '';
    throw new BusinessError(
      `Invoice ${number} is ${labelOf.invoiceStatus(status)}${inFlight}: it has not been confirmed, so there is nothing to republish. Confirm it first (POST /api/dataverse/invoices/${invoiceId}/confirm); the confirmation publishes its proposal and actuals.`,
      { reference: number },
    );
  }
  if (status !== InvoiceStatus.Confirmed && status !== InvoiceStatus.Posted) {
    throw new BusinessError(`Invoice ${number} is ${labelOf.invoiceStatus(status)}; only a Confirmed or Posted invoice's confirmation can be republished.`, { reference: number });
  }
  const contractId = invoice.salesorderid;
  // The contract's actuals as the confirmation reads them: listed up to the invoice's bound, what
  // the plan needs beyond it read by key (docs/decisions/confirmation-delivery.md).
  const detailsRead = dv.invoiceLineDetails.listPartition(invoiceId);
  const [lines, details, contract, account, contractLines, milestones, listing] = await Promise.all([
    dv.invoiceLines.listPartition(invoiceId),
    detailsRead,
    dv.contracts.get(contractId, contractId),
    dv.accounts.get(invoice.customerid, invoice.customerid),
    dv.contractLines.listPartition(contractId),
    dv.milestones.listPartition(contractId),
    listActualsAlongside(dv, contractId, detailsRead),
  ]);
  const actuals = listing.actuals;
  if (!listing.complete) await addByKey(dv, contractId, actuals, namedActualIds(details));
  if (!contract) throw new BusinessError(`Invoice ${number}: its contract ${contractId} was not found, so its confirmation cannot be recomputed.`, { reference: number });
  if (!account) throw new BusinessError(`Invoice ${number}: its customer account ${invoice.customerid} was not found, so its confirmation cannot be recomputed.`, { reference: number });

  // A Posted invoice differs from its Confirmed self only in status and the customer invoice
  // fields, which the plan does not read: it is planned as the Confirmed invoice it was.
  const { input } = await confirmationInputOf(
    dv.invoices,
    { invoice: stored, lines, details, contract, account, contractLines, milestones, actuals, confirmedOn: invoice.msdyn_confirmedon ?? new Date(0).toISOString() },
    { ...invoice, msdyn_projectinvoicestatus: InvoiceStatus.Confirmed },
  );
  let plan: ConfirmationPlan;
  try {
    plan = planConfirmation(input);
  } catch (error) {
    if (error instanceof ConfirmationRefused) {
      throw new BusinessError(`${error.reason} Its confirmation cannot be recomputed, so nothing was republished.`, { reference: number });
    }
    throw error;
  }
  if (!listing.complete) await addByKey(dv, contractId, actuals, plan.newActuals.map((a) => a.msdyn_actualid));
  const missing = plan.newActuals.filter((a) => !actuals.has(a.msdyn_actualid));
  if (missing.length > 0) {
    throw new BusinessError(
      `Invoice ${number} is ${labelOf.invoiceStatus(status)}, but not by this integration: ${missing.length} of the ${plan.newActuals.length} actuals its confirmation creates do not exist (for example ${missing[0]!.msdyn_actualid}). Nothing was republished; check how the invoice was confirmed.`,
      { reference: number },
    );
  }
  return { invoice, plan, messages: confirmationMessages(plan) };
}

/** The ids of the actuals a confirmation message carries. */
function actualIdsOf(message: OutboundMessage): string[] {
  const body = message.body as { actuals?: ReadonlyArray<{ msdyn_actualid?: string }> };
  return (body.actuals ?? []).flatMap((a) => (a.msdyn_actualid === undefined ? [] : [a.msdyn_actualid]));
}

/** Send (part of) a recomputed confirmation again, under republish ids. */
export async function sendRecomputed(
  publisher: Publisher,
  recomputed: RecomputedConfirmation,
  options: RepublishConfirmationOptions = {},
): Promise<RepublishConfirmationResult> {
  const at = options.at ?? new Date();
  const wantActuals = options.actuals ?? true;
  const [proposal] = options.proposal === false ? [] : asRepublished([recomputed.messages.proposal], at);
  const chosen =
    wantActuals === true ? recomputed.messages.actuals : wantActuals === false ? [] : recomputed.messages.actuals.filter((m) => actualIdsOf(m).some((id) => wantActuals.has(id)));
  const actuals = asRepublished(chosen, at);
  // The header first, as the confirmation sends it: billed rows find their proposal sooner.
  if (proposal) await publisher.publish(Queues.invoiceProposals, [proposal]);
  await publisher.publish(Queues.actuals, actuals);
  const { invoice } = recomputed;
  return {
    invoiceId: invoice.invoiceid,
    invoiceNumber: invoice.invoicenumber,
    status: invoice.msdyn_projectinvoicestatus === InvoiceStatus.Posted ? 'Posted' : 'Confirmed',
    ...(proposal ? { proposalMessageId: proposal.messageId } : {}),
    actualsMessageIds: actuals.map((m) => m.messageId),
    actuals: chosen.reduce((n, m) => n + actualIdsOf(m).length, 0),
    confirmationMessages: 1 + recomputed.messages.actuals.length,
  };
}

/** Republish a Confirmed or Posted invoice's proposal header and synced new actuals (new ids, same bodies). */
export async function republishConfirmation(deps: RepublishConfirmationDeps, invoiceId: string, options: RepublishConfirmationOptions = {}): Promise<RepublishConfirmationResult> {
  const recomputed = await recomputeConfirmation(deps.dataverse, invoiceId);
  const result = await sendRecomputed(deps.publisher, recomputed, options);
  deps.log?.(
    `invoice ${result.invoiceNumber} (${result.status}): ${result.proposalMessageId ? 'proposal and ' : ''}${result.actuals} actuals in ${result.actualsMessageIds.length} of ${result.confirmationMessages - 1} messages republished`,
  );
  return result;
}
