/**
 * Dataverse option-set values (contract.md, "Option values"). Stored and sent as integers.
 */
export const TransactionType = {
  Cost: 192350000,
  UnbilledSales: 192350005,
  BilledSales: 192350006,
} as const;
export type TransactionType = (typeof TransactionType)[keyof typeof TransactionType];

export const TransactionClass = {
  Time: 192350000,
  Expense: 192350001,
  Material: 192350002,
  Milestone: 192350003,
  Fee: 192350004,
} as const;
export type TransactionClass = (typeof TransactionClass)[keyof typeof TransactionClass];

export const BillingType = {
  NonChargeable: 192350000,
  Chargeable: 192350001,
  Complimentary: 192350002,
  NotAvailable: 192350003,
} as const;
export type BillingType = (typeof BillingType)[keyof typeof BillingType];

export const BillingStatus = {
  UnbilledSalesCreated: 192350000,
  CustomerInvoiceCreated: 192350001,
  CustomerInvoicePosted: 192350002,
  Canceled: 192350003,
  ReadyToInvoice: 192350004,
} as const;
export type BillingStatus = (typeof BillingStatus)[keyof typeof BillingStatus];

export const AdjustmentStatus = {
  Adjusted: 192350001,
  Unadjustable: 192350002,
} as const;
export type AdjustmentStatus = (typeof AdjustmentStatus)[keyof typeof AdjustmentStatus];

export const BillingMethod = {
  TimeAndMaterial: 192350000,
  FixedPrice: 192350001,
} as const;
export type BillingMethod = (typeof BillingMethod)[keyof typeof BillingMethod];

export const InvoiceStatus = {
  Draft: 192350000,
  InReview: 192350001,
  Confirmed: 192350002,
  Paid: 192350003,
  Posted: 192350004,
} as const;
export type InvoiceStatus = (typeof InvoiceStatus)[keyof typeof InvoiceStatus];

export const MilestoneStatus = {
  NotReady: 192350000,
  Ready: 192350001,
  CustomerInvoiceCreated: 192350002,
  CustomerInvoicePosted: 192350003,
} as const;
export type MilestoneStatus = (typeof MilestoneStatus)[keyof typeof MilestoneStatus];

/** Reverse lookup for messages a person reads: `optionName(BillingStatus, 192350004)` -> "ReadyToInvoice". */
export function optionName(set: Record<string, number>, value: number | undefined): string {
  if (value === undefined) return 'none';
  for (const [name, v] of Object.entries(set)) if (v === value) return name;
  return String(value);
}
