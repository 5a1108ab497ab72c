/**
 * Business refusals of the confirmation rules (domain.md step 6 and "What must be refused"),
 * and the human labels of option values the refusal messages use. Pure: no I/O.
 */
import {
  AdjustmentStatus,
  BillingStatus,
  BillingType,
  InvoiceStatus,
  MilestoneStatus,
  TransactionClass,
  TransactionType,
} from '../../core/options';

/** Why a confirmation was refused; stable codes for callers and tests, the message is for people. */
export const ConfirmationRefusalCode = {
  /** The invoice is not Draft or In Review. */
  InvoiceStatus: 'InvoiceStatus',
  /** The invoice has no invoice line details. */
  NoDetails: 'NoDetails',
  /** The records handed in do not belong together (other invoice, other contract, missing line, duplicates). */
  InconsistentInput: 'InconsistentInput',
  /** An ILD names a source actual that was not found. */
  SourceActualMissing: 'SourceActualMissing',
  /** The source actual is not an unbilled sales actual in billing status Customer Invoice Created, or it is Adjusted/Unadjustable. */
  SourceActualNotInvoiceable: 'SourceActualNotInvoiceable',
  /** The ILD's transaction class differs from its source actual's (class is immutable). */
  ClassChanged: 'ClassChanged',
  /** A milestone ILD whose milestone is missing (or not named). */
  MilestoneMissing: 'MilestoneMissing',
  /** The milestone is not in status Customer invoice created. */
  MilestoneNotInvoiceable: 'MilestoneNotInvoiceable',
  /** The ILD amount is not quantity x price (chargeable), 0 (non-chargeable, complimentary) or the milestone amount. */
  AmountMismatch: 'AmountMismatch',
  /** The ILD's billing type cannot be invoiced (Not Available). */
  BillingTypeNotInvoiceable: 'BillingTypeNotInvoiceable',
} as const;
export type ConfirmationRefusalCode = (typeof ConfirmationRefusalCode)[keyof typeof ConfirmationRefusalCode];

/**
 * A business refusal: the confirmation can never succeed with this data, so the caller records it
 * (integrationErrors, category "Business") and completes the message. Nothing was planned.
 */
export class ConfirmationRefused extends Error {
  override readonly name = 'ConfirmationRefused';
  /** The message a person reads (same as `message`). */
  readonly reason: string;
  readonly code: ConfirmationRefusalCode;
  /** The ILD (msdyn_invoicelinetransactionid) the refusal is about, when it is about one. */
  readonly detailId: string | undefined;

  constructor(code: ConfirmationRefusalCode, reason: string, detailId?: string) {
    super(reason);
    this.reason = reason;
    this.code = code;
    this.detailId = detailId;
  }
}

const INVOICE_STATUS_LABELS: Record<number, string> = {
  [InvoiceStatus.Draft]: 'Draft',
  [InvoiceStatus.InReview]: 'In Review',
  [InvoiceStatus.Confirmed]: 'Confirmed',
  [InvoiceStatus.Paid]: 'Paid',
  [InvoiceStatus.Posted]: 'Posted',
};
const BILLING_STATUS_LABELS: Record<number, string> = {
  [BillingStatus.UnbilledSalesCreated]: 'Unbilled Sales Created',
  [BillingStatus.CustomerInvoiceCreated]: 'Customer Invoice Created',
  [BillingStatus.CustomerInvoicePosted]: 'Customer Invoice Posted',
  [BillingStatus.Canceled]: 'Canceled',
  [BillingStatus.ReadyToInvoice]: 'Ready to Invoice',
};
const BILLING_TYPE_LABELS: Record<number, string> = {
  [BillingType.NonChargeable]: 'Non Chargeable',
  [BillingType.Chargeable]: 'Chargeable',
  [BillingType.Complimentary]: 'Complimentary',
  [BillingType.NotAvailable]: 'Not Available',
};
const CLASS_LABELS: Record<number, string> = {
  [TransactionClass.Time]: 'Time',
  [TransactionClass.Expense]: 'Expense',
  [TransactionClass.Material]: 'Material',
  [TransactionClass.Milestone]: 'Milestone',
  [TransactionClass.Fee]: 'Fee',
};
const TRANSACTION_TYPE_LABELS: Record<number, string> = {
  [TransactionType.Cost]: 'Cost',
  [TransactionType.UnbilledSales]: 'Unbilled Sales',
  [TransactionType.BilledSales]: 'Billed Sales',
};
const ADJUSTMENT_STATUS_LABELS: Record<number, string> = {
  [AdjustmentStatus.Adjusted]: 'Adjusted',
  [AdjustmentStatus.Unadjustable]: 'Unadjustable',
};
const MILESTONE_STATUS_LABELS: Record<number, string> = {
  [MilestoneStatus.NotReady]: 'Not Ready',
  [MilestoneStatus.Ready]: 'Ready',
  [MilestoneStatus.CustomerInvoiceCreated]: 'Customer invoice created',
  [MilestoneStatus.CustomerInvoicePosted]: 'Customer invoice posted',
};

function label(labels: Record<number, string>, value: number | undefined, none = 'none'): string {
  if (value === undefined) return none;
  return labels[value] ?? String(value);
}

export const labelOf = {
  invoiceStatus: (v: number | undefined) => label(INVOICE_STATUS_LABELS, v),
  billingStatus: (v: number | undefined) => label(BILLING_STATUS_LABELS, v),
  billingType: (v: number | undefined) => label(BILLING_TYPE_LABELS, v),
  transactionClass: (v: number | undefined) => label(CLASS_LABELS, v),
  transactionType: (v: number | undefined) => label(TRANSACTION_TYPE_LABELS, v),
  adjustmentStatus: (v: number | undefined) => label(ADJUSTMENT_STATUS_LABELS, v),
  milestoneStatus: (v: number | undefined) => label(MILESTONE_STATUS_LABELS, v),
};
