/**
 * Claims: which editable invoice holds a backlog item (`dvInvoiceClaims`, one row per item,
 * created if absent). An item is put on an invoice by claiming it first, so two invoices can never
 * hold one item, whatever runs at the same time; its billing status follows the claim. Healing
 * mends what a crash or a finished confirmation left behind. Why: docs/decisions/proforma-invoices.md,
 * "Claims".
 */
import { withoutEtag, type Stored } from '../../core/stored';
import { BillingStatus, MilestoneStatus } from '../../core/options';
import type { TableStore } from '../../storage/tableStore';
import type { StoredInvoice } from '../dataverseStore';
import type { InvoiceReader } from './invoiceView';
import type { Actual, InvoiceClaim, StoredMilestone } from '../records';
import { EDITABLE_INVOICE_STATUSES } from '../rules/invoiceRules';

/** A claim whose invoice was never written (its request crashed) is released after this long. */
export const STALE_CLAIM_MS = 5 * 60_000;

export interface ClaimStore extends InvoiceReader {
  claimsOfContract(contractId: string): Promise<Stored<InvoiceClaim>[]>;
  invoiceClaims: Pick<TableStore<InvoiceClaim>, 'deleteIfMatch'>;
  actuals: Pick<TableStore<Actual>, 'get' | 'replaceIfMatch'>;
  milestones: Pick<TableStore<StoredMilestone>, 'get' | 'replaceIfMatch'>;
}

export type ItemKind = InvoiceClaim['ItemKind'];

/**
 * Move an actual's billing status (or a milestone's invoice status) from `from` to `to`, guarded
 * by its ETag and read again when it changed meanwhile. False when it is not in `from` (any more).
 */
export async function moveItem(store: ClaimStore, contractId: string, kind: ItemKind, itemId: string, from: number, to: number, attempts = 4): Promise<boolean> {
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (kind === 'Actual') {
      const actual = await store.actuals.get(contractId, itemId);
      if (!actual || actual.msdyn_billingstatus !== from) return false;
      if ((await store.actuals.replaceIfMatch({ ...withoutEtag(actual), msdyn_billingstatus: to as Actual['msdyn_billingstatus'] }, actual.etag)) !== undefined) return true;
    } else {
      const milestone = await store.milestones.get(contractId, itemId);
      if (!milestone || milestone.msdyn_invoicestatus !== from) return false;
      if ((await store.milestones.replaceIfMatch({ ...withoutEtag(milestone), msdyn_invoicestatus: to as StoredMilestone['msdyn_invoicestatus'] }, milestone.etag)) !== undefined) return true;
    }
  }
  throw new Error(`${kind} ${itemId} kept changing while its status was moved; the request can be sent again`);
}

/** The status an item has while it sits on an editable invoice, and while it is ready. */
export function onInvoiceStatus(kind: ItemKind): number {
  return kind === 'Actual' ? BillingStatus.CustomerInvoiceCreated : MilestoneStatus.CustomerInvoiceCreated;
}
export function readyStatus(kind: ItemKind): number {
  return kind === 'Actual' ? BillingStatus.ReadyToInvoice : MilestoneStatus.Ready;
}

function names(loaded: StoredInvoice, itemId: string): boolean {
  return loaded.details.some((d) => d.msdyn_sourceactual === itemId || d.msdyn_milestone === itemId);
}

export interface HealedClaims {
  /** Items another invoice holds (or is putting on itself right now), with that invoice. */
  heldByOthers: Map<string, string>;
  /** An editable invoice whose unfinished claims were finished (its items were still Ready). */
  finished?: string;
}

/**
 * Read a contract's claims and mend the ones left behind, so that what remains says which items
 * other invoices hold:
 * - the claiming invoice is editable and names the item: held; an item still Ready (its create
 *   stopped after writing the invoice) is moved on to it now;
 * - the claiming invoice is editable but no longer names the item (its detail was deleted and the
 *   release did not finish): the item goes back to Ready and the claim is released;
 * - the claiming invoice is confirmed or posted: the claim has done its work and is released;
 * - the claiming invoice does not exist: a create in progress (held) or, after STALE_CLAIM_MS, one
 *   that crashed before writing it (released).
 * Claims of `ownInvoiceId` are the caller's own and never count as held by others.
 */
export async function healClaims(store: ClaimStore, contractId: string, ownInvoiceId: string, now: Date): Promise<HealedClaims> {
  const claims = await store.claimsOfContract(contractId);
  const invoices = new Map<string, Promise<StoredInvoice | undefined>>();
  const invoiceOf = (id: string) => {
    let loading = invoices.get(id);
    if (!loading) invoices.set(id, (loading = store.loadInvoice(id)));
    return loading;
  };
  const result: HealedClaims = { heldByOthers: new Map() };
  for (const claim of claims) {
    if (claim.InvoiceId === ownInvoiceId) continue;
    const loaded = await invoiceOf(claim.InvoiceId);
    const release = () => store.invoiceClaims.deleteIfMatch(claim.ContractId, claim.ItemId, claim.etag);
    if (!loaded) {
      if (now.getTime() - Date.parse(claim.ClaimedOn) > STALE_CLAIM_MS) await release();
      else result.heldByOthers.set(claim.ItemId, claim.InvoiceId);
      continue;
    }
    if (!EDITABLE_INVOICE_STATUSES.includes(loaded.invoice.msdyn_projectinvoicestatus)) {
      await release();
      continue;
    }
    if (names(loaded, claim.ItemId)) {
      result.heldByOthers.set(claim.ItemId, claim.InvoiceId);
      if (await moveItem(store, contractId, claim.ItemKind, claim.ItemId, readyStatus(claim.ItemKind), onInvoiceStatus(claim.ItemKind))) result.finished ??= claim.InvoiceId;
      continue;
    }
    await moveItem(store, contractId, claim.ItemKind, claim.ItemId, onInvoiceStatus(claim.ItemKind), readyStatus(claim.ItemKind));
    await release();
  }
  return result;
}
