/**
 * The checks of a confirmation: that the records handed in belong together, and every business
 * refusal of the inputs (refusals.ts). Pure. Each check throws ConfirmationRefused on the first
 * problem; the list of refusals: docs/decisions/confirmation.md.
 */
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
import { amount, dec, eq, extend } from '../../../core/money';
import {
  AdjustmentStatus,
  BillingStatus,
  BillingType,
  InvoiceStatus,
  MilestoneStatus,
  TransactionClass,
  TransactionType,
} from '../../../core/options';
import { labelOf } from '../../../core/labels';
import { ConfirmationRefusalCode as Code, ConfirmationRefused } from './refusals';
import { correctiveFigures, keptQuantityRefusal, type CorrectiveFigures } from '../correctionRules';
import { same } from './values';

/** Throws the refusal, its message prefixed with the invoice. */
export type Refuse = (code: Code, message: string, detailId?: string) => never;

export function refuserFor(invoice: Invoice): Refuse {
  return (code, message, detailId) => {
    throw new ConfirmationRefused(code, `Invoice ${invoice.invoicenumber}: ${message}`, detailId);
  };
}

/** Confirmation is allowed only from Draft or In Review. */
export function canConfirm(status: number): { ok: true } | { ok: false; reason: string } {
  if (status === InvoiceStatus.Draft || status === InvoiceStatus.InReview) return { ok: true };
  const already =
    status === InvoiceStatus.Confirmed ? ' It is already confirmed; a repeat confirmation changes nothing.' : '';
  return {
    ok: false,
    reason: `the invoice is ${labelOf.invoiceStatus(status)}; only a Draft or In Review invoice can be confirmed.${already}`,
  };
}

/** The parts of the input the header checks read. */
export interface HeaderInput {
  invoice: Invoice;
  contract: Contract;
  account: Account;
  details: readonly unknown[];
  confirmedOn: string;
}

/**
 * The invoice's status, the confirmation time, contract, customer and that there are ILDs.
 * Returns the confirmation time to stamp: the stored one when resuming a Confirmed invoice.
 */
export function checkHeader(input: HeaderInput, resume: boolean, refuse: Refuse): string {
  const { invoice, contract, account } = input;
  const resumingConfirmed = resume && invoice.msdyn_projectinvoicestatus === InvoiceStatus.Confirmed;
  if (!resumingConfirmed) {
    const allowed = canConfirm(invoice.msdyn_projectinvoicestatus);
    if (!allowed.ok) refuse(Code.InvoiceStatus, allowed.reason);
  }
  const confirmedOn =
    resumingConfirmed && invoice.msdyn_confirmedon !== undefined ? invoice.msdyn_confirmedon : input.confirmedOn;
  if (Number.isNaN(Date.parse(confirmedOn))) {
    refuse(Code.InconsistentInput, `the confirmation time "${confirmedOn}" is not an ISO-8601 timestamp.`);
  }
  if (contract.salesorderid !== invoice.salesorderid) {
    refuse(
      Code.InconsistentInput,
      `it belongs to contract ${invoice.salesorderid}, but contract ${contract.salesorderid} was supplied.`,
    );
  }
  if (account.accountid !== invoice.customerid) {
    refuse(
      Code.InconsistentInput,
      `its customer is ${invoice.customerid}, but account ${account.accountid} was supplied.`,
    );
  }
  if (input.details.length === 0) {
    refuse(Code.NoDetails, 'it has no invoice line details; add at least one transaction before confirming.');
  }
  return confirmedOn;
}

/** Every line is on the invoice, once. Returns the lines by id, in input order. */
export function checkLines(invoice: Invoice, lines: readonly InvoiceLine[], refuse: Refuse): Map<string, InvoiceLine> {
  const byLineId = new Map<string, InvoiceLine>();
  for (const line of lines) {
    if (line.invoiceid !== invoice.invoiceid) {
      refuse(Code.InconsistentInput, `invoice line ${line.invoicedetailid} belongs to invoice ${line.invoiceid}.`);
    }
    if (byLineId.has(line.invoicedetailid)) {
      refuse(Code.InconsistentInput, `invoice line ${line.invoicedetailid} was supplied twice.`);
    }
    byLineId.set(line.invoicedetailid, line);
  }
  return byLineId;
}

/** The records the ILDs point at. */
export interface DetailLookups {
  invoice: Invoice;
  contractLines: ReadonlyMap<string, ContractLine>;
  sourceActuals: ReadonlyMap<string, Actual>;
  milestones: ReadonlyMap<string, Milestone>;
  /** On a corrective invoice: the billed actuals its ILDs correct (msdyn_originalbilledactual), by id. */
  originalBilledActuals?: ReadonlyMap<string, Actual>;
}

/** A corrective ILD once checked: the billed actual it corrects, what it is worth, its milestone. */
export interface CorrectiveKind {
  billed: Actual;
  figures: CorrectiveFigures;
  milestone?: Milestone;
}

/** An ILD's kind, with the record it bills once checked. */
export type DetailKind =
  | { kind: 'milestone'; milestone: Milestone }
  | { kind: 'fromActual'; source: Actual; changed: boolean }
  | { kind: 'manual' };

type RefuseDetail = (code: Code, message: string) => never;

/**
 * The checks of the ILDs of one invoice, in the order they are planned. Remembers the ILDs, source
 * actuals and milestones seen so far, so each is billed once.
 */
export class DetailChecks {
  private readonly seenDetails = new Set<string>();
  /** Source actual id -> the ILD that bills it. */
  private readonly seenSources = new Map<string, string>();
  /** Milestone id -> the ILD that bills it. */
  private readonly seenMilestones = new Map<string, string>();

  constructor(
    private readonly lookups: DetailLookups,
    private readonly lines: ReadonlyMap<string, InvoiceLine>,
    private readonly resume: boolean,
    private readonly refuse: Refuse,
  ) {}

  /** A refusal about one ILD: names it and carries its id. */
  refuserFor(ild: InvoiceLineDetail): RefuseDetail {
    const id = ild.msdyn_invoicelinetransactionid;
    return (code, message) =>
      this.refuse(
        code,
        `invoice line detail ${id} (${labelOf.transactionClass(ild.msdyn_transactionclassification)}) ${message}`,
        id,
      );
  }

  /** The ILD is on this invoice, on one of its lines and contract lines, in its currency, and invoiceable. */
  belongsTogether(ild: InvoiceLineDetail, no: RefuseDetail): InvoiceLine {
    const { invoice } = this.lookups;
    const id = ild.msdyn_invoicelinetransactionid;
    if (this.seenDetails.has(id)) no(Code.InconsistentInput, 'was supplied twice.');
    this.seenDetails.add(id);
    if (ild.msdyn_invoice !== invoice.invoiceid) no(Code.InconsistentInput, `belongs to invoice ${ild.msdyn_invoice}.`);
    const line = this.lines.get(ild.msdyn_invoicelineid);
    if (line === undefined) {
      return no(Code.InconsistentInput, `is on invoice line ${ild.msdyn_invoicelineid}, which is not on the invoice.`);
    }
    if (line.salesorderdetailid !== ild.msdyn_salescontractlineid) {
      no(
        Code.InconsistentInput,
        `names contract line ${ild.msdyn_salescontractlineid}, but its invoice line is for contract line ${line.salesorderdetailid}.`,
      );
    }
    const contractLine = this.lookups.contractLines.get(ild.msdyn_salescontractlineid);
    if (contractLine !== undefined && contractLine.msdyn_billingmethod !== line.msdyn_billingmethod) {
      no(
        Code.InconsistentInput,
        `is on an invoice line whose billing method differs from its contract line ${contractLine.salesorderdetailid}.`,
      );
    }
    if (ild.transactioncurrencyid !== invoice.transactioncurrencyid) {
      no(
        Code.InconsistentInput,
        `is in ${ild.transactioncurrencyid}, but the invoice is in ${invoice.transactioncurrencyid}.`,
      );
    }
    if (ild.msdyn_billingtype === BillingType.NotAvailable) {
      no(
        Code.BillingTypeNotInvoiceable,
        'has billing type Not Available, which cannot be invoiced; set it to Chargeable, Non Chargeable or Complimentary, or delete it.',
      );
    }
    return line;
  }

  /** The checks of the ILD's kind: its milestone, or its amount and then its source actual (if any). */
  kindOf(ild: InvoiceLineDetail, no: RefuseDetail): DetailKind {
    if (ild.msdyn_milestone !== undefined || ild.msdyn_transactionclassification === TransactionClass.Milestone) {
      return { kind: 'milestone', milestone: this.milestone(ild, no) };
    }
    checkPricedAmount(ild, no);
    if (ild.msdyn_sourceactual === undefined) return { kind: 'manual' };
    return { kind: 'fromActual', ...this.sourceActual(ild.msdyn_sourceactual, ild, no) };
  }

  /**
   * A corrective ILD (the invoice corrects another): it names a billed line of the corrected
   * invoice, once; keeps its class, contract line, price and billing type; keeps between 0 and the
   * billed quantity (a milestone 0 or all); its amount and tax are kept minus billed; the billed
   * actual is not corrected yet (or, resuming, corrected as this plan leaves it).
   */
  corrective(ild: InvoiceLineDetail, no: RefuseDetail): CorrectiveKind {
    const { invoice } = this.lookups;
    const billedId = ild.msdyn_originalbilledactual;
    if (billedId === undefined) {
      return no(Code.CorrectionInvalid, `corrects no billed actual: every detail of a corrective invoice names the billed line it corrects (msdyn_originalbilledactual); manual details cannot be added to a correction.`);
    }
    if (ild.msdyn_sourceactual !== undefined) no(Code.InconsistentInput, `names both billed actual ${billedId} to correct and actual ${ild.msdyn_sourceactual} to invoice.`);
    const billed = this.lookups.originalBilledActuals?.get(billedId);
    if (billed === undefined) return no(Code.SourceActualMissing, `corrects billed actual ${billedId}, which was not found.`);
    const earlier = this.seenSources.get(billedId);
    if (earlier !== undefined) no(Code.InconsistentInput, `corrects billed actual ${billedId}, as does ILD ${earlier}.`);
    this.seenSources.set(billedId, ild.msdyn_invoicelinetransactionid);
    if (billed.msdyn_transactiontypecode !== TransactionType.BilledSales || billed.msdyn_reversedactual !== undefined || billed.msdyn_invoice !== invoice.msdyn_correctedinvoice) {
      no(Code.CorrectionInvalid, `corrects actual ${billedId}, which is not a billed line of invoice ${invoice.msdyn_correctedinvoice ?? '(none)'}, the invoice this one corrects.`);
    }
    if (billed.msdyn_transactionclassification !== ild.msdyn_transactionclassification) {
      no(Code.ClassChanged, `has class ${labelOf.transactionClass(ild.msdyn_transactionclassification)}, but the billed line it corrects is ${labelOf.transactionClass(billed.msdyn_transactionclassification)}; the transaction class cannot be changed.`);
    }
    if (billed.msdyn_salescontractlineid !== ild.msdyn_salescontractlineid || !same(billed.msdyn_price, ild.msdyn_price) || billed.msdyn_billingtype !== ild.msdyn_billingtype) {
      no(Code.CorrectionInvalid, `must keep the contract line, price (${billed.msdyn_price}) and billing type (${labelOf.billingType(billed.msdyn_billingtype)}) of billed actual ${billedId}; a correction changes only the quantity kept.`);
    }
    const isMilestone = ild.msdyn_milestone !== undefined || ild.msdyn_transactionclassification === TransactionClass.Milestone;
    const quantityRefusal = keptQuantityRefusal(billed, ild.msdyn_quantity, isMilestone);
    if (quantityRefusal !== undefined) no(Code.CorrectionInvalid, `${quantityRefusal}.`);
    const figures = correctiveFigures(billed, ild.msdyn_quantity);
    if (!same(ild.msdyn_amount, figures.amount) || !same(ild.msdyn_tax, figures.tax)) {
      no(
        Code.AmountMismatch,
        `keeps ${figures.kept} of billed actual ${billedId}, so its amount must be ${figures.amount} and its tax ${figures.tax} (kept minus billed), not ${ild.msdyn_amount} and ${ild.msdyn_tax}.`,
      );
    }
    const touched = !dec(figures.credited).isZero();
    const fresh = billed.msdyn_adjustmentstatus === undefined;
    const applied = this.resume && touched && billed.msdyn_adjustmentstatus === AdjustmentStatus.Adjusted;
    if (!fresh && !applied) {
      no(Code.SourceActualNotInvoiceable, `corrects billed actual ${billedId}, which is ${labelOf.adjustmentStatus(billed.msdyn_adjustmentstatus!)}: another correction has corrected it already.`);
    }
    if (!isMilestone) return { billed, figures };
    if (ild.msdyn_milestone === undefined) return no(Code.MilestoneMissing, 'has class Milestone but names no milestone.');
    const milestone = this.lookups.milestones.get(ild.msdyn_milestone);
    if (milestone === undefined) return no(Code.MilestoneMissing, `credits milestone ${ild.msdyn_milestone}, which was not found.`);
    const status = milestone.msdyn_invoicestatus;
    const posted = status === MilestoneStatus.CustomerInvoicePosted;
    const reopened = this.resume && touched && status === MilestoneStatus.Ready;
    if (!posted && !reopened) {
      no(Code.MilestoneNotInvoiceable, `credits milestone "${milestone.msdyn_name}" (${ild.msdyn_milestone}), whose status is ${labelOf.milestoneStatus(status)}; only an invoiced milestone (Customer invoice posted) can be credited.`);
    }
    return { billed, figures, milestone };
  }

  /** A milestone ILD bills an existing milestone, once, in full, in status Customer invoice created. */
  private milestone(ild: InvoiceLineDetail, no: RefuseDetail): Milestone {
    if (ild.msdyn_milestone === undefined) {
      return no(Code.MilestoneMissing, 'has class Milestone but names no milestone.');
    }
    if (ild.msdyn_transactionclassification !== TransactionClass.Milestone) {
      no(Code.ClassChanged, `names milestone ${ild.msdyn_milestone} but its class is not Milestone.`);
    }
    if (ild.msdyn_sourceactual !== undefined) {
      no(Code.InconsistentInput, `names both milestone ${ild.msdyn_milestone} and actual ${ild.msdyn_sourceactual}.`);
    }
    const milestone = this.lookups.milestones.get(ild.msdyn_milestone);
    if (milestone === undefined) {
      return no(Code.MilestoneMissing, `bills milestone ${ild.msdyn_milestone}, which was not found.`);
    }
    const earlier = this.seenMilestones.get(milestone.msdyn_contractlinescheduleofvalueid);
    if (earlier !== undefined) no(Code.InconsistentInput, `bills milestone ${ild.msdyn_milestone}, as does ILD ${earlier}.`);
    this.seenMilestones.set(milestone.msdyn_contractlinescheduleofvalueid, ild.msdyn_invoicelinetransactionid);
    const status = milestone.msdyn_invoicestatus;
    const fresh = status === MilestoneStatus.CustomerInvoiceCreated;
    const applied = this.resume && status === MilestoneStatus.CustomerInvoicePosted;
    if (!fresh && !applied) {
      no(
        Code.MilestoneNotInvoiceable,
        `bills milestone "${milestone.msdyn_name}" (${ild.msdyn_milestone}), whose status is ${labelOf.milestoneStatus(status)}; only a milestone in status Customer invoice created can be invoiced.`,
      );
    }
    if (!eq(ild.msdyn_amount, milestone.msdyn_amount)) {
      no(
        Code.AmountMismatch,
        `has amount ${ild.msdyn_amount}, but milestone "${milestone.msdyn_name}" is for ${amount(milestone.msdyn_amount)}; a milestone is invoiced in full.`,
      );
    }
    return milestone;
  }

  /**
   * The source actual exists, is billed by this ILD only, is an unbilled sales actual of this
   * contract with the ILD's class, and is on this draft (or, resuming, already as this plan leaves
   * it). `changed`: the ILD's quantity, price or billing type differs from the source's.
   */
  private sourceActual(
    sourceId: string,
    ild: InvoiceLineDetail,
    no: RefuseDetail,
  ): { source: Actual; changed: boolean } {
    const source = this.lookups.sourceActuals.get(sourceId);
    if (source === undefined) {
      return no(Code.SourceActualMissing, `came from actual ${sourceId}, which was not found.`);
    }
    const earlier = this.seenSources.get(sourceId);
    if (earlier !== undefined) no(Code.InconsistentInput, `came from actual ${sourceId}, as did ILD ${earlier}.`);
    this.seenSources.set(sourceId, ild.msdyn_invoicelinetransactionid);
    if (source.msdyn_transactiontypecode !== TransactionType.UnbilledSales) {
      no(
        Code.SourceActualNotInvoiceable,
        `came from actual ${sourceId}, which is a ${labelOf.transactionType(source.msdyn_transactiontypecode)} actual, not an unbilled sales actual.`,
      );
    }
    if (source.msdyn_transactionclassification !== ild.msdyn_transactionclassification) {
      no(
        Code.ClassChanged,
        `has class ${labelOf.transactionClass(ild.msdyn_transactionclassification)}, but its actual ${sourceId} is ${labelOf.transactionClass(source.msdyn_transactionclassification)}; the transaction class cannot be changed. Delete the detail and add a manual one instead.`,
      );
    }
    if (source.msdyn_salescontract !== this.lookups.invoice.salesorderid) {
      no(Code.InconsistentInput, `came from actual ${sourceId} of another contract (${source.msdyn_salescontract}).`);
    }
    const changed =
      !same(ild.msdyn_quantity, source.msdyn_quantity) ||
      !same(ild.msdyn_price, source.msdyn_price) ||
      ild.msdyn_billingtype !== source.msdyn_billingtype;

    const fresh =
      source.msdyn_billingstatus === BillingStatus.CustomerInvoiceCreated &&
      source.msdyn_adjustmentstatus === undefined;
    const applied =
      this.resume &&
      source.msdyn_billingstatus === BillingStatus.CustomerInvoicePosted &&
      source.msdyn_adjustmentstatus === (changed ? AdjustmentStatus.Adjusted : undefined);
    if (!fresh && !applied) {
      if (source.msdyn_adjustmentstatus !== undefined) {
        no(
          Code.SourceActualNotInvoiceable,
          `came from actual ${sourceId}, which is ${labelOf.adjustmentStatus(source.msdyn_adjustmentstatus)} and cannot be invoiced; delete the detail.`,
        );
      }
      no(
        Code.SourceActualNotInvoiceable,
        `came from actual ${sourceId}, whose billing status is ${labelOf.billingStatus(source.msdyn_billingstatus)}; only actuals in status Customer Invoice Created (on this draft invoice) can be invoiced.`,
      );
    }
    return { source, changed };
  }
}

/** An ILD priced by quantity x price: its amount is that, or 0.00 when Non Chargeable or Complimentary. */
function checkPricedAmount(ild: InvoiceLineDetail, no: RefuseDetail): void {
  const type = ild.msdyn_billingtype;
  const zero = type === BillingType.NonChargeable || type === BillingType.Complimentary;
  const expected = zero ? '0.00' : extend(ild.msdyn_quantity, ild.msdyn_price);
  if (same(ild.msdyn_amount, expected)) return;
  const why = zero
    ? `it is ${labelOf.billingType(type)}, so its amount must be 0.00`
    : `quantity ${ild.msdyn_quantity} x price ${ild.msdyn_price} = ${expected}`;
  no(Code.AmountMismatch, `has amount ${ild.msdyn_amount}, but ${why}; correct the detail before confirming.`);
}
