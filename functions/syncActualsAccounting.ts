import { app } from '@azure/functions';
import type { Container } from '../shared/container';
import { handleQueueMessage } from '../shared/functions/queueMessage';
import { actualsAccountingMessage, Queues } from '../shared/messaging/schemas';
import { syncActualsAccounting } from '../shared/usecases/syncActualsAccounting';

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
