/**
 * `POST api/dataverse/invoices/{invoiceId}/confirm` (the request of domain.md step 6): the
 * invoice must be Draft or In Review and pass every confirmation rule (the pure plan of
 * rules/confirmation, computed as a dry run, so a refusal is answered at once). Already
 * Confirmed: nothing is sent; Posted or Paid: refused. Then the invoice is fenced (its column
 * `pi_confirmationrequestedon`: no edit is taken from then on) and { invoiceId, confirmedOn,
 * confirmedBy? } goes to `invoice-confirmations` with a message id derived from the fence's time,
 * so repeated clicks make one message, and a click after a lost send sends the same one again. A
 * click while the confirmation is halfway written is such a repeat (the rules are checked as the
 * confirmation resumes), and the fence stays.
 */
import { BusinessError, ConcurrencyConflict } from '../../core/errors';
import { deterministicGuid } from '../../core/ids';
import { labelOf } from '../../core/labels';
import { InvoiceStatus } from '../../core/options';
import { withoutEtag } from '../../core/stored';
import { checkConfirmation, ConfirmationRefused } from '../rules/confirmation/plan';
import { Queues, type Publisher } from '../../messages';
import type { TableStore } from '../../storage/tableStore';
import type { StoredInvoice } from '../dataverseStore';
import type { Invoice } from '../records';
import { EDITABLE_INVOICE_STATUSES } from '../rules/invoiceRules';
import { loadConfirmationInput, type ConfirmationInputStore } from './confirmationInput';
import { loadInvoiceOr404, type InvoiceReader } from './invoiceView';
import type { ConfirmRequest } from './requests';

/** What the confirmation request needs of the Dataverse store. */
export interface RequestConfirmationStore extends InvoiceReader, ConfirmationInputStore {
  invoices: Pick<TableStore<Invoice>, 'get' | 'replaceIfMatch'>;
}

export interface ConfirmDeps {
  dataverse: RequestConfirmationStore;
  publisher: Publisher;
  now?: () => Date;
}

export interface ConfirmResult {
  invoiceId: string;
  invoicenumber: string;
  status: 'Queued' | 'AlreadyConfirmed';
  messageId?: string;
}

export function confirmationMessageId(invoiceId: string, requestedOn: string): string {
  return deterministicGuid('invoice-confirmation', invoiceId, requestedOn);
}

export async function requestInvoiceConfirmation(deps: ConfirmDeps, invoiceId: string, request: ConfirmRequest): Promise<ConfirmResult> {
  const { dataverse } = deps;
  const now = deps.now ?? (() => new Date());
  const loaded = await loadInvoiceOr404(dataverse, invoiceId);
  const inv = loaded.invoice;
  const status = inv.msdyn_projectinvoicestatus;
  if (status === InvoiceStatus.Confirmed) {
    return { invoiceId, invoicenumber: inv.invoicenumber, status: 'AlreadyConfirmed' };
  }
  if (!EDITABLE_INVOICE_STATUSES.includes(status)) {
    throw new BusinessError(
      `Invoice ${inv.invoicenumber} is ${labelOf.invoiceStatus(status)}; only a Draft or In Review invoice can be confirmed${status === InvoiceStatus.Posted || status === InvoiceStatus.Paid ? ' (a posted invoice is changed with a corrective invoice)' : ''}.`,
      { reference: inv.invoicenumber },
    );
  }

  // Dry run of the confirmation rules on what is stored now (the same loading as the preview).
  const input = await loadConfirmationInput(dataverse, loaded, now().toISOString());
  try {
    try {
      checkConfirmation(input);
    } catch (error) {
      // A fenced invoice's confirmation may be writing right now: sources it already invoiced
      // fail the rules for a Draft but pass them as the confirmation resumes. Then this request
      // is a repeat of the one that set the fence (the same message below), not a refusal, and
      // the fence stays: lifting it would let edits in under a confirmation halfway done.
      if (!(error instanceof ConfirmationRefused) || inv.pi_confirmationrequestedon === undefined) throw error;
      checkConfirmation({ ...input, resume: true });
    }
  } catch (error) {
    if (error instanceof ConfirmationRefused) {
      // An edit that ran while the rules were checked (a detail deleted, its actual released) can
      // make them fail on a mix of before and after: then the answer is that it changed, not the rule.
      if (await changedSince(dataverse, loaded)) {
        throw new ConcurrencyConflict(`Invoice ${inv.invoicenumber} was changed by someone else while its confirmation was checked; nothing was sent: reload it and confirm again.`, inv.invoicenumber);
      }
      // A fence from an earlier request is lifted, so the invoice can be corrected.
      if (inv.pi_confirmationrequestedon !== undefined) await dataverse.invoices.replaceIfMatch({ ...withoutEtag(inv), pi_confirmationrequestedon: undefined }, inv.etag);
      throw new BusinessError(`${error.reason} Nothing was sent.`, { reference: inv.invoicenumber });
    }
    throw error;
  }

  // The fence: no edit is taken from here on. Set once; a repeated request reuses it.
  let requestedOn = inv.pi_confirmationrequestedon;
  if (requestedOn === undefined) {
    requestedOn = now().toISOString();
    if ((await dataverse.invoices.replaceIfMatch({ ...withoutEtag(inv), pi_confirmationrequestedon: requestedOn }, inv.etag)) === undefined) {
      throw new ConcurrencyConflict(`Invoice ${inv.invoicenumber} was changed by someone else while its confirmation was requested; nothing was sent: send the request again.`, inv.invoicenumber);
    }
  }
  const messageId = confirmationMessageId(invoiceId, requestedOn);
  const body: { invoiceId: string; confirmedOn: string; confirmedBy?: string } = { invoiceId, confirmedOn: requestedOn };
  if (request.confirmedBy !== undefined) body.confirmedBy = request.confirmedBy;
  await deps.publisher.publish(Queues.invoiceConfirmations, [{ messageId, body, subject: 'confirm', correlationId: inv.invoicenumber }]);
  return { invoiceId, invoicenumber: inv.invoicenumber, status: 'Queued', messageId };
}

/** Whether the invoice or any of its details changed (or came or went) since `loaded` was read. */
async function changedSince(dataverse: RequestConfirmationStore, loaded: StoredInvoice): Promise<boolean> {
  const now = await dataverse.loadInvoice(loaded.invoice.invoiceid);
  if (!now || now.invoice.etag !== loaded.invoice.etag || now.details.length !== loaded.details.length) return true;
  const before = new Map(loaded.details.map((d) => [d.msdyn_invoicelinetransactionid, d.etag]));
  return now.details.some((d) => before.get(d.msdyn_invoicelinetransactionid) !== d.etag);
}
