import type { CompositionRoot } from '../shared/compositionRoot';
import { actualsAccountingMessage, Queues, referenceOfMessage } from '../shared/messages';
import { queueFunction } from '../shared/triggers/queueMessage';

export const SYNC_ACTUALS_ACCOUNTING = 'syncActualsAccounting';

/** Queue `actuals-accounting`: accounting details onto the Dataverse actuals; a posted invoice becomes Posted. */
export function registerSyncActualsAccounting(root: CompositionRoot): void {
  queueFunction(SYNC_ACTUALS_ACCOUNTING, {
    queue: Queues.actualsAccounting,
    schema: actualsAccountingMessage,
    ...root.queueHandling,
    reference: (body) => referenceOfMessage(Queues.actualsAccounting, body),
    handle: async (body, meta) => {
      const result = await root.bridge.accountingBack(body, meta.log);
      if (result.invoice) meta.log(`invoice ${body.invoice?.invoiceId ?? '-'}: ${result.invoice}`);
    },
  });
}
