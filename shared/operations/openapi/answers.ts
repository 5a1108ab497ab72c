/**
 * zod schemas of what the routes answer, for the OpenAPI description (document.ts). Request bodies
 * and queries are the schemas the routes validate with, imported where they live; the answers are
 * described here from the records' own schemas (dataverse/records.ts, finance/records.ts, the
 * messages), so a record's fields are described once.
 */
import { z } from 'zod';
import { guid } from '../../core/fields';
import * as dataverse from '../../dataverse/records';
import * as finance from '../../finance/records';
import { invoiceProposalMessage as proposalMessage } from '../../messages';
import { errorRowSchema } from '../errorLogStore';

// The records, named once as components (their uses become $refs).
const actualSchema = dataverse.actualSchema.meta({ id: 'Actual', description: 'a Dataverse actual (dvActuals)' });
const invoiceSchema = dataverse.invoiceSchema.meta({ id: 'Invoice', description: 'a proforma invoice header (dvInvoices)' });
const invoiceLineSchema = dataverse.invoiceLineSchema.meta({ id: 'InvoiceLine', description: 'an invoice line (dvInvoiceLines)' });
const invoiceLineDetailSchema = dataverse.invoiceLineDetailSchema.meta({ id: 'InvoiceLineDetail', description: 'an invoice line detail, ILD (dvInvoiceLineDetails)' });
const milestoneSchema = dataverse.milestoneSchema;
const proposalSchema = finance.proposalSchema.meta({ id: 'Proposal', description: 'an F&O invoice proposal header (foProposals)' });
const proposalLineSchema = finance.proposalLineSchema.meta({ id: 'ProposalLine', description: 'an F&O invoice proposal line (foProposalLines)' });
const invoiceProposalMessage = proposalMessage.meta({ id: 'InvoiceProposalMessage', description: 'the body on queue invoice-proposals' });

/** RFC 9457 problem details, as every refusal and failure is answered. */
export const problemSchema = z.object({
  type: z.string().describe('always about:blank'),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().describe('what went wrong and what to do, for a person'),
  reference: z.string().optional().describe('the business key the problem is about (an invoice number, an error id)'),
}).meta({ id: 'Problem', description: 'RFC 9457 problem details (application/problem+json)' });

export const invoiceViewSchema = z.object({
  invoice: invoiceSchema,
  lines: z.array(invoiceLineSchema),
  details: z.array(invoiceLineDetailSchema),
});

export const detailEditSchema = invoiceViewSchema.extend({ detail: invoiceLineDetailSchema });
export const detailAddSchema = detailEditSchema.extend({ created: z.boolean() });
export const correctionAnswerSchema = invoiceViewSchema.extend({ invoiceId: guid, invoicenumber: z.string(), correctedInvoiceId: guid });

export const approvalAnswerSchema = z.object({
  entries: z.array(
    z.object({ entryId: z.string(), contractId: guid, contractLineId: guid, costActualId: guid, unbilledActualId: guid.optional(), description: z.string().optional() }),
  ),
  actuals: z.array(actualSchema),
  created: z.number().int(),
  messageIds: z.array(z.string()),
});

export const readyAnswerSchema = z.object({
  ready: z.boolean(),
  actuals: z.array(z.object({ actualId: guid, contractId: guid, billingStatus: z.number().int(), changed: z.boolean() })),
  milestones: z.array(z.object({ milestoneId: guid, contractId: guid, invoiceStatus: z.number().int(), changed: z.boolean() })),
});

export const confirmAnswerSchema = z.object({
  invoiceId: guid,
  invoicenumber: z.string(),
  status: z.enum(['Queued', 'AlreadyConfirmed']),
  messageId: z.string().optional(),
  trace: z.string().describe('the trace route to follow the confirmation'),
});

export const republishAnswerSchema = z.object({
  invoiceId: guid,
  invoiceNumber: z.string(),
  invoiceStatus: z.string(),
  status: z.literal('Republished'),
  proposal: z.object({ queue: z.literal('invoice-proposals'), messageId: z.string() }),
  actuals: z.object({ queue: z.literal('actuals'), messages: z.number().int(), records: z.number().int(), messageIds: z.array(z.string()) }),
  trace: z.string(),
});

export const webhookAnswerSchema = z.object({
  status: z.enum(['Queued', 'Ignored']),
  queue: z.string().optional(),
  messageId: z.string().optional(),
  reference: z.string(),
  detail: z.string(),
});

const proposalReconciliationSchema = z.object({
  proposalId: z.string(),
  expectedLineCount: z.number().int(),
  importedLineCount: z.number().int(),
  missingLineCount: z.number().int(),
  expectedAmount: z.string(),
  importedAmount: z.string(),
  missingAmount: z.string(),
  taxChecked: z.boolean(),
  expectedTax: z.string().optional(),
  importedTax: z.string().optional(),
  missingTax: z.string().optional(),
  complete: z.boolean(),
});

const relatedProposalSchema = z.object({
  proposalId: z.string(),
  status: z.enum(['Open', 'Posted']).optional(),
  invoiceId: guid.optional(),
  customerInvoiceId: z.string().optional(),
  expectedAmount: z.string().optional(),
  expectedTax: z.string().optional(),
});

export const proposalListSchema = z.object({
  count: z.number().int(),
  proposals: z.array(proposalSchema.extend({ kind: z.enum(['Invoice', 'Credit']), reconciliation: proposalReconciliationSchema })),
});

export const proposalViewSchema = z.object({
  proposal: proposalSchema,
  kind: z.enum(['Invoice', 'Credit']),
  reconciliation: proposalReconciliationSchema,
  corrects: relatedProposalSchema.optional(),
  correctedBy: z.array(relatedProposalSchema),
  lines: z.array(proposalLineSchema),
  notImported: z.array(z.object({ ActualId: guid, ImportStatus: z.string(), ImportMessage: z.string().optional(), Amount: z.string() })),
});

export const postingAnswerSchema = z.object({
  proposalId: z.string(),
  status: z.literal('PostingRequested'),
  messageId: z.string(),
  postingDate: z.string(),
  reconciliation: proposalReconciliationSchema,
  location: z.string(),
});

export const accountingRepublishAnswerSchema = z.object({
  proposalId: z.string(),
  invoiceId: guid,
  customerInvoiceId: z.string(),
  voucher: z.string(),
  postingDate: z.string(),
  status: z.literal('Republished'),
  accounting: z.object({ queue: z.literal('actuals-accounting'), messages: z.number().int(), details: z.number().int(), messageIds: z.array(z.string()) }),
});

const reconciliationRowSchema = z.object({
  actualId: guid,
  classification: z.string(),
  quantity: z.string(),
  dataverseAmount: z.string(),
  financeAmount: z.string().optional(),
  dataverseTax: z.string(),
  financeTax: z.string().optional(),
  importStatus: z.string().optional(),
  voucher: z.string().optional(),
  state: z.enum(['Matched', 'Missing', 'Different']),
  note: z.string().optional(),
});

export const traceSchema = z.object({
  invoiceId: guid,
  invoicenumber: z.string(),
  contractId: guid,
  currency: z.string(),
  invoiceStatus: z.string(),
  stage: z.enum(['invoice', 'confirmed', 'headerSynced', 'actualsStaged', 'linesImported', 'posted', 'accountingBack']),
  steps: z.array(
    z.object({
      step: z.enum(['invoice', 'confirmed', 'headerSynced', 'actualsStaged', 'linesImported', 'posted', 'accountingBack']),
      state: z.enum(['done', 'pending', 'waiting', 'error']),
      at: z.string().optional(),
      detail: z.string(),
    }),
  ),
  staging: z.object({
    counts: z.record(z.string(), z.number().int()),
    notImported: z.array(z.object({ actualId: guid, transType: z.string(), importStatus: z.string(), importMessage: z.string().optional() })),
  }),
  reconciliation: z.object({
    status: z.enum(['Matched', 'Incomplete', 'Mismatch', 'NotConfirmed']),
    dataverse: z.object({ invoiceTotal: z.string(), invoiceTax: z.string(), billedActuals: z.number().int(), billedAmount: z.string(), billedTax: z.string() }),
    finance: z.object({
      proposalId: z.string().optional(),
      proposalStatus: z.string().optional(),
      expectedLineCount: z.number().int().optional(),
      expectedAmount: z.string().optional(),
      expectedTax: z.string().optional(),
      importedLineCount: z.number().int().optional(),
      importedAmount: z.string().optional(),
      importedTax: z.string().optional(),
      correctedProposalId: z.string().optional(),
      lines: z.number().int(),
      linesAmount: z.string(),
      linesTax: z.string(),
      customerInvoice: z
        .object({
          id: z.string(),
          invoiceAmount: z.string(),
          salesTaxAmount: z.string(),
          totalAmount: z.string(),
          accountingAmount: z.string(),
          voucher: z.string(),
          correctedInvoiceId: z.string().optional(),
        })
        .optional(),
    }),
    rows: z.array(reconciliationRowSchema),
    missingInFinance: z.array(z.object({ actualId: guid, amount: z.string(), reason: z.string() })),
    unexpectedInFinance: z.array(z.object({ lineId: z.string(), amount: z.string() })),
    differences: z.array(z.object({ actualId: guid, field: z.string(), dataverse: z.string(), finance: z.string() })),
    problems: z.array(z.string()),
  }),
  errors: z.array(z.object({ Source: z.string(), Category: z.string(), Message: z.string(), OccurredAt: z.string(), Reference: z.string().optional(), MessageId: z.string().optional() })),
});

/** An error row as the routes answer it: every column but the kept body (Body0..). */
export const errorViewSchema = z.object(Object.fromEntries(Object.entries(errorRowSchema.shape).filter(([k]) => !/^Body\d+$/.test(k)))).meta({ id: 'ErrorRow', description: 'an integrationErrors row (without its kept body)' });

export const errorsPageSchema = z.object({
  count: z.number().int(),
  errors: z.array(errorViewSchema),
  continuationToken: z.string().optional().describe('send it back as continuationToken for the next page; absent on the last page'),
});

export const replayAnswerSchema = z.object({
  errorId: z.string(),
  queue: z.string(),
  messageId: z.string(),
  replayCount: z.number().int(),
  error: errorViewSchema,
});

export const replayManyAnswerSchema = z.object({
  replayed: z.array(z.object({ errorId: z.string(), queue: z.string(), messageId: z.string(), replayCount: z.number().int() })),
  refused: z.array(z.object({ errorId: z.string(), reason: z.string() })),
  more: z.boolean(),
  stoppedBy: z.string().optional(),
});

/** GET health: up or down, nothing about the parts. */
export const healthSchema = z.object({ status: z.enum(['Healthy', 'Unhealthy']) });

/** GET health/details: every probe, how each connection authenticates and where it points (never a key). */
export const healthDetailsSchema = z.object({
  status: z.enum(['Healthy', 'Unhealthy']),
  version: z.string(),
  checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string(), ms: z.number(), auth: z.string().optional() })),
  connections: z.array(z.object({ name: z.string(), auth: z.string(), target: z.string() })).optional(),
});

export const dashboardSchema = z.object({
  invoices: z.record(z.string(), z.number().int()).describe('invoices per status label'),
  backlog: z.object({ readyActuals: z.number().int() }),
  proposals: z.record(z.string(), z.number().int()),
  staging: z.record(z.string(), z.number().int()),
  errors: z.object({ open: z.number().int(), bySource: z.record(z.string(), z.number().int()) }),
});

export const previewSchema = z.object({
  invoiceId: guid,
  invoicenumber: z.string(),
  invoiceStatus: z.string(),
  outcome: z.enum(['Confirmable', 'Refused', 'AlreadyConfirmed', 'NotConfirmable']),
  refusals: z.array(z.object({ code: z.string(), reason: z.string(), detailId: guid.optional() })),
  writesNothing: z.literal(true),
  previewedAt: z.string(),
  plan: z
    .object({
      invoice: invoiceSchema,
      lines: z.array(invoiceLineSchema),
      newActuals: z.array(z.object({ detailId: guid.optional(), role: z.string().optional(), kind: z.string(), synced: z.boolean(), actual: actualSchema })),
      updatedActuals: z.array(actualSchema),
      updatedMilestones: z.array(milestoneSchema.extend({ salesorderid: guid.optional() })),
      proposal: invoiceProposalMessage,
      counts: z.object({
        newActuals: z.number().int(),
        billed: z.number().int(),
        reversals: z.number().int(),
        synced: z.number().int(),
        updatedActuals: z.number().int(),
        updatedMilestones: z.number().int(),
        lines: z.number().int(),
      }),
    })
    .optional()
    .describe('present when the outcome is Confirmable: exactly what the confirmation would write and send'),
});

/** The OpenAPI document itself (described loosely: it is the standard's). */
export const openApiDocumentSchema = z.looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.looseObject({}) });
