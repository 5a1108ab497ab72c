/**
 * Confirmation of a proforma invoice (domain.md step 6) as a pure function: no I/O, no clock, no
 * randomness. `planConfirmation` turns the invoice, its lines and ILDs and the records they point at
 * into everything the confirmation writes and publishes; the use case persists the plan and
 * publishes `proposal` and `actualsToPublish`.
 *
 * The decisions (ids and order, what each kind of ILD produces, fields, totals, refusals, resume):
 * docs/decisions/confirmation.md. Checks: checks.ts; records per kind of ILD: builders.ts; totals
 * and the proposal: totals.ts.
 */
import type { InvoiceProposalMessage } from '../../../messages';
import type {
  Account,
  Actual,
  Contract,
  ContractLine,
  Invoice,
  InvoiceLine,
  InvoiceLineDetail,
  Milestone,
} from '../../records';
import { changedDetail, correctiveDetail, type DetailRecords, type Frame, frameOf, manualDetail, milestoneDetail, unchangedDetail } from './builders';
import { checkHeader, checkLines, DetailChecks, refuserFor, type DetailKind } from './checks';
import { ConfirmationRefusalCode } from './refusals';
import { proposalOf, Totals } from './totals';
import { amt, byId } from './values';

export { ConfirmationRefusalCode, ConfirmationRefused } from './refusals';
export { confirmationActualId, ConfirmationRole } from './builders';
export { canConfirm } from './checks';

export interface ConfirmationInput {
  invoice: Invoice;
  lines: InvoiceLine[];
  details: InvoiceLineDetail[];
  /** The unbilled actuals the ILDs came from (msdyn_sourceactual), by id. */
  sourceActuals: ReadonlyMap<string, Actual>;
  /** Milestones of milestone ILDs, by id. */
  milestones: ReadonlyMap<string, Milestone>;
  contract: Contract;
  contractLines: ReadonlyMap<string, ContractLine>;
  account: Account;
  /** ISO timestamp. */
  confirmedOn: string;
  /** Re-plan a confirmation that may already be partly or fully written (docs/decisions/confirmation.md, "Resume"). */
  resume?: boolean;
  /** A corrective invoice (msdyn_correctedinvoice): the billed actuals its ILDs correct, by id. */
  originalBilledActuals?: ReadonlyMap<string, Actual>;
  /** A corrective invoice: the invoice it corrects (its number is the proposal the credit corrects). */
  correctedInvoice?: Pick<Invoice, 'invoiceid' | 'invoicenumber'>;
}

export interface ConfirmationPlan {
  /** Status Confirmed, msdyn_confirmedon, totalamount/totaltax recomputed from the ILDs. */
  invoice: Invoice;
  /** extendedamount/tax recomputed per line from its ILDs. */
  lines: InvoiceLine[];
  /** Every actual created, with deterministic ids. */
  newActuals: Actual[];
  /** Existing actuals with their changed fields applied (full records). */
  updatedActuals: Actual[];
  updatedMilestones: Milestone[];
  /** The new actuals that are not skip-sync, in the same stable order as newActuals. */
  actualsToPublish: Actual[];
  proposal: InvoiceProposalMessage;
}

/** Throws ConfirmationRefused when the invoice cannot be confirmed; nothing is planned then. */
export function planConfirmation(input: ConfirmationInput): ConfirmationPlan {
  const { invoice } = input;
  const resume = input.resume === true;
  const refuse = refuserFor(invoice);
  const confirmedOn = checkHeader(input, resume, refuse);
  const lines = checkLines(invoice, input.lines, refuse);
  const checks = new DetailChecks(input, lines, resume, refuse);

  const frame = frameOf(invoice);
  const totals = new Totals();
  const newActuals: Actual[] = [];
  const updatedActuals: Actual[] = [];
  const updatedMilestones: Milestone[] = [];

  const corrective = invoice.msdyn_correctedinvoice !== undefined;
  if (corrective && input.correctedInvoice?.invoiceid !== invoice.msdyn_correctedinvoice) {
    refuse(ConfirmationRefusalCode.InconsistentInput, `it corrects invoice ${invoice.msdyn_correctedinvoice}, which was not found.`);
  }
  for (const ild of [...input.details].sort(byId((d) => d.msdyn_invoicelinetransactionid))) {
    const no = checks.refuserFor(ild);
    const line = checks.belongsTogether(ild, no);
    const tax = amt(ild.msdyn_tax);
    let records: DetailRecords;
    if (corrective) {
      const c = checks.corrective(ild, no);
      records = correctiveDetail(frame, ild, c.billed, c.figures, c.milestone);
    } else if (ild.msdyn_originalbilledactual !== undefined) {
      return no(ConfirmationRefusalCode.InconsistentInput, `corrects billed actual ${ild.msdyn_originalbilledactual}, but the invoice is not a corrective invoice.`);
    } else {
      records = detailRecords(frame, ild, checks.kindOf(ild, no), line.msdyn_billingmethod, tax);
    }
    newActuals.push(...records.newActuals);
    if (records.updatedActual !== undefined) updatedActuals.push(records.updatedActual);
    if (records.updatedMilestone !== undefined) updatedMilestones.push(records.updatedMilestone);
    totals.add(ild);
  }
  if (corrective && updatedActuals.length === 0) {
    refuse(ConfirmationRefusalCode.NoDetails, 'it keeps every billed line in full, so it corrects nothing; lower the quantity of a detail to credit it.');
  }

  const confirmedInvoice = totals.confirmed(invoice, confirmedOn);
  return {
    invoice: confirmedInvoice,
    lines: totals.lines(lines.values()),
    newActuals,
    updatedActuals,
    updatedMilestones,
    actualsToPublish: newActuals.filter((a) => !a.msdyn_skipsync),
    proposal: proposalOf(confirmedInvoice, input.account, newActuals, confirmedOn, input.correctedInvoice),
  };
}

/** The records of an ordinary ILD, by its kind. */
function detailRecords(frame: Frame, ild: InvoiceLineDetail, kind: DetailKind, method: InvoiceLine['msdyn_billingmethod'], tax: string): DetailRecords {
  switch (kind.kind) {
    case 'milestone':
      return milestoneDetail(frame, ild, kind.milestone, tax);
    case 'fromActual':
      return (kind.changed ? changedDetail : unchangedDetail)(frame, ild, kind.source, tax);
    case 'manual':
      return manualDetail(frame, ild, method, tax);
  }
}
