import type { CompositionRoot } from '../shared/compositionRoot';
import { actualsMessageEnvelope, Queues } from '../shared/messages';
import { SYNC_ACTUALS } from '../shared/finance/syncActuals';
import { queueFunction } from '../shared/triggers/queueMessage';

/** Queue `actuals`: write each synchronizable actual to F&O actuals staging (bad records logged one by one). */
export function registerSyncActuals(root: CompositionRoot): void {
  queueFunction(SYNC_ACTUALS, {
    queue: Queues.actuals,
    schema: actualsMessageEnvelope,
    ...root.queueHandling,
    handle: async (body, meta) => {
      await root.finance.syncActuals(body.actuals, { messageId: meta.messageId, enqueuedAt: meta.enqueuedAt, log: meta.log });
    },
  });
}
