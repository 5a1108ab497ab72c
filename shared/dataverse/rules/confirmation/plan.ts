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
import { changedDetail, type DetailRecords, frameOf, manualDetail, milestoneDetail, unchangedDetail } from './builders';
import { checkHeader, checkLines, DetailChecks, refuserFor } from './checks';
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

  for (const ild of [...input.details].sort(byId((d) => d.msdyn_invoicelinetransactionid))) {
    const no = checks.refuserFor(ild);
    const line = checks.belongsTogether(ild, no);
    const tax = amt(ild.msdyn_tax);
    const kind = checks.kindOf(ild, no);
    let records: DetailRecords;
    switch (kind.kind) {
      case 'milestone':
        records = milestoneDetail(frame, ild, kind.milestone, tax);
        break;
      case 'fromActual':
        records = (kind.changed ? changedDetail : unchangedDetail)(frame, ild, kind.source, tax);
        break;
      case 'manual':
        records = manualDetail(frame, ild, line.msdyn_billingmethod, tax);
        break;
    }
    newActuals.push(...records.newActuals);
    if (records.updatedActual !== undefined) updatedActuals.push(records.updatedActual);
    if (records.updatedMilestone !== undefined) updatedMilestones.push(records.updatedMilestone);
    totals.add(ild);
  }

  const confirmedInvoice = totals.confirmed(invoice, confirmedOn);
  return {
    invoice: confirmedInvoice,
    lines: totals.lines(lines.values()),
    newActuals,
    updatedActuals,
    updatedMilestones,
    actualsToPublish: newActuals.filter((a) => !a.msdyn_skipsync),
    proposal: proposalOf(confirmedInvoice, input.account, newActuals, confirmedOn),
  };
}
