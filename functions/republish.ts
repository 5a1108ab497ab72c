import type { CompositionRoot } from '../shared/compositionRoot';
import { guidParam, httpFunction, json } from '../shared/triggers/http';

export const REPUBLISH_INVOICE_CONFIRMATION = 'republishInvoiceConfirmation';
export const REPUBLISH_PROPOSAL_ACCOUNTING = 'republishProposalAccounting';

/**
 * The repair routes (docs/decisions/repair.md): re-send what a confirmation or a posting published,
 * same bodies under new message ids. 202 with what was sent; 404 unknown; 409 when there is nothing
 * to republish yet (a Draft invoice, an open proposal).
 */
export function registerRepublish(root: CompositionRoot): void {
  httpFunction(REPUBLISH_INVOICE_CONFIRMATION, {
    route: 'dataverse/invoices/{invoiceId}/republish',
    methods: ['POST'],
    authLevel: 'function',
    handler: async (request, context) => {
      const invoiceId = guidParam(request, 'invoiceId');
      const log = (line: string) => context.log(`[${REPUBLISH_INVOICE_CONFIRMATION}] invocation=${context.invocationId} ref=${invoiceId} ${line}`);
      const sent = await root.repair.republishConfirmation(invoiceId, log);
      const trace = `/api/invoices/${invoiceId}/trace`;
      return json(
        202,
        {
          invoiceId: sent.invoiceId,
          invoiceNumber: sent.invoiceNumber,
          invoiceStatus: sent.status,
          status: 'Republished',
          proposal: { queue: 'invoice-proposals', messageId: sent.proposalMessageId },
          actuals: { queue: 'actuals', messages: sent.actualsMessageIds.length, records: sent.actuals, messageIds: sent.actualsMessageIds },
          trace,
        },
        { location: trace },
      );
    },
  });

  httpFunction(REPUBLISH_PROPOSAL_ACCOUNTING, {
    route: 'finance/proposals/{proposalId}/republish-accounting',
    methods: ['POST'],
    authLevel: 'function',
    handler: async (request, context) => {
      const proposalId = request.params.proposalId ?? '';
      const log = (line: string) => context.log(`[${REPUBLISH_PROPOSAL_ACCOUNTING}] invocation=${context.invocationId} ref=${proposalId} ${line}`);
      const sent = await root.repair.republishAccounting(proposalId, log);
      const location = `/api/finance/proposals/${encodeURIComponent(sent.proposalId)}`;
      return json(
        202,
        {
          proposalId: sent.proposalId,
          invoiceId: sent.invoiceId,
          customerInvoiceId: sent.customerInvoiceId,
          voucher: sent.voucher,
          postingDate: sent.postingDate,
          status: 'Republished',
          accounting: { queue: 'actuals-accounting', messages: sent.messageIds.length, details: sent.details, messageIds: sent.messageIds },
        },
        { location },
      );
    },
  });
}
