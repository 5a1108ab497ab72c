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
import { BilledSums, proposalOf, Totals } from './totals';
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
  const planner = new ConfirmationPlanner(input);
  const newActuals: Actual[] = [];
  const updatedActuals: Actual[] = [];
  const updatedMilestones: Milestone[] = [];
  for (const ild of planner.details) {
    const records = planner.plan(ild);
    newActuals.push(...records.newActuals);
    if (records.updatedActual !== undefined) updatedActuals.push(records.updatedActual);
    if (records.updatedMilestone !== undefined) updatedMilestones.push(records.updatedMilestone);
  }
  const { invoice, lines, proposal } = planner.finish();
  return {
    invoice,
    lines,
    newActuals,
    updatedActuals,
    updatedMilestones,
    actualsToPublish: newActuals.filter((a) => !a.msdyn_skipsync),
    proposal,
  };
}

/**
 * The refusals of planConfirmation, without keeping what it plans (a dry run: ConfirmationRefused
 * on the first refusal, nothing otherwise); its memory does not grow with the records.
 */
export function checkConfirmation(input: ConfirmationInput): void {
  const planner = new ConfirmationPlanner(input);
  for (const ild of planner.details) planner.plan(ild);
  planner.finish();
}

/**
 * The same plan one ILD at a time, for a confirmation that writes and publishes in chunks
 * without holding every record at once: construct (the header and line checks), call `plan` for
 * each ILD of `details` in that order (each ILD's checks and records; the refusals of
 * planConfirmation, at the same ILD), then `finish` (the invoice, its lines and the proposal).
 * The concatenation of what `plan` returns is planConfirmation's newActuals, updatedActuals and
 * updatedMilestones, in the same order. A planner checks each ILD once: to build the records
 * again, use a new planner.
 */
export class ConfirmationPlanner {
  /** The ILDs in the order they are planned (by id). */
  readonly details: readonly InvoiceLineDetail[];
  private readonly input: ConfirmationInput;
  private readonly refuse: ReturnType<typeof refuserFor>;
  private readonly confirmedOn: string;
  private readonly lines: ReturnType<typeof checkLines>;
  private readonly checks: DetailChecks;
  private readonly frame: Frame;
  private readonly totals = new Totals();
  private readonly billed = new BilledSums();
  private readonly corrective: boolean;
  private planned = 0;
  private updatedActuals = 0;

  constructor(input: ConfirmationInput) {
    this.input = input;
    const { invoice } = input;
    const resume = input.resume === true;
    this.refuse = refuserFor(invoice);
    this.confirmedOn = checkHeader(input, resume, this.refuse);
    this.lines = checkLines(invoice, input.lines, this.refuse);
    this.checks = new DetailChecks(input, this.lines, resume, this.refuse);
    this.frame = frameOf(invoice);
    this.corrective = invoice.msdyn_correctedinvoice !== undefined;
    if (this.corrective && input.correctedInvoice?.invoiceid !== invoice.msdyn_correctedinvoice) {
      this.refuse(ConfirmationRefusalCode.InconsistentInput, `it corrects invoice ${invoice.msdyn_correctedinvoice}, which was not found.`);
    }
    this.details = [...input.details].sort(byId((d) => d.msdyn_invoicelinetransactionid));
  }

  /** The checks and records of the next ILD of `details`. */
  plan(ild: InvoiceLineDetail): DetailRecords {
    const expected = this.details[this.planned];
    if (expected === undefined || expected.msdyn_invoicelinetransactionid !== ild.msdyn_invoicelinetransactionid) {
      throw new Error(`ILD ${ild.msdyn_invoicelinetransactionid} planned out of order (expected ${expected?.msdyn_invoicelinetransactionid ?? 'none'})`);
    }
    this.planned += 1;
    const no = this.checks.refuserFor(ild);
    const line = this.checks.belongsTogether(ild, no);
    const tax = amt(ild.msdyn_tax);
    let records: DetailRecords;
    if (this.corrective) {
      const c = this.checks.corrective(ild, no);
      records = correctiveDetail(this.frame, ild, c.billed, c.figures, c.milestone);
    } else if (ild.msdyn_originalbilledactual !== undefined) {
      return no(ConfirmationRefusalCode.InconsistentInput, `corrects billed actual ${ild.msdyn_originalbilledactual}, but the invoice is not a corrective invoice.`);
    } else {
      records = detailRecords(this.frame, ild, this.checks.kindOf(ild, no), line.msdyn_billingmethod, tax);
    }
    if (records.updatedActual !== undefined) this.updatedActuals += 1;
    for (const a of records.newActuals) this.billed.add(a);
    this.totals.add(ild);
    return records;
  }

  /** After every ILD: the confirmed invoice, its lines and the proposal header. */
  finish(): Pick<ConfirmationPlan, 'invoice' | 'lines' | 'proposal'> {
    if (this.planned !== this.details.length) throw new Error(`finish after ${this.planned} of ${this.details.length} ILDs`);
    if (this.corrective && this.updatedActuals === 0) {
      this.refuse(ConfirmationRefusalCode.NoDetails, 'it keeps every billed line in full, so it corrects nothing; lower the quantity of a detail to credit it.');
    }
    const invoice = this.totals.confirmed(this.input.invoice, this.confirmedOn);
    return {
      invoice,
      lines: this.totals.lines(this.lines.values()),
      proposal: proposalOf(invoice, this.input.account, this.billed, this.confirmedOn, this.input.correctedInvoice),
    };
  }
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
