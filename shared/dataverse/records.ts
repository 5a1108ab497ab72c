/**
 * Dataverse records (contract.md, "Dataverse side"), as zod schemas and types: the store parses
 * stored rows through them and the rules work on them. Field names are Dataverse's, unchanged.
 */
import { z } from 'zod';
import {
  adjustmentStatus,
  billingMethod,
  billingStatus,
  billingType,
  currencyCode,
  dateString,
  decimalString,
  guid,
  invoiceStatus,
  milestoneStatus,
  timestampString,
  transactionClass,
  transactionType,
} from '../core/fields';

export const accountSchema = z.object({
  accountid: guid,
  name: z.string().min(1),
  accountnumber: z.string().min(1),
});
export type Account = z.infer<typeof accountSchema>;

/**
 * A Dataverse currency (dvCurrencies): resolves the reference Dataverse sends for a currency
 * (a transactioncurrency GUID) to the ISO code every other table holds.
 */
export const currencySchema = z.object({
  transactioncurrencyid: guid,
  isocurrencycode: currencyCode,
  currencyname: z.string().min(1),
});
export type Currency = z.infer<typeof currencySchema>;

export const contractSchema = z.object({
  salesorderid: guid,
  name: z.string().min(1),
  ordernumber: z.string().min(1),
  customerid: guid,
  transactioncurrencyid: currencyCode,
});
export type Contract = z.infer<typeof contractSchema>;

export const contractLineSchema = z.object({
  salesorderdetailid: guid,
  salesorderid: guid,
  productdescription: z.string(),
  msdyn_billingmethod: billingMethod,
  msdyn_project: guid,
  extendedamount: decimalString.optional(),
  /** Optional not-to-exceed limit of the line (domain.md step 13): invoiced plus ready may not pass it. */
  msdyn_notexceedamount: decimalString.optional(),
});
export type ContractLine = z.infer<typeof contractLineSchema>;

export const milestoneSchema = z.object({
  msdyn_contractlinescheduleofvalueid: guid,
  msdyn_contractlineid: guid,
  msdyn_name: z.string(),
  msdyn_amount: decimalString,
  msdyn_invoicestatus: milestoneStatus,
  msdyn_milestonedate: dateString,
});
export type Milestone = z.infer<typeof milestoneSchema>;

export const actualSchema = z.object({
  msdyn_actualid: guid,
  msdyn_transactiontypecode: transactionType,
  msdyn_transactionclassification: transactionClass,
  msdyn_billingtype: billingType,
  msdyn_billingstatus: billingStatus.optional(),
  msdyn_adjustmentstatus: adjustmentStatus.optional(),
  msdyn_quantity: decimalString,
  msdyn_price: decimalString,
  msdyn_amount: decimalString,
  transactioncurrencyid: currencyCode,
  msdyn_documentdate: dateString,
  msdyn_accountingdate: dateString,
  msdyn_project: guid,
  msdyn_salescontract: guid,
  msdyn_salescontractlineid: guid,
  msdyn_accountcustomer: guid,
  msdyn_invoice: guid.optional(),
  msdyn_unbilledactual: guid.optional(),
  msdyn_reversedactual: guid.optional(),
  msdyn_skipsync: z.boolean(),
  // Written back from F&O (domain step 3 and 11).
  msdyn_externalreferenceid: z.string().optional(),
  msdyn_postingdate: dateString.optional(),
  msdyn_accountingcurrency: currencyCode.optional(),
  msdyn_accountingamount: decimalString.optional(),
  msdyn_exchangerate: decimalString.optional(),
  msdyn_salestaxamount: decimalString.optional(),
});
export type Actual = z.infer<typeof actualSchema>;

export const invoiceSchema = z.object({
  invoiceid: guid,
  invoicenumber: z.string().min(1),
  name: z.string(),
  customerid: guid,
  salesorderid: guid,
  transactioncurrencyid: currencyCode,
  msdyn_projectinvoicestatus: invoiceStatus,
  msdyn_invoicedate: dateString,
  totalamount: decimalString,
  totaltax: decimalString,
  msdyn_confirmedon: timestampString.optional(),
  msdyn_customerinvoicenumber: z.string().optional(),
  msdyn_customerinvoicedate: dateString.optional(),
  /** On a corrective invoice: the invoice it corrects (domain.md step 12); absent on ordinary invoices. */
  msdyn_correctedinvoice: guid.optional(),
  /**
   * This project's own column (readers of the contract's columns ignore it): when a confirmation
   * was requested or started. From then on the invoice's details are fenced: no edit is taken
   * until the confirmation finishes, or refuses and lifts it.
   */
  pi_confirmationrequestedon: timestampString.optional(),
});
export type Invoice = z.infer<typeof invoiceSchema>;

export const invoiceLineSchema = z.object({
  invoicedetailid: guid,
  invoiceid: guid,
  salesorderdetailid: guid,
  msdyn_billingmethod: billingMethod,
  extendedamount: decimalString,
  tax: decimalString,
});
export type InvoiceLine = z.infer<typeof invoiceLineSchema>;

export const invoiceLineDetailSchema = z.object({
  msdyn_invoicelinetransactionid: guid,
  msdyn_invoice: guid,
  msdyn_invoicelineid: guid,
  msdyn_salescontractlineid: guid,
  msdyn_project: guid,
  msdyn_transactionclassification: transactionClass,
  msdyn_billingtype: billingType,
  msdyn_quantity: decimalString,
  msdyn_price: decimalString,
  msdyn_amount: decimalString,
  msdyn_tax: decimalString,
  transactioncurrencyid: currencyCode,
  msdyn_documentdate: dateString,
  msdyn_sourceactual: guid.optional(),
  msdyn_milestone: guid.optional(),
  /** On a corrective ILD: the billed sales actual of the corrected invoice it corrects. */
  msdyn_originalbilledactual: guid.optional(),
});
export type InvoiceLineDetail = z.infer<typeof invoiceLineDetailSchema>;

/**
 * A milestone as dvMilestones holds it: partitioned by contract (salesorderid), while a milestone
 * record names only its contract line, so the stored row carries `salesorderid` as one extra field.
 */
export const storedMilestoneSchema = milestoneSchema.extend({ salesorderid: guid });
export type StoredMilestone = z.infer<typeof storedMilestoneSchema>;

/**
 * Which editable invoice holds a backlog item (this project's own table `dvInvoiceClaims`,
 * PartitionKey = contract, RowKey = the actual or milestone id). Created if absent, so two
 * invoices can never hold one item at once; released when the item leaves the invoice, and once
 * the invoice is confirmed.
 */
export const invoiceClaimSchema = z.object({
  ContractId: guid,
  ItemId: guid,
  ItemKind: z.enum(['Actual', 'Milestone']),
  InvoiceId: guid,
  ClaimedOn: timestampString,
});
export type InvoiceClaim = z.infer<typeof invoiceClaimSchema>;

/**
 * Where an approved actual lives (this project's own table `dvApprovalIndex`, PartitionKey = the
 * first hex digit of the actual id, RowKey = the actual id). Written, create-if-absent, before the
 * approval writes its actuals, so that an entry approved before, on whatever contract, is found by
 * key instead of by a query across every contract's partition, and two approvals of one entry on
 * two contracts at once cannot both pass (docs/decisions/proforma-invoices.md, "Approvals").
 */
export const approvalIndexSchema = z.object({
  Bucket: z.string().regex(/^[0-9a-f]$/, { message: 'must be the first hex digit of the actual id' }),
  ActualId: guid,
  ContractId: guid,
  IndexedOn: timestampString,
});
export type ApprovalIndexRow = z.infer<typeof approvalIndexSchema>;

/** The partition of an actual's index row: the first hex digit of its id (16 partitions). */
export function approvalIndexBucket(actualId: string): string {
  return actualId.charAt(0).toLowerCase();
}
