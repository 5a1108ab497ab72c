import { app } from '@azure/functions';
import type { Container } from '../shared/compositionRoot';
import { handleQueueMessage } from '../shared/triggers/queueMessage';
import { proposalPostingMessage, Queues } from '../shared/bridge/messages';
import { postInvoiceProposal } from '../shared/finance/posting/postInvoiceProposal';

export const POST_INVOICE_PROPOSAL = 'postInvoiceProposal';

/** Queue `proposal-postings`: post a complete invoice proposal (domain step 10). */
export function registerPostInvoiceProposal(container: Container): void {
  app.serviceBusQueue(POST_INVOICE_PROPOSAL, {
    connection: 'ServiceBusConnection',
    queueName: Queues.proposalPostings,
    handler: (message, context) =>
      handleQueueMessage({
        source: POST_INVOICE_PROPOSAL,
        message,
        context,
        schema: proposalPostingMessage,
        errorLog: container.errorLog,
        reference: (body) => body.proposalId,
        handle: async (body, meta) => {
          const result = await postInvoiceProposal(
            {
              finance: container.finance,
              sequences: container.sequences,
              publisher: container.publisher,
              accountingCurrency: container.settings.AccountingCurrency,
              log: meta.log,
            },
            { ...body, ...(meta.messageId !== undefined ? { requestId: meta.messageId } : {}) },
          );
          meta.log(`${result.outcome}: customer invoice ${result.customerInvoiceId}, voucher ${result.voucher}, posting date ${result.postingDate}`);
        },
      }),
  });
}
