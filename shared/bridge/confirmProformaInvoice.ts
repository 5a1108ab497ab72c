/**
 * Confirm a proforma invoice (domain.md step 6; `confirmProformaInvoice` on queue
 * `invoice-confirmations`): load the invoice and what its details point at, apply the pure plan
 * (confirmation/plan.ts), write it with the invoice last, then publish the proposal header and the
 * new synced actuals. A redelivery after a crash anywhere ends in the state of one clean run; a
 * repeat of a confirmed invoice writes nothing and publishes the same messages again. Why:
 * docs/decisions/confirmation-delivery.md.
 */
import { withoutEtag, type Stored } from '../core/stored';
import type { TableStore } from '../storage/tableStore';
import type {
  Account,
  Actual,
  Contract,
  ContractLine,
  Invoice,
  InvoiceLine,
  InvoiceLineDetail,
  Milestone,
  StoredMilestone,
} from '../dataverse/records';
import { ConfirmationPlanner, ConfirmationRefused, type ConfirmationInput, type ConfirmationPlan } from '../dataverse/rules/confirmation/plan';
import { correctionInputs } from '../dataverse/invoices/corrections';
import { labelOf } from '../core/labels';
import { InvoiceStatus } from '../core/options';
import {
  MAX_RECORDS_PER_MESSAGE,
  Queues,
  type InvoiceConfirmationMessage,
  type OutboundMessage,
  type Publisher,
} from '../messages';
import { BusinessError, NotFoundError, StaleWriteError } from '../core/errors';
import { actualsListingLimit, addByKey } from '../dataverse/dataverseStore';

/** What the confirmation reads and writes of the Dataverse store. */
export interface ConfirmationRepository {
  invoices: Pick<TableStore<Invoice>, 'get' | 'replaceIfMatch'>;
  invoiceLines: Pick<TableStore<InvoiceLine>, 'listPartition' | 'replaceAllIfMatch'>;
  invoiceLineDetails: Pick<TableStore<InvoiceLineDetail>, 'listPartition' | 'replaceAllIfMatch' | 'deleteIfMatch'>;
  /** The details of an invoice whose ids are not in `known` (the others are not read whole). */
  detailsOfInvoiceNotIn(invoiceId: string, known: { has(id: string): boolean }): Promise<Stored<InvoiceLineDetail>[]>;
  /** Release every claim of an invoice that is no longer editable. */
  releaseClaimsOfInvoice(contractId: string, invoiceId: string): Promise<number>;
  actuals: Pick<TableStore<Actual>, 'createManyIfAbsent' | 'replaceAllIfMatch'>;
  milestones: Pick<TableStore<StoredMilestone>, 'listPartition' | 'replaceAllIfMatch'>;
  contracts: Pick<TableStore<Contract>, 'get'>;
  contractLines: Pick<TableStore<ContractLine>, 'listPartition'>;
  accounts: Pick<TableStore<Account>, 'get'>;
  /** The contract's actuals listed up to `limit()` rows (asked before each page), and whether the listing reached the end. */
  actualsOfContractUpTo(contractId: string, limit: () => number): Promise<{ actuals: Map<string, Stored<Actual>>; complete: boolean }>;
  /** Actuals of the contract by id (point reads); ids it does not hold are absent. */
  actualsOfContractByIds(contractId: string, ids: Iterable<string>): Promise<Map<string, Stored<Actual>>>;
}

/** The points between writes where a test may inject a crash (in this order). */
export const ConfirmationStep = {
  Fenced: 'fenced',
  NewActuals: 'newActuals',
  SourceActuals: 'sourceActuals',
  Milestones: 'milestones',
  InvoiceLines: 'invoiceLines',
  Invoice: 'invoice',
  ProposalPublished: 'proposalPublished',
  ActualsPublished: 'actualsPublished',
} as const;
export type ConfirmationStep = (typeof ConfirmationStep)[keyof typeof ConfirmationStep];

export interface ConfirmProformaInvoiceDeps {
  dataverse: ConfirmationRepository;
  publisher: Publisher;
  /** Clock for msdyn_confirmedon when the message has neither confirmedOn nor an enqueued time. */
  now?: () => Date;
  log?: (line: string) => void;
  /** ILDs planned, written and published per chunk (CONFIRMATION_CHUNK); tests make it small. */
  chunkSize?: number;
  /** Most actuals of the contract listed before the rest are read by key (actualsListingLimit); tests make it small. */
  actualsListingLimit?: number;
  /** Fault injection for tests: called after each write step (NewActuals and SourceActuals once per chunk); throwing there simulates a crash. */
  afterStep?: (step: ConfirmationStep) => void | Promise<void>;
}

export interface ConfirmationMeta {
  /** When the message was enqueued: the same on every redelivery of one message. */
  enqueuedAt?: Date;
}

export interface ConfirmationOutcome {
  outcome: 'confirmed' | 'alreadyConfirmed';
  invoiceNumber: string;
  /** New actuals written by this delivery (0 on a repeat). */
  created: number;
  /** Existing rows (actuals, milestones, lines, invoice) replaced by this delivery. */
  updated: number;
  /** Messages published: 1 proposal + the actuals chunks. */
  published: number;
}

export function proposalMessageId(invoiceId: string): string {
  return `proposal-${invoiceId}`;
}

export function actualsMessageId(invoiceId: string, chunk: number): string {
  return `actuals-${invoiceId}-${chunk}`;
}

/**
 * ILDs a confirmation plans, writes and publishes at a time: their records (about two new
 * actuals and one updated source per ILD) are all it holds of the plan at once.
 */
export const CONFIRMATION_CHUNK = 2_000;

function proposalMessage(invoice: Invoice, proposal: ConfirmationPlan['proposal']): OutboundMessage {
  return { messageId: proposalMessageId(invoice.invoiceid), body: proposal, subject: invoice.invoicenumber, correlationId: invoice.invoiceid };
}

/** The n-th (from 1) message of a confirmation's new actuals. */
function actualsMessage(invoice: Invoice, n: number, actuals: Actual[]): OutboundMessage {
  return { messageId: actualsMessageId(invoice.invoiceid, n), body: { actuals }, subject: invoice.invoicenumber, correlationId: invoice.invoiceid };
}

/** The messages a confirmation publishes, with deterministic ids (the republish sends these again). */
export function confirmationMessages(plan: ConfirmationPlan): { proposal: OutboundMessage; actuals: OutboundMessage[] } {
  const actuals: OutboundMessage[] = [];
  for (let i = 0, n = 1; i < plan.actualsToPublish.length; i += MAX_RECORDS_PER_MESSAGE, n += 1) {
    actuals.push(actualsMessage(plan.invoice, n, plan.actualsToPublish.slice(i, i + MAX_RECORDS_PER_MESSAGE)));
  }
  return { proposal: proposalMessage(plan.invoice, plan.proposal), actuals };
}

/** Same stored fields (undefined dropped, key order ignored). */
function sameRecord(a: object, b: object): boolean {
  const fields = (o: object) =>
    Object.entries(o)
      .filter(([k, v]) => k !== 'etag' && v !== undefined && v !== null)
      .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  return JSON.stringify(fields(a)) === JSON.stringify(fields(b));
}

function confirmationTime(message: InvoiceConfirmationMessage, meta: ConfirmationMeta, now: () => Date): string {
  if (message.confirmedOn !== undefined) return new Date(message.confirmedOn).toISOString();
  return (meta.enqueuedAt ?? now()).toISOString();
}

/** What a confirmation is planned from, as loaded from the store. */
export interface LoadedConfirmation {
  invoice: Stored<Invoice>;
  lines: Stored<InvoiceLine>[];
  details: Stored<InvoiceLineDetail>[];
  contract: Stored<Contract>;
  account: Stored<Account>;
  contractLines: Stored<ContractLine>[];
  milestones: Stored<StoredMilestone>[];
  /** Every actual of the contract, by id. */
  actuals: ReadonlyMap<string, Stored<Actual>>;
  confirmedOn: string;
}

/**
 * The plan's input (resume mode) from what was loaded: the source actuals and milestones the
 * details name, and for a corrective invoice what it corrects. The confirmation and the republish
 * both plan from here. Also the stored milestones (their ETags guard the confirmation's updates).
 */
export async function confirmationInputOf(
  invoices: Pick<TableStore<Invoice>, 'get'>,
  loaded: LoadedConfirmation,
  invoiceAs: Invoice = withoutEtag(loaded.invoice),
): Promise<{ input: ConfirmationInput; storedMilestones: Map<string, Stored<StoredMilestone>> }> {
  const sourceIds = new Set<string>();
  const milestoneIds = new Set<string>();
  for (const d of loaded.details) {
    if (d.msdyn_sourceactual !== undefined) sourceIds.add(d.msdyn_sourceactual);
    if (d.msdyn_milestone !== undefined) milestoneIds.add(d.msdyn_milestone);
  }
  const sourceActuals = new Map<string, Actual>();
  for (const id of sourceIds) {
    const a = loaded.actuals.get(id);
    if (a) sourceActuals.set(id, withoutEtag(a));
  }
  const storedMilestones = new Map<string, Stored<StoredMilestone>>();
  const milestoneInput = new Map<string, Milestone>();
  for (const m of loaded.milestones) {
    if (!milestoneIds.has(m.msdyn_contractlinescheduleofvalueid)) continue;
    storedMilestones.set(m.msdyn_contractlinescheduleofvalueid, m);
    const { etag: _etag, salesorderid: _contract, ...milestone } = m;
    milestoneInput.set(m.msdyn_contractlinescheduleofvalueid, milestone);
  }
  const correction = await correctionInputs(invoices, loaded.invoice, loaded.details, loaded.actuals);
  const input: ConfirmationInput = {
    ...correction,
    invoice: invoiceAs,
    lines: loaded.lines.map(withoutEtag),
    details: loaded.details.map(withoutEtag),
    sourceActuals,
    milestones: milestoneInput,
    contract: withoutEtag(loaded.contract),
    contractLines: new Map(loaded.contractLines.map((l) => [l.salesorderdetailid, withoutEtag(l)])),
    account: withoutEtag(loaded.account),
    confirmedOn: loaded.confirmedOn,
    resume: true,
  };
  return { input, storedMilestones };
}

export async function confirmProformaInvoice(
  deps: ConfirmProformaInvoiceDeps,
  message: InvoiceConfirmationMessage,
  meta: ConfirmationMeta = {},
): Promise<ConfirmationOutcome> {
  const dv = deps.dataverse;
  const log = deps.log ?? (() => undefined);
  const step = async (s: ConfirmationStep) => {
    if (deps.afterStep) await deps.afterStep(s);
  };
  const invoiceId = message.invoiceId;

  // Load --------------------------------------------------------------------------------------
  const storedInvoice = await dv.invoices.get(invoiceId, invoiceId);
  if (!storedInvoice) {
    throw new NotFoundError(
      `Invoice ${invoiceId} was not found in Dataverse; check the invoice id of the confirmation request.`,
      invoiceId,
    );
  }
  const invoiceNumber = storedInvoice.invoicenumber;
  const status = storedInvoice.msdyn_projectinvoicestatus;
  const alreadyConfirmed = status === InvoiceStatus.Confirmed;
  if (status !== InvoiceStatus.Draft && status !== InvoiceStatus.InReview && !alreadyConfirmed) {
    throw new BusinessError(
      `Invoice ${invoiceNumber} is ${labelOf.invoiceStatus(status)}; only a Draft or In Review invoice can be confirmed. Nothing was changed.`,
      { reference: invoiceNumber },
    );
  }
  const contractId = storedInvoice.salesorderid;
  // A refusal lifts the fence a confirmation request put on the invoice, so it can be corrected.
  const refuse = async (error: BusinessError): Promise<never> => {
    if (!alreadyConfirmed && storedInvoice.pi_confirmationrequestedon !== undefined) {
      if ((await dv.invoices.replaceIfMatch({ ...withoutEtag(storedInvoice), pi_confirmationrequestedon: undefined }, storedInvoice.etag)) === undefined) {
        throw new StaleWriteError(`Invoice ${invoiceNumber} changed while its refused confirmation lifted the fence; it is retried`);
      }
    }
    throw error;
  };
  // The contract's actuals are listed alongside; once the details are in, the listing stops at
  // the invoice's bound (actualsListingLimit) and what the plan needs beyond it is read by key.
  const detailsRead = dv.invoiceLineDetails.listPartition(invoiceId);
  const [lines, details, contract, account, contractLines, milestones, listing] = await Promise.all([
    dv.invoiceLines.listPartition(invoiceId),
    detailsRead,
    dv.contracts.get(contractId, contractId),
    dv.accounts.get(storedInvoice.customerid, storedInvoice.customerid),
    dv.contractLines.listPartition(contractId),
    dv.milestones.listPartition(contractId),
    listActualsAlongside(dv, contractId, detailsRead, deps.actualsListingLimit),
  ]);
  const actuals = listing.actuals;
  const readByKey = (ids: Iterable<string>) => addByKey(dv, contractId, actuals, ids);
  // The sources and the corrected originals the details name (the plan's input).
  if (!listing.complete) await readByKey(namedActualIds(details));
  if (!contract) {
    return refuse(new NotFoundError(`Invoice ${invoiceNumber}: its contract ${contractId} was not found; nothing was changed.`, invoiceNumber));
  }
  if (!account) {
    return refuse(new NotFoundError(`Invoice ${invoiceNumber}: its customer account ${storedInvoice.customerid} was not found; nothing was changed.`, invoiceNumber));
  }

  const { input, storedMilestones } = await confirmationInputOf(dv.invoices, {
    invoice: storedInvoice,
    lines,
    details,
    contract,
    account,
    contractLines,
    milestones,
    actuals,
    confirmedOn: confirmationTime(message, meta, deps.now ?? (() => new Date())),
  });
  // The ETags the details were read with guard the fence; the stored rows themselves are not
  // needed any more (the plan works on input.details), so the array lets them go.
  const detailEtags = new Map(details.map((d) => [d.msdyn_invoicelinetransactionid, d.etag] as const));
  details.length = 0;

  // Check ------------------------------------------------------------------------------------
  // The whole plan is checked before anything is written, one ILD at a time, keeping only what
  // the writes need later: the records are built again, chunk by chunk, when they are written
  // and when they are published, so no more than a chunk of them is held at once.
  let checked: CheckedConfirmation;
  try {
    // A listing that stopped early: the actuals the plan creates or updates, as far as they exist.
    if (!listing.complete) await readByKey(plannedActualIds(input));
    checked = checkAgainstStored(input, actuals, storedMilestones);
  } catch (error) {
    if (error instanceof ConfirmationRefused) {
      const note = alreadyConfirmed ? ' (The invoice is already Confirmed; its confirmation cannot be replayed.)' : '';
      return refuse(new BusinessError(`${error.reason}${note} Nothing was changed.`, { reference: invoiceNumber }));
    }
    throw error;
  }
  const chunkSize = deps.chunkSize ?? CONFIRMATION_CHUNK;

  if (alreadyConfirmed) {
    if (checked.missing > 0) {
      throw new BusinessError(
        `Invoice ${invoiceNumber} is already Confirmed, but not by this integration: ${checked.missing} of the ${checked.newActuals} actuals its confirmation creates do not exist (for example ${checked.firstMissing!}). Nothing was changed or published; check how the invoice was confirmed.`,
        { reference: invoiceNumber },
      );
    }
    // A crash after the invoice was written may have left its claims: release them now.
    await dv.releaseClaimsOfInvoice(contractId, invoiceId);
    const published = await publishInChunks(deps, input, checked, step);
    log(`invoice ${invoiceNumber} was already confirmed: nothing written, ${published} messages republished`);
    return { outcome: 'alreadyConfirmed', invoiceNumber, created: 0, updated: 0, published };
  }

  if (checked.resumedElsewhere !== undefined) {
    // Resume accepted an already-invoiced source or milestone, but this confirmation did not get
    // that far (an ILD's new actuals are written before its source, and milestones after every
    // new actual): something else invoiced it.
    return refuse(
      new BusinessError(
        `Invoice ${invoiceNumber}: ${checked.resumedElsewhere} is already Customer Invoice Posted by another confirmation; delete its detail from the invoice before confirming. Nothing was changed.`,
        { reference: invoiceNumber },
      ),
    );
  }

  // Fence: the invoice takes no edit from here on, and every detail this plan was made from is
  // rewritten under the ETag it was read with, so an edit still in flight either lands before
  // (this write fails, the message is redelivered and re-planned) or fails its own ETag.
  let invoiceEtag = storedInvoice.etag;
  if (storedInvoice.pi_confirmationrequestedon === undefined) {
    const fenced = await dv.invoices.replaceIfMatch({ ...withoutEtag(storedInvoice), pi_confirmationrequestedon: checked.invoice.msdyn_confirmedon }, invoiceEtag);
    if (fenced === undefined) throw new StaleWriteError(`Invoice ${invoiceNumber} changed while its confirmation started; it is retried`);
    invoiceEtag = fenced;
  }
  for (let i = 0; i < input.details.length; i += chunkSize) {
    await dv.invoiceLineDetails.replaceAllIfMatch(input.details.slice(i, i + chunkSize).map((d) => ({ record: d, etag: detailEtags.get(d.msdyn_invoicelinetransactionid)! })));
  }
  await step(ConfirmationStep.Fenced);

  // Write (the invoice last) --------------------------------------------------------------------
  // Chunk by chunk: the chunk's new actuals, then its source actuals. A redelivery after a crash
  // finds each ILD either untouched, with its new actuals (some or all), or with its source too.
  let created = 0;
  let sourcesUpdated = 0;
  const planner = new ConfirmationPlanner(input);
  for (let i = 0; i === 0 || i < planner.details.length; i += chunkSize) {
    const records = planner.details.slice(i, i + chunkSize).map((ild) => planner.plan(ild));
    const missing = records.flatMap((r) => r.newActuals.filter((a) => !actuals.has(a.msdyn_actualid)));
    if (missing.length > 0) created += (await dv.actuals.createManyIfAbsent(missing)).created;
    await step(ConfirmationStep.NewActuals);
    const actualUpdates = records.flatMap((r) => {
      const u = r.updatedActual;
      if (u === undefined) return [];
      const stored = actuals.get(u.msdyn_actualid)!;
      return sameRecord(stored, u) ? [] : [{ record: u, etag: stored.etag }];
    });
    if (actualUpdates.length > 0) await dv.actuals.replaceAllIfMatch(actualUpdates);
    sourcesUpdated += actualUpdates.length;
    await step(ConfirmationStep.SourceActuals);
  }

  const milestoneUpdates = checked.updatedMilestones
    .filter((m) => storedMilestones.get(m.msdyn_contractlinescheduleofvalueid)!.msdyn_invoicestatus !== m.msdyn_invoicestatus)
    .map((m) => {
      const stored = storedMilestones.get(m.msdyn_contractlinescheduleofvalueid)!;
      return { record: { ...m, salesorderid: stored.salesorderid }, etag: stored.etag };
    });
  if (milestoneUpdates.length > 0) await dv.milestones.replaceAllIfMatch(milestoneUpdates);
  await step(ConfirmationStep.Milestones);

  const storedLines = new Map(lines.map((l) => [l.invoicedetailid, l]));
  const lineUpdates = checked.lines.flatMap((l) => {
    const stored = storedLines.get(l.invoicedetailid);
    return stored && !sameRecord(stored, l) ? [{ record: l, etag: stored.etag }] : [];
  });
  if (lineUpdates.length > 0) await dv.invoiceLines.replaceAllIfMatch(lineUpdates);
  await step(ConfirmationStep.InvoiceLines);

  // A detail added while the fence went up (its request saw no fence yet) is not part of what is
  // confirmed: it goes, and its request answers that it was not taken.
  for (const late of await dv.detailsOfInvoiceNotIn(invoiceId, detailEtags)) {
    await dv.invoiceLineDetails.deleteIfMatch(invoiceId, late.msdyn_invoicelinetransactionid, late.etag);
  }

  const { pi_confirmationrequestedon: _fence, ...confirmed } = checked.invoice;
  if ((await dv.invoices.replaceIfMatch(confirmed, invoiceEtag)) === undefined) {
    // Changed since we read it (another delivery, an edit): throw so the message is redelivered
    // and re-planned from what is stored now.
    throw new Error(`Invoice ${invoiceNumber} changed while it was being confirmed; the confirmation will be retried.`);
  }
  await step(ConfirmationStep.Invoice);

  const published = await publishInChunks(deps, input, checked, step);
  // The claims have done their work: the items are invoiced for good. Released after the publish,
  // so F&O hears of the invoice without waiting for them (a 50,000-line invoice holds 50,000
  // claims, 500 transactions of deletes). A crash before this line leaves them to the redelivery,
  // which finds the invoice Confirmed and releases them (see above).
  await dv.releaseClaimsOfInvoice(contractId, invoiceId);
  const updated = sourcesUpdated + milestoneUpdates.length + lineUpdates.length + 1;
  log(
    `invoice ${invoiceNumber} confirmed: ${created} actuals created, ${updated} rows updated, proposal and ${checked.published} actuals published in ${published - 1} messages`,
  );
  return { outcome: 'confirmed', invoiceNumber, created, updated, published };
}

/** What the check of a whole confirmation keeps for its writes (the per-ILD records are not kept). */
interface CheckedConfirmation extends Pick<ConfirmationPlan, 'invoice' | 'lines' | 'proposal' | 'updatedMilestones'> {
  /** New actuals the plan creates, of them not stored yet, and the first of those. */
  newActuals: number;
  missing: number;
  firstMissing?: string;
  /** New actuals that are published (not skip-sync). */
  published: number;
  /** A source or milestone already invoiced although this confirmation did not write that far: what it is. */
  resumedElsewhere?: string;
}

/** The actuals an invoice's details name: their sources, and on a corrective invoice the billed actuals they correct. */
export function namedActualIds(details: readonly InvoiceLineDetail[]): Set<string> {
  const ids = new Set<string>();
  for (const d of details) {
    if (d.msdyn_sourceactual !== undefined) ids.add(d.msdyn_sourceactual);
    if (d.msdyn_originalbilledactual !== undefined) ids.add(d.msdyn_originalbilledactual);
  }
  return ids;
}

/**
 * The contract's actuals listed alongside the invoice's details: without a bound until the details
 * are in, then up to actualsListingLimit of their count (or `limit`, which tests make small).
 */
export function listActualsAlongside(
  dv: Pick<ConfirmationRepository, 'actualsOfContractUpTo'>,
  contractId: string,
  details: Promise<readonly unknown[]>,
  limit?: number,
): Promise<{ actuals: Map<string, Stored<Actual>>; complete: boolean }> {
  let ilds: number | undefined;
  // Its failure is the caller's to see through `details` itself.
  details.then(
    (rows) => {
      ilds = rows.length;
    },
    () => undefined,
  );
  return dv.actualsOfContractUpTo(contractId, () => limit ?? (ilds === undefined ? Number.POSITIVE_INFINITY : actualsListingLimit(ilds)));
}

/** The ids of every actual the plan creates or updates (a pass of the planner that keeps only ids). */
function plannedActualIds(input: ConfirmationInput): Set<string> {
  const planner = new ConfirmationPlanner(input);
  const ids = new Set<string>();
  for (const ild of planner.details) {
    const records = planner.plan(ild);
    for (const a of records.newActuals) ids.add(a.msdyn_actualid);
    if (records.updatedActual !== undefined) ids.add(records.updatedActual.msdyn_actualid);
  }
  return ids;
}

/** Check every ILD (ConfirmationRefused on the first refusal) and count what is stored already. */
function checkAgainstStored(
  input: ConfirmationInput,
  actuals: ReadonlyMap<string, Stored<Actual>>,
  storedMilestones: ReadonlyMap<string, Stored<StoredMilestone>>,
): CheckedConfirmation {
  const planner = new ConfirmationPlanner(input);
  let newActuals = 0;
  let missing = 0;
  let published = 0;
  let firstMissing: string | undefined;
  let sourceElsewhere: string | undefined;
  const updatedMilestones: Milestone[] = [];
  for (const ild of planner.details) {
    const records = planner.plan(ild);
    let missingHere = 0;
    for (const a of records.newActuals) {
      newActuals += 1;
      if (!a.msdyn_skipsync) published += 1;
      if (!actuals.has(a.msdyn_actualid)) {
        missingHere += 1;
        firstMissing ??= a.msdyn_actualid;
      }
    }
    missing += missingHere;
    const u = records.updatedActual;
    if (u !== undefined && missingHere > 0 && sourceElsewhere === undefined) {
      const stored = actuals.get(u.msdyn_actualid);
      if (stored !== undefined && sameRecord(stored, u)) sourceElsewhere = `actual ${u.msdyn_actualid}`;
    }
    if (records.updatedMilestone !== undefined) updatedMilestones.push(records.updatedMilestone);
  }
  const { invoice, lines, proposal } = planner.finish();
  const milestoneDone = updatedMilestones.find((m) => storedMilestones.get(m.msdyn_contractlinescheduleofvalueid)?.msdyn_invoicestatus === m.msdyn_invoicestatus);
  const resumedElsewhere = sourceElsewhere ?? (milestoneDone !== undefined && missing > 0 ? `milestone ${milestoneDone.msdyn_contractlinescheduleofvalueid}` : undefined);
  return { invoice, lines, proposal, updatedMilestones, newActuals, missing, firstMissing, published, resumedElsewhere };
}

/** Messages published at once while the actuals are published. */
const MESSAGES_PER_PUBLISH = 10;

/**
 * Publish the proposal, then the new actuals in messages of MAX_RECORDS_PER_MESSAGE, built again
 * ILD by ILD in the plan's order and sent MESSAGES_PER_PUBLISH at a time: the same messages, ids
 * and bodies as confirmationMessages of the whole plan, without holding them all. Answers how
 * many messages were published.
 */
async function publishInChunks(
  deps: ConfirmProformaInvoiceDeps,
  input: ConfirmationInput,
  checked: CheckedConfirmation,
  step: (s: ConfirmationStep) => Promise<void>,
): Promise<number> {
  const invoice = checked.invoice;
  await deps.publisher.publish(Queues.invoiceProposals, [proposalMessage(invoice, checked.proposal)]);
  await step(ConfirmationStep.ProposalPublished);
  const planner = new ConfirmationPlanner(input);
  let pending: Actual[] = [];
  let sent = 0;
  const send = async () => {
    const outbox: OutboundMessage[] = [];
    for (let i = 0; i < pending.length; i += MAX_RECORDS_PER_MESSAGE) {
      outbox.push(actualsMessage(invoice, sent + outbox.length + 1, pending.slice(i, i + MAX_RECORDS_PER_MESSAGE)));
    }
    if (outbox.length > 0) await deps.publisher.publish(Queues.actuals, outbox);
    sent += outbox.length;
    pending = [];
  };
  for (const ild of planner.details) {
    for (const a of planner.plan(ild).newActuals) if (!a.msdyn_skipsync) pending.push(a);
    if (pending.length >= MAX_RECORDS_PER_MESSAGE * MESSAGES_PER_PUBLISH) {
      // Only whole messages go now; the rest starts the next batch.
      const rest = pending.splice(MAX_RECORDS_PER_MESSAGE * MESSAGES_PER_PUBLISH);
      await send();
      pending = rest;
    }
  }
  await send();
  await step(ConfirmationStep.ActualsPublished);
  return 1 + sent;
}
