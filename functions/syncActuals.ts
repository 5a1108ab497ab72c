import type { CompositionRoot } from '../shared/compositionRoot';
import { actualsQueueBody, referenceOfInboundBody } from '../shared/dataverse/inbound/dataverseMessages';
import { dataversePropertiesOf } from '../shared/dataverse/inbound/remoteExecutionContext';
import { Queues } from '../shared/messages';
import { SYNC_ACTUALS } from '../shared/finance/syncActuals';
import { queueFunction } from '../shared/triggers/queueMessage';

/**
 * Queue `actuals`: write each synchronizable actual to F&O actuals staging (bad records logged one
 * by one). The body is the project's `{ actuals: [...] }` or Dataverse's RemoteExecutionContext of a
 * Create or Update of msdyn_actual (docs/dataverse.md), whose actual is synced the same way.
 */
export function registerSyncActuals(root: CompositionRoot): void {
  queueFunction(SYNC_ACTUALS, {
    queue: Queues.actuals,
    schema: actualsQueueBody,
    ...root.queueHandling,
    reference: (body) => referenceOfInboundBody(body),
    handle: async (body, meta) => {
      const records = await root.dataverseInbound.actualsToSync(body, { properties: dataversePropertiesOf(meta.applicationProperties), log: meta.log });
      await root.finance.syncActuals(records, { messageId: meta.messageId, enqueuedAt: meta.enqueuedAt, log: meta.log });
    },
  });
}
