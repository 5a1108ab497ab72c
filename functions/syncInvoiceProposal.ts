import { app } from '@azure/functions';
import type { Container } from '../shared/compositionRoot';
import { handleQueueMessage } from '../shared/triggers/queueMessage';
import { invoiceProposalMessage, Queues } from '../shared/bridge/messages';
import { syncInvoiceProposal } from '../shared/finance/syncInvoiceProposal';

/** Queue `invoice-proposals`: upsert the F&O invoice proposal header of a confirmed invoice. */
export function registerSyncInvoiceProposal(container: Container): void {
  app.serviceBusQueue('syncInvoiceProposal', {
    connection: 'ServiceBusConnection',
    queueName: Queues.invoiceProposals,
    handler: (message, context) =>
      handleQueueMessage({
        source: 'syncInvoiceProposal',
        message,
        context,
        schema: invoiceProposalMessage,
        errorLog: container.errorLog,
        reference: (body) => body.proposalId,
        handle: async (body, meta) => {
          await syncInvoiceProposal({ finance: container.finance }, body, meta.log);
        },
      }),
  });
}
