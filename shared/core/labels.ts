/**
 * Human labels of Dataverse option values, for messages people read
 * ("the invoice is In Review", "billing status Ready to Invoice").
 */
import {
  AdjustmentStatus,
  BillingStatus,
  BillingType,
  InvoiceStatus,
  MilestoneStatus,
  TransactionClass,
  TransactionType,
} from './options';

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
