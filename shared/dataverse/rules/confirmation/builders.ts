/**
 * The records a confirmation creates, one builder per kind of ILD, and the record builders they
 * share. Pure; the inputs are already checked (checks.ts). Which records each kind produces, and
 * why: docs/decisions/confirmation.md.
 */
import type { Actual, Invoice, InvoiceLineDetail, Milestone } from '../../records';
import { deterministicGuid } from '../../../core/ids';
import { amount, dec, negate, quantity } from '../../../core/money';
import {
  AdjustmentStatus,
  BillingMethod,
  BillingStatus,
  BillingType,
  MilestoneStatus,
  TransactionClass,
  TransactionType,
} from '../../../core/options';
import type { CorrectiveFigures } from '../correctionRules';
import { detailAmount } from '../invoiceRules';
import { amt } from './values';

export const ConfirmationRole = {
  AdjustmentReversal: 'adjustment-reversal',
  Unbilled: 'unbilled',
  UnbilledReversal: 'unbilled-reversal',
  Billed: 'billed',
  RemainderUnbilled: 'remainder-unbilled',
  RemainderUnbilledReversal: 'remainder-unbilled-reversal',
  RemainderBilled: 'remainder-billed',
  /** On a corrective invoice: the negative copy of the billed actual it corrects. */
  CreditReversal: 'credit-reversal',
  /** On a corrective invoice: the credited quantity, back in the billing backlog. */
  CreditUnbilled: 'credit-unbilled',
} as const;
export type ConfirmationRole = (typeof ConfirmationRole)[keyof typeof ConfirmationRole];
const Role = ConfirmationRole;

/** The id of the actual a confirmation creates for an ILD in a role (e.g. its billed sales actual). */
export function confirmationActualId(invoiceId: string, detailId: string, role: ConfirmationRole): string {
  return deterministicGuid(invoiceId, detailId, role);
}

/** What one ILD adds to the plan, in output order. */
export interface DetailRecords {
  newActuals: Actual[];
  /** The source actual with its new statuses. */
  updatedActual?: Actual;
  updatedMilestone?: Milestone;
}

// Per kind of ILD ---------------------------------------------------------------------------------

/** Unchanged ILD: the source's invoicing reversal and a billed actual equal to the ILD. */
export function unchangedDetail(f: Frame, ild: InvoiceLineDetail, source: Actual, tax: string): DetailRecords {
  const id = ild.msdyn_invoicelinetransactionid;
  const billedSpec = specOfDetail(ild);
  return {
    newActuals: [
      reversalOf(f, id, Role.UnbilledReversal, source, true),
      newBilled(f, id, Role.Billed, billedSpec, ild.msdyn_sourceactual, tax),
    ],
    updatedActual: { ...source, msdyn_billingstatus: BillingStatus.CustomerInvoicePosted },
  };
}

/**
 * Changed ILD: the source's adjustment reversal, a new unbilled actual as edited with its invoicing
 * reversal and its billed actual, then the quantity remainder (if any). The source ends Adjusted.
 */
export function changedDetail(f: Frame, ild: InvoiceLineDetail, source: Actual, tax: string): DetailRecords {
  const id = ild.msdyn_invoicelinetransactionid;
  const billedSpec = specOfDetail(ild);
  const adjustmentReversal = reversalOf(f, id, Role.AdjustmentReversal, source, false, AdjustmentStatus.Unadjustable);
  const unbilled = newUnbilled(f, id, Role.Unbilled, billedSpec);
  return {
    newActuals: [
      adjustmentReversal,
      unbilled,
      reversalOf(f, id, Role.UnbilledReversal, unbilled, true),
      newBilled(f, id, Role.Billed, billedSpec, unbilled.msdyn_actualid, tax),
      ...remainderOf(f, ild, source),
    ],
    updatedActual: {
      ...source,
      msdyn_billingstatus: BillingStatus.CustomerInvoicePosted,
      msdyn_adjustmentstatus: AdjustmentStatus.Adjusted,
    },
  };
}

/** The quantity an ILD no longer bills, as non-chargeable unbilled, its reversal and billed at 0.00. */
function remainderOf(f: Frame, ild: InvoiceLineDetail, source: Actual): Actual[] {
  const remainder = dec(source.msdyn_quantity).minus(dec(ild.msdyn_quantity));
  if (!remainder.greaterThan(0)) return [];
  const id = ild.msdyn_invoicelinetransactionid;
  const spec: Spec = {
    cls: source.msdyn_transactionclassification,
    billingType: BillingType.NonChargeable,
    quantity: quantity(remainder),
    price: source.msdyn_price,
    amount: '0.00',
    currency: source.transactioncurrencyid,
    documentDate: source.msdyn_documentdate,
    project: source.msdyn_project,
    contractLine: source.msdyn_salescontractlineid,
  };
  const unbilled = newUnbilled(f, id, Role.RemainderUnbilled, spec);
  return [
    unbilled,
    reversalOf(f, id, Role.RemainderUnbilledReversal, unbilled, true),
    newBilled(f, id, Role.RemainderBilled, spec, unbilled.msdyn_actualid, '0.00'),
  ];
}

/** Milestone ILD: one billed actual of quantity 1 for the milestone amount; the milestone is posted. */
export function milestoneDetail(f: Frame, ild: InvoiceLineDetail, milestone: Milestone, tax: string): DetailRecords {
  const milestoneAmount = amount(milestone.msdyn_amount);
  const spec: Spec = { ...specOfDetail(ild), quantity: '1', price: milestoneAmount, amount: milestoneAmount };
  return {
    newActuals: [newBilled(f, ild.msdyn_invoicelinetransactionid, Role.Billed, spec, undefined, tax)],
    updatedMilestone: { ...milestone, msdyn_invoicestatus: MilestoneStatus.CustomerInvoicePosted },
  };
}

/** Manual ILD: T&M gets unbilled, its invoicing reversal and billed; fixed price a billed actual only. */
export function manualDetail(f: Frame, ild: InvoiceLineDetail, method: BillingMethod, tax: string): DetailRecords {
  const id = ild.msdyn_invoicelinetransactionid;
  const spec = specOfDetail(ild);
  if (method !== BillingMethod.TimeAndMaterial) {
    return { newActuals: [newBilled(f, id, Role.Billed, spec, undefined, tax)] };
  }
  const unbilled = newUnbilled(f, id, Role.Unbilled, spec);
  return {
    newActuals: [
      unbilled,
      reversalOf(f, id, Role.UnbilledReversal, unbilled, true),
      newBilled(f, id, Role.Billed, spec, unbilled.msdyn_actualid, tax),
    ],
  };
}

/**
 * Corrective ILD (domain.md step 12): the billed actual it corrects becomes Adjusted and gets its
 * negative copy on the corrective invoice (Unadjustable, synced); the credited quantity goes back
 * to the backlog as a new unbilled actual at the billed price and billing type (work billed from
 * an unbilled actual only); a kept quantity is billed again as in an edited ILD (unbilled, its
 * invoicing reversal, billed); a credited milestone is Ready again. Kept whole: nothing changes.
 */
export function correctiveDetail(f: Frame, ild: InvoiceLineDetail, billed: Actual, figures: CorrectiveFigures, milestone: Milestone | undefined): DetailRecords {
  if (dec(figures.credited).isZero()) return { newActuals: [] };
  const id = ild.msdyn_invoicelinetransactionid;
  const specOf = (qty: string, value: string): Spec => ({
    cls: billed.msdyn_transactionclassification,
    billingType: billed.msdyn_billingtype,
    quantity: qty,
    price: billed.msdyn_price,
    amount: value,
    currency: billed.transactioncurrencyid,
    documentDate: billed.msdyn_documentdate,
    project: billed.msdyn_project,
    contractLine: billed.msdyn_salescontractlineid,
  });
  const reversal: Actual = {
    ...reversalOf(f, id, Role.CreditReversal, billed, false, AdjustmentStatus.Unadjustable),
    msdyn_invoice: f.invoiceId,
    msdyn_salestaxamount: amt(negate(billed.msdyn_salestaxamount ?? '0')),
  };
  if (billed.msdyn_unbilledactual !== undefined) reversal.msdyn_unbilledactual = billed.msdyn_unbilledactual;
  const newActuals: Actual[] = [reversal];
  const fromWork = billed.msdyn_unbilledactual !== undefined;
  if (fromWork) {
    const credited = detailAmount(figures.credited, billed.msdyn_price, billed.msdyn_billingtype);
    newActuals.push({ ...newUnbilled(f, id, Role.CreditUnbilled, specOf(figures.credited, credited)), msdyn_billingstatus: BillingStatus.UnbilledSalesCreated });
  }
  if (!dec(figures.kept).isZero()) {
    const kept = specOf(figures.kept, figures.keptAmount);
    if (fromWork) {
      const unbilled = newUnbilled(f, id, Role.Unbilled, kept);
      newActuals.push(unbilled, reversalOf(f, id, Role.UnbilledReversal, unbilled, true), newBilled(f, id, Role.Billed, kept, unbilled.msdyn_actualid, figures.keptTax));
    } else {
      newActuals.push(newBilled(f, id, Role.Billed, kept, undefined, figures.keptTax));
    }
  }
  const records: DetailRecords = { newActuals, updatedActual: { ...billed, msdyn_adjustmentstatus: AdjustmentStatus.Adjusted } };
  if (milestone !== undefined && dec(figures.kept).isZero()) records.updatedMilestone = { ...milestone, msdyn_invoicestatus: MilestoneStatus.Ready };
  return records;
}

// Shared record builders --------------------------------------------------------------------------

/** What every new actual of this invoice shares. */
export interface Frame {
  invoiceId: string;
  contractId: string;
  customerId: string;
  accountingDate: string;
}

export function frameOf(invoice: Invoice): Frame {
  return {
    invoiceId: invoice.invoiceid,
    contractId: invoice.salesorderid,
    customerId: invoice.customerid,
    accountingDate: invoice.msdyn_invoicedate,
  };
}

/** The money and placement of an actual to create. */
interface Spec {
  cls: TransactionClass;
  billingType: BillingType;
  quantity: string;
  price: string;
  amount: string;
  currency: string;
  documentDate: string;
  project: string;
  contractLine: string;
}

function specOfDetail(ild: InvoiceLineDetail): Spec {
  return {
    cls: ild.msdyn_transactionclassification,
    billingType: ild.msdyn_billingtype,
    quantity: ild.msdyn_quantity,
    price: ild.msdyn_price,
    amount: amt(ild.msdyn_amount),
    currency: ild.transactioncurrencyid,
    documentDate: ild.msdyn_documentdate,
    project: ild.msdyn_project,
    contractLine: ild.msdyn_salescontractlineid,
  };
}

/** A new actual of the confirmation (Customer Invoice Posted, synced). */
function newActual(f: Frame, ildId: string, role: ConfirmationRole, s: Spec, type: TransactionType): Actual {
  return {
    msdyn_actualid: confirmationActualId(f.invoiceId, ildId, role),
    msdyn_transactiontypecode: type,
    msdyn_transactionclassification: s.cls,
    msdyn_billingtype: s.billingType,
    msdyn_billingstatus: BillingStatus.CustomerInvoicePosted,
    msdyn_quantity: s.quantity,
    msdyn_price: s.price,
    msdyn_amount: s.amount,
    transactioncurrencyid: s.currency,
    msdyn_documentdate: s.documentDate,
    msdyn_accountingdate: f.accountingDate,
    msdyn_project: s.project,
    msdyn_salescontract: f.contractId,
    msdyn_salescontractlineid: s.contractLine,
    msdyn_accountcustomer: f.customerId,
    msdyn_skipsync: false,
  };
}

function newUnbilled(f: Frame, ildId: string, role: ConfirmationRole, s: Spec): Actual {
  return newActual(f, ildId, role, s, TransactionType.UnbilledSales);
}

/** The billed sales actual: carries the invoice, the ILD's tax and the unbilled actual it bills (if any). */
function newBilled(
  f: Frame,
  ildId: string,
  role: ConfirmationRole,
  s: Spec,
  unbilledActualId: string | undefined,
  tax: string,
): Actual {
  const billed: Actual = {
    ...newActual(f, ildId, role, s, TransactionType.BilledSales),
    msdyn_invoice: f.invoiceId,
    msdyn_salestaxamount: tax,
  };
  if (unbilledActualId !== undefined) billed.msdyn_unbilledactual = unbilledActualId;
  return billed;
}

/** A negative copy of `of`: quantity and amount negated, same price; never carries msdyn_invoice. */
function reversalOf(
  f: Frame,
  ildId: string,
  role: ConfirmationRole,
  of: Actual,
  skipSync: boolean,
  adjustment?: AdjustmentStatus,
): Actual {
  const reversal: Actual = {
    msdyn_actualid: confirmationActualId(f.invoiceId, ildId, role),
    msdyn_transactiontypecode: of.msdyn_transactiontypecode,
    msdyn_transactionclassification: of.msdyn_transactionclassification,
    msdyn_billingtype: of.msdyn_billingtype,
    msdyn_billingstatus: BillingStatus.CustomerInvoicePosted,
    msdyn_quantity: negate(of.msdyn_quantity),
    msdyn_price: of.msdyn_price,
    msdyn_amount: amt(negate(of.msdyn_amount)),
    transactioncurrencyid: of.transactioncurrencyid,
    msdyn_documentdate: of.msdyn_documentdate,
    msdyn_accountingdate: f.accountingDate,
    msdyn_project: of.msdyn_project,
    msdyn_salescontract: of.msdyn_salescontract,
    msdyn_salescontractlineid: of.msdyn_salescontractlineid,
    msdyn_accountcustomer: of.msdyn_accountcustomer,
    msdyn_reversedactual: of.msdyn_actualid,
    msdyn_skipsync: skipSync,
  };
  if (adjustment !== undefined) reversal.msdyn_adjustmentstatus = adjustment;
  return reversal;
}
