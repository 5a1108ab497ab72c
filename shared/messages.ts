/**
 * The messages between the sides: the contract's queue names, every queue's body (zod), and the
 * Publisher port the use cases send through (the Service Bus adapter: servicebus/publisher.ts).
 * Inbound bodies are exactly contract.md's; the two the project produces itself
 * (invoice-proposals, actuals-accounting) are defined here and documented in the README. Both
 * sides and the bridge depend on this file; it depends on nothing of theirs.
 */
import { z } from 'zod';
import { currencyCode, dateString, decimalString, guid, timestampString } from './core/fields';

export const Queues = {
  invoiceConfirmations: 'invoice-confirmations',
  invoiceProposals: 'invoice-proposals',
  actuals: 'actuals',
  actualsAccounting: 'actuals-accounting',
  proposalPostings: 'proposal-postings',
} as const;
export type QueueName = (typeof Queues)[keyof typeof Queues];

/** Largest number of records one message carries (actuals, accounting details). */
export const MAX_RECORDS_PER_MESSAGE = 100;

// invoice-confirmations (inbound)
export const invoiceConfirmationMessage = z.object({
  invoiceId: guid,
  confirmedOn: timestampString.optional(),
  confirmedBy: z.string().optional(),
});
export type InvoiceConfirmationMessage = z.infer<typeof invoiceConfirmationMessage>;

// proposal-postings (inbound)
export const proposalPostingMessage = z.object({
  proposalId: z.string().min(1),
  postingDate: dateString.optional(),
});
export type ProposalPostingMessage = z.infer<typeof proposalPostingMessage>;

// actuals (inbound from Dataverse; other producers too). Records are validated one by one by
// syncActuals against the Dataverse actual schema (partial batch failure), so the envelope only
// checks the array.
export const actualsMessageEnvelope = z.object({
  actuals: z.array(z.unknown()).min(1).max(MAX_RECORDS_PER_MESSAGE),
});

// invoice-proposals (produced by confirmProformaInvoice)
export const invoiceProposalMessage = z.object({
  proposalId: z.string().min(1), // = invoicenumber
  invoiceId: guid,
  contractId: guid,
  customerId: guid,
  customerAccount: z.string(),
  currencyCode: currencyCode,
  invoiceDate: dateString,
  expectedLineCount: z.number().int().nonnegative(),
  expectedAmount: decimalString,
  expectedTax: decimalString,
  confirmedOn: timestampString,
});
export type InvoiceProposalMessage = z.infer<typeof invoiceProposalMessage>;

// actuals-accounting (produced by importFromStaging and postInvoiceProposal)
export const accountingDetail = z.object({
  actualId: guid,
  contractId: guid,
  voucher: z.string().min(1),
  postingDate: dateString,
  accountingCurrency: currencyCode,
  accountingAmount: decimalString,
  exchangeRate: decimalString,
  salesTaxAmount: decimalString.optional(),
});
export type AccountingDetail = z.infer<typeof accountingDetail>;

export const actualsAccountingMessage = z.object({
  details: z.array(accountingDetail).max(MAX_RECORDS_PER_MESSAGE),
  /** Present when the details come from posting a proposal: the invoice becomes Posted. */
  invoice: z
    .object({
      invoiceId: guid,
      customerInvoiceNumber: z.string().min(1),
      customerInvoiceDate: dateString,
    })
    .optional(),
});
export type ActualsAccountingMessage = z.infer<typeof actualsAccountingMessage>;

/** One message to publish: a deterministic id makes a re-publish harmless (duplicate detection, idempotent consumers). */
export interface OutboundMessage {
  messageId: string;
  body: unknown;
  subject?: string;
  correlationId?: string;
}

/** The port use cases publish through; the Service Bus adapter lives in publisher.ts. */
export interface Publisher {
  publish(queue: QueueName, messages: OutboundMessage[]): Promise<void>;
}
