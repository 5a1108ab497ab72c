import { app } from '@azure/functions';
import type { Container } from '../shared/compositionRoot';
import { handleQueueMessage } from '../shared/triggers/queueMessage';
import { actualsMessageEnvelope, Queues } from '../shared/bridge/messages';
import { SYNC_ACTUALS, syncActuals } from '../shared/finance/syncActuals';

/** Queue `actuals`: write each synchronizable actual to F&O actuals staging (bad records logged one by one). */
export function registerSyncActuals(container: Container): void {
  app.serviceBusQueue(SYNC_ACTUALS, {
    connection: 'ServiceBusConnection',
    queueName: Queues.actuals,
    handler: (message, context) =>
      handleQueueMessage({
        source: SYNC_ACTUALS,
        message,
        context,
        schema: actualsMessageEnvelope,
        errorLog: container.errorLog,
        handle: async (body, meta) => {
          await syncActuals(
            { staging: container.finance.staging, work: container.work, errorLog: container.errorLog },
            body.actuals,
            { messageId: meta.messageId, enqueuedAt: meta.enqueuedAt, log: meta.log },
          );
        },
      }),
  });
}
