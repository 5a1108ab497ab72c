/**
 * `GET api/dataverse/invoices/{invoiceId}/confirmation-preview`: what confirming the invoice would
 * create and change, computed by the same pure plan the confirmation runs (rules/confirmation) on
 * the same loading as the confirmation request's dry run (confirmationInput.ts), without writing
 * or sending anything. Every new actual is named with the detail and the role it has for it; the
 * proposal header is the one F&O would receive. When the confirmation would be refused, every
 * refusal is named: the plan stops at the first, so the preview plans again without each refused
 * detail until the rest plans, collecting one refusal per detail (and the invoice-level ones).
 */
import { BusinessError } from '../../core/errors';
import { labelOf } from '../../core/labels';
import { InvoiceStatus } from '../../core/options';
import type { InvoiceProposalMessage } from '../../messages';
import type { Actual, Invoice, InvoiceLine, Milestone } from '../records';
import { confirmationActualId, ConfirmationRefused, ConfirmationRole, planConfirmation, type ConfirmationInput, type ConfirmationPlan } from '../rules/confirmation/plan';
import { EDITABLE_INVOICE_STATUSES } from '../rules/invoiceRules';
import { loadConfirmationInput, type ConfirmationInputStore } from './confirmationInput';
import { loadInvoiceOr404, type InvoiceReader } from './invoiceView';

export interface PreviewStore extends InvoiceReader, ConfirmationInputStore {}

/** A new actual the confirmation would create, with the detail and role it is created for. */
export interface PreviewedActual {
  detailId?: string;
  role?: ConfirmationRole;
  /** What it is, for people ("billed sales", "invoicing reversal (skip-sync)", ...). */
  kind: string;
  /** Whether it goes to F&O on queue `actuals` (not skip-sync). */
  synced: boolean;
  actual: Actual;
}

export interface PreviewRefusal {
  code: string;
  reason: string;
  detailId?: string;
}

export interface ConfirmationPreview {
  invoiceId: string;
  invoicenumber: string;
  invoiceStatus: string;
  /**
   * Confirmable: confirming would write `plan`. Refused: it would be refused for `refusals`.
   * AlreadyConfirmed / NotConfirmable: the invoice is past Draft and In Review (nothing to preview).
   */
  outcome: 'Confirmable' | 'Refused' | 'AlreadyConfirmed' | 'NotConfirmable';
  refusals: PreviewRefusal[];
  /** Nothing was written or sent to compute this answer. */
  writesNothing: true;
  /** The time the preview stamped as msdyn_confirmedon; the confirmation stamps its own. */
  previewedAt: string;
  plan?: {
    invoice: Invoice;
    lines: InvoiceLine[];
    newActuals: PreviewedActual[];
    updatedActuals: Actual[];
    updatedMilestones: Milestone[];
    proposal: InvoiceProposalMessage;
    counts: { newActuals: number; billed: number; reversals: number; synced: number; updatedActuals: number; updatedMilestones: number; lines: number };
  };
}

const ROLE_KIND: Record<ConfirmationRole, string> = {
  [ConfirmationRole.AdjustmentReversal]: 'adjustment reversal of the original unbilled actual (synced, Unadjustable)',
  [ConfirmationRole.Unbilled]: 'new unbilled actual as edited (synced)',
  [ConfirmationRole.UnbilledReversal]: 'invoicing reversal (skip-sync)',
  [ConfirmationRole.Billed]: 'billed sales',
  [ConfirmationRole.RemainderUnbilled]: 'non-chargeable remainder, unbilled (synced)',
  [ConfirmationRole.RemainderUnbilledReversal]: 'invoicing reversal of the remainder (skip-sync)',
  [ConfirmationRole.RemainderBilled]: 'non-chargeable remainder, billed at 0.00',
  [ConfirmationRole.CreditReversal]: 'billed sales reversal of the corrected line (synced)',
  [ConfirmationRole.CreditUnbilled]: 'credited work back in the billing backlog (synced)',
};

/** Each new actual of the plan named with its detail and role (ids are derived from both). */
function namedActuals(plan: ConfirmationPlan, input: ConfirmationInput): PreviewedActual[] {
  const roleOf = new Map<string, { detailId: string; role: ConfirmationRole }>();
  for (const d of input.details) {
    for (const role of Object.values(ConfirmationRole)) {
      roleOf.set(confirmationActualId(input.invoice.invoiceid, d.msdyn_invoicelinetransactionid, role), { detailId: d.msdyn_invoicelinetransactionid, role });
    }
  }
  return plan.newActuals.map((actual) => {
    const named = roleOf.get(actual.msdyn_actualid);
    const kind = named ? ROLE_KIND[named.role] : `${labelOf.transactionType(actual.msdyn_transactiontypecode)}${actual.msdyn_reversedactual !== undefined ? ' reversal' : ''}`;
    return { ...(named ?? {}), kind, synced: !actual.msdyn_skipsync, actual };
  });
}

/** The refusals of a plan: planned again without each refused detail until it plans or a refusal is about the whole invoice. */
function refusalsOf(input: ConfirmationInput): { refusals: PreviewRefusal[]; plan?: ConfirmationPlan } {
  const refusals: PreviewRefusal[] = [];
  let details = input.details;
  for (;;) {
    try {
      const plan = planConfirmation({ ...input, details });
      return refusals.length ? { refusals } : { refusals, plan };
    } catch (error) {
      if (!(error instanceof ConfirmationRefused)) throw error;
      // A refusal about no detail, or the invoice left without details once the refused ones are set
      // aside (that is only a consequence of the refusals already named), ends the search.
      if (error.detailId === undefined) {
        if (!(refusals.length > 0 && details.length === 0)) refusals.push({ code: error.code, reason: error.reason });
        return { refusals };
      }
      refusals.push({ code: error.code, reason: error.reason, detailId: error.detailId });
      const refusedId = error.detailId;
      const rest = details.filter((d) => d.msdyn_invoicelinetransactionid !== refusedId);
      if (rest.length === details.length) return { refusals };
      details = rest;
      if (details.length === 0) return { refusals };
    }
  }
}

export async function previewConfirmation(deps: { dataverse: PreviewStore; now?: () => Date }, invoiceId: string): Promise<ConfirmationPreview> {
  const loaded = await loadInvoiceOr404(deps.dataverse, invoiceId);
  const inv = loaded.invoice;
  const previewedAt = (deps.now?.() ?? new Date()).toISOString();
  const status = inv.msdyn_projectinvoicestatus;
  const head = { invoiceId, invoicenumber: inv.invoicenumber, invoiceStatus: labelOf.invoiceStatus(status), writesNothing: true as const, previewedAt };
  if (!EDITABLE_INVOICE_STATUSES.includes(status)) {
    const confirmed = status === InvoiceStatus.Confirmed;
    return {
      ...head,
      outcome: confirmed ? 'AlreadyConfirmed' : 'NotConfirmable',
      refusals: [
        {
          code: 'InvoiceStatus',
          reason: confirmed
            ? `Invoice ${inv.invoicenumber} is already Confirmed; confirming it again changes nothing.`
            : `Invoice ${inv.invoicenumber} is ${labelOf.invoiceStatus(status)}; only a Draft or In Review invoice can be confirmed${status === InvoiceStatus.Posted || status === InvoiceStatus.Paid ? ' (a posted invoice is changed with a corrective invoice)' : ''}.`,
        },
      ],
    };
  }
  let input: ConfirmationInput;
  try {
    input = await loadConfirmationInput(deps.dataverse, loaded, previewedAt);
  } catch (error) {
    if (error instanceof BusinessError) return { ...head, outcome: 'Refused', refusals: [{ code: 'InconsistentInput', reason: error.message }] };
    throw error;
  }
  const { refusals, plan } = refusalsOf(input);
  if (!plan) return { ...head, outcome: 'Refused', refusals };
  const newActuals = namedActuals(plan, input);
  return {
    ...head,
    outcome: 'Confirmable',
    refusals: [],
    plan: {
      invoice: plan.invoice,
      lines: plan.lines,
      newActuals,
      updatedActuals: plan.updatedActuals,
      updatedMilestones: plan.updatedMilestones,
      proposal: plan.proposal,
      counts: {
        newActuals: plan.newActuals.length,
        billed: plan.proposal.expectedLineCount,
        reversals: plan.newActuals.filter((a) => a.msdyn_reversedactual !== undefined).length,
        synced: plan.actualsToPublish.length,
        updatedActuals: plan.updatedActuals.length,
        updatedMilestones: plan.updatedMilestones.length,
        lines: plan.lines.length,
      },
    },
  };
}
