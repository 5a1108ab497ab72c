import { app } from '@azure/functions';
import type { Container } from '../shared/compositionRoot';
import { handleQueueMessage } from '../shared/triggers/queueMessage';
import { invoiceConfirmationMessage, Queues } from '../shared/bridge/messages';
import { confirmProformaInvoice } from '../shared/bridge/confirmProformaInvoice';

export const CONFIRM_PROFORMA_INVOICE = 'confirmProformaInvoice';

/** Queue `invoice-confirmations`: confirm the proforma invoice (domain step 6), then publish the proposal and the new actuals. */
export function registerConfirmProformaInvoice(container: Container): void {
  app.serviceBusQueue(CONFIRM_PROFORMA_INVOICE, {
    connection: 'ServiceBusConnection',
    queueName: Queues.invoiceConfirmations,
    handler: (message, context) =>
      handleQueueMessage({
        source: CONFIRM_PROFORMA_INVOICE,
        message,
        context,
        schema: invoiceConfirmationMessage,
        errorLog: container.errorLog,
        reference: (body) => body.invoiceId,
        handle: async (body, meta) => {
          if (body.confirmedBy !== undefined) meta.log(`confirmation requested by ${body.confirmedBy}`);
          await confirmProformaInvoice(
            { dataverse: container.dataverse, publisher: container.publisher, log: meta.log },
            body,
            { enqueuedAt: meta.enqueuedAt },
          );
        },
      }),
  });
}
