/**
 * F&O records (contract.md, "F&O side"). Field names are F&O's, unchanged.
 */
import { z } from 'zod';
import { currencyCode, dateString, decimalString, guid, timestampString } from '../core/fields';

export const ProposalStatus = { Open: 'Open', Posted: 'Posted' } as const;
export const ImportStatus = { Pending: 'Pending', Waiting: 'Waiting', Imported: 'Imported', Error: 'Error' } as const;

export const stagingTransType = z.enum(['Cost', 'UnbilledSales', 'BilledSales']);
export type StagingTransType = z.infer<typeof stagingTransType>;
export const stagingClassification = z.enum(['Time', 'Expense', 'Material', 'Milestone', 'Fee']);
export type StagingClassification = z.infer<typeof stagingClassification>;
export const lineProperty = z.enum(['Chargeable', 'NonChargeable', 'Complimentary', 'NotAvailable']);
export type LineProperty = z.infer<typeof lineProperty>;
export const proposalTransType = z.enum(['Hour', 'Expense', 'Item', 'Fee', 'OnAccount']);
export type ProposalTransType = z.infer<typeof proposalTransType>;
export const stagingAdjustmentStatus = z.enum(['Adjusted', 'Unadjustable']);
export const importStatus = z.enum(['Pending', 'Waiting', 'Imported', 'Error']);
export type ImportStatusValue = z.infer<typeof importStatus>;

export const proposalSchema = z.object({
  ProposalId: z.string().min(1),
  InvoiceId: guid,
  ContractId: guid,
  CustomerAccount: z.string(),
  CurrencyCode: currencyCode,
  InvoiceDate: dateString,
  ExpectedLineCount: z.number().int().nonnegative(),
  ExpectedAmount: decimalString,
  ImportedLineCount: z.number().int().nonnegative(),
  ImportedAmount: decimalString,
  /**
   * The header's expected sales tax (the invoice's totaltax). Absent on proposals stored before
   * tax was reconciled: their tax is then not checked (rules/completeness.ts).
   */
  ExpectedTax: decimalString.optional(),
  /** Sum of the stored lines' SalesTaxAmount, kept with ImportedAmount (absent on proposals stored before). */
  ImportedTax: decimalString.optional(),
  Status: z.enum(['Open', 'Posted']),
  CustomerInvoiceId: z.string().optional(),
  Voucher: z.string().optional(),
  PostedOn: timestampString.optional(),
  /**
   * A credit proposal (the header of a corrective invoice, domain.md step 12): the proposal it
   * corrects (that invoice's number) and the Dataverse invoice it corrects. Absent on ordinary proposals.
   */
  CorrectedProposalId: z.string().min(1).optional(),
  CorrectedInvoiceId: guid.optional(),
});
export type Proposal = z.infer<typeof proposalSchema>;

export const proposalLineSchema = z.object({
  ProposalId: z.string().min(1),
  LineId: guid,
  ActualId: guid,
  UnbilledActualId: guid.optional(),
  ProjectId: guid,
  ContractLineId: guid,
  TransType: proposalTransType,
  LineProperty: lineProperty,
  Quantity: decimalString,
  SalesPrice: decimalString,
  LineAmount: decimalString,
  SalesTaxAmount: decimalString,
  CurrencyCode: currencyCode,
  /**
   * On a line of a credit proposal that reverses a billed actual (a billed sales reversal): the
   * billed actual it reverses. Its UnbilledActualId names the transaction the credit note credits.
   */
  ReversedActualId: guid.optional(),
});
export type ProposalLine = z.infer<typeof proposalLineSchema>;

export const stagingRowSchema = z.object({
  ActualId: guid,
  TransType: stagingTransType,
  TransactionClassification: stagingClassification,
  BillingType: lineProperty,
  AdjustmentStatus: stagingAdjustmentStatus.optional(),
  Quantity: decimalString,
  UnitPrice: decimalString,
  Amount: decimalString,
  TransactionCurrencyId: currencyCode,
  AccountingDate: dateString,
  DocumentDate: dateString,
  ContractId: guid,
  ContractLineId: guid,
  ProjectId: guid,
  InvoiceId: guid.optional(),
  InvoiceProposalId: z.string().optional(),
  UnbilledActualId: guid.optional(),
  ReversedActualId: guid.optional(),
  ImportStatus: importStatus,
  ImportMessage: z.string().optional(),
  ImportedOn: timestampString.optional(),
  VoucherNumber: z.string().optional(),
  PostingDate: dateString.optional(),
  AccountingCurrency: currencyCode.optional(),
  AccountingAmount: decimalString.optional(),
  ExchangeRate: decimalString.optional(),
  SalesTaxAmount: decimalString.optional(),
});
export type StagingRow = z.infer<typeof stagingRowSchema>;

export const projectTransactionSchema = z.object({
  TransId: guid,
  ProjectId: guid,
  ContractId: guid,
  TransType: z.enum(['Cost', 'UnbilledSales']),
  Classification: stagingClassification,
  Quantity: decimalString,
  Amount: decimalString,
  CurrencyCode: currencyCode,
  AccountingAmount: decimalString,
  Voucher: z.string(),
  PostingDate: dateString,
  FullyInvoiced: z.boolean(),
  /** The customer invoice that invoices it now (absent while not invoiced, and once a credit note credited it). */
  CustomerInvoiceId: z.string().optional(),
  /** Once a credit note credited it: the credit note, and the customer invoice it was credited from (docs/decisions/credit-notes.md). */
  CreditNoteId: z.string().optional(),
  CreditedInvoiceId: z.string().optional(),
});
export type ProjectTransaction = z.infer<typeof projectTransactionSchema>;

export const customerInvoiceSchema = z.object({
  InvoiceId: z.string().min(1),
  ProposalId: z.string().min(1),
  CustomerAccount: z.string(),
  InvoiceDate: dateString,
  CurrencyCode: currencyCode,
  InvoiceAmount: decimalString,
  SalesTaxAmount: decimalString,
  TotalAmount: decimalString,
  AccountingAmount: decimalString,
  Voucher: z.string(),
  /** On a credit note (a posted credit proposal): the customer invoice it credits and that invoice's proposal. */
  CorrectedInvoiceId: z.string().optional(),
  CorrectedProposalId: z.string().optional(),
});
export type CustomerInvoice = z.infer<typeof customerInvoiceSchema>;

export const mainAccount = z.enum([
  'ProjectCost',
  'CostOffset',
  'WIPSalesValue',
  'AccruedRevenue',
  'CustomerBalance',
  'Revenue',
  'SalesTaxPayable',
]);
export type MainAccount = z.infer<typeof mainAccount>;

export const ledgerEntrySchema = z.object({
  Voucher: z.string().min(1),
  LineNumber: z.number().int().positive(),
  MainAccount: mainAccount,
  Amount: decimalString,
  PostingDate: dateString,
  ProjectId: z.string().optional(),
  Reference: z.string().optional(),
  Text: z.string().optional(),
});
export type LedgerEntry = z.infer<typeof ledgerEntrySchema>;

export const exchangeRateSchema = z.object({
  FromCurrency: currencyCode,
  ToCurrency: currencyCode,
  Rate: decimalString,
  ValidFrom: dateString,
});
export type ExchangeRate = z.infer<typeof exchangeRateSchema>;
