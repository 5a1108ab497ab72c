import { app } from '@azure/functions';
import type { Container } from '../shared/container';
import { handleQueueMessage } from '../shared/functions/queueMessage';
import { proposalPostingMessage, Queues } from '../shared/messaging/schemas';
import { postInvoiceProposal } from '../shared/usecases/postInvoiceProposal';

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
