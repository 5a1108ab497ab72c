import { app } from '@azure/functions';
import type { Container } from '../shared/compositionRoot';
import { handleQueueMessage } from '../shared/triggers/queueMessage';
import { actualsAccountingMessage, Queues } from '../shared/bridge/messages';
import { syncActualsAccounting } from '../shared/bridge/syncActualsAccounting';

export const SYNC_ACTUALS_ACCOUNTING = 'syncActualsAccounting';

/** Queue `actuals-accounting`: accounting details onto the Dataverse actuals; a posted invoice becomes Posted. */
export function registerSyncActualsAccounting(container: Container): void {
  app.serviceBusQueue(SYNC_ACTUALS_ACCOUNTING, {
    connection: 'ServiceBusConnection',
    queueName: Queues.actualsAccounting,
    handler: (message, context) =>
      handleQueueMessage({
        source: SYNC_ACTUALS_ACCOUNTING,
        message,
        context,
        schema: actualsAccountingMessage,
        errorLog: container.errorLog,
        reference: (body) => body.invoice?.customerInvoiceNumber ?? body.details[0]?.voucher,
        handle: async (body, meta) => {
          const result = await syncActualsAccounting({ dataverse: container.dataverse, log: meta.log }, body);
          if (result.invoice) meta.log(`invoice ${body.invoice?.invoiceId ?? '-'}: ${result.invoice}`);
        },
      }),
  });
}
