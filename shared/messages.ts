/**
 * The messages between the sides: the contract's queue names, every queue's body (zod), and the
 * Publisher port the use cases send through (the Service Bus adapter: servicebus/publisher.ts).
 * Inbound bodies are exactly contract.md's; the two the project produces itself
 * (invoice-proposals, actuals-accounting) are defined here and documented in the README. Both
 * sides and the bridge depend on this file; it depends on nothing of theirs.
 */
import { z } from 'zod';
import { amountString, currencyCode, dateString, decimalString, guid, timestampString } from './core/fields';

/**
 * A proposal id: the invoice number (PI-000001), used as a table key on the F&O side, so at most
 * 200 characters and none of / \ # ? or control characters.
 */
export const proposalIdText = z
  .string()
  .min(1)
  .max(200, { message: 'must be at most 200 characters (an invoice number such as PI-000001)' })
  .regex(/^[^/\\#?\u0000-\u001f\u007f-\u009f]+$/, { message: 'may not hold / \\ # ? or control characters (it is a table key)' });

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
  proposalId: proposalIdText,
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
  proposalId: proposalIdText, // = invoicenumber
  invoiceId: guid,
  contractId: guid,
  customerId: guid,
  customerAccount: z.string(),
  currencyCode: currencyCode,
  invoiceDate: dateString,
  expectedLineCount: z.number().int().nonnegative(),
  expectedAmount: amountString,
  expectedTax: amountString,
  confirmedOn: timestampString,
  /**
   * Present only on a corrective invoice's header (domain.md step 12), both or neither: the
   * Dataverse invoice it corrects and that invoice's invoicenumber (the proposal it corrects). The
   * header then becomes a credit proposal; its expectedAmount and expectedTax are the corrective
   * invoice's totals (negative for a credit, 0.00 when the correction keeps everything).
   */
  correctedInvoiceId: guid.optional(),
  correctedProposalId: proposalIdText.optional(),
}).superRefine((m, ctx) => {
  if ((m.correctedInvoiceId === undefined) !== (m.correctedProposalId === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: [m.correctedInvoiceId === undefined ? 'correctedInvoiceId' : 'correctedProposalId'],
      message: 'a corrective header carries both correctedInvoiceId and correctedProposalId (or neither)',
    });
  }
  if (m.correctedProposalId !== undefined && m.correctedProposalId === m.proposalId) {
    ctx.addIssue({ code: 'custom', path: ['correctedProposalId'], message: `a proposal cannot correct itself (${m.proposalId})` });
  }
  if (m.correctedInvoiceId !== undefined && m.correctedInvoiceId === m.invoiceId) {
    ctx.addIssue({ code: 'custom', path: ['correctedInvoiceId'], message: `an invoice cannot correct itself (${m.invoiceId})` });
  }
});
export type InvoiceProposalMessage = z.infer<typeof invoiceProposalMessage>;

// actuals-accounting (produced by importFromStaging and postInvoiceProposal)
export const accountingDetail = z.object({
  actualId: guid,
  contractId: guid,
  voucher: z.string().min(1),
  postingDate: dateString,
  accountingCurrency: currencyCode,
  accountingAmount: amountString,
  exchangeRate: decimalString,
  salesTaxAmount: amountString.optional(),
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
  /** Application properties (e.g. `ReplayOf`: the error row a replayed message repairs). */
  properties?: Record<string, string | number | boolean>;
}

/**
 * The id of a republished message: the original id and the time of the republish
 * (`proposal-<invoice>~r20260315T101500123Z`). Different from the original and from any earlier
 * republish, so duplicate detection lets it through; the same for every message of one republish.
 */
export function republishedMessageId(originalId: string, at: Date): string {
  return `${originalId}~r${at.toISOString().replace(/[-:.]/g, '')}`;
}

/** The messages with republish ids, bodies untouched. */
export function asRepublished(messages: readonly OutboundMessage[], at: Date): OutboundMessage[] {
  return messages.map((m) => ({ ...m, messageId: republishedMessageId(m.messageId, at) }));
}

/** The function that consumes each contract queue (contract.md, "Functions, queues and messages"). */
export const ConsumerOfQueue: Readonly<Record<QueueName, string>> = {
  'invoice-confirmations': 'confirmProformaInvoice',
  'invoice-proposals': 'syncInvoiceProposal',
  actuals: 'syncActuals',
  'proposal-postings': 'postInvoiceProposal',
  'actuals-accounting': 'syncActualsAccounting',
};

/** The contract queue a function consumes, when it consumes one. */
export function queueConsumedBy(functionName: string): QueueName | undefined {
  return (Object.keys(ConsumerOfQueue) as QueueName[]).find((q) => ConsumerOfQueue[q] === functionName);
}

/**
 * What an error row of a queue's message is about (its Reference: an invoice id, a proposal id, an
 * invoice number or voucher), read from a body that may be malformed; undefined when it says nothing.
 */
export function referenceOfMessage(queue: QueueName, body: unknown): string | undefined {
  switch (queue) {
    case 'invoice-confirmations': {
      const parsed = invoiceConfirmationMessage.safeParse(body);
      return parsed.success ? parsed.data.invoiceId : primaryEntityIdOf(body);
    }
    case 'invoice-proposals': {
      const parsed = invoiceProposalMessage.safeParse(body);
      return parsed.success ? parsed.data.proposalId : undefined;
    }
    case 'proposal-postings': {
      const parsed = proposalPostingMessage.safeParse(body);
      return parsed.success ? parsed.data.proposalId : undefined;
    }
    case 'actuals-accounting': {
      const parsed = actualsAccountingMessage.safeParse(body);
      return parsed.success ? (parsed.data.invoice?.customerInvoiceNumber ?? parsed.data.details[0]?.voucher) : undefined;
    }
    case 'actuals':
      return primaryEntityIdOf(body);
  }
}

/** The PrimaryEntityId of a Dataverse RemoteExecutionContext, which `actuals` and `invoice-confirmations` also take. */
function primaryEntityIdOf(body: unknown): string | undefined {
  const parsed = z.object({ PrimaryEntityId: guid }).safeParse(body);
  return parsed.success ? parsed.data.PrimaryEntityId : undefined;
}

/** The port use cases publish through; the Service Bus adapter lives in publisher.ts. */
export interface Publisher {
  publish(queue: QueueName, messages: OutboundMessage[]): Promise<void>;
}
