import type { CompositionRoot } from '../shared/compositionRoot';
import { invoiceConfirmationsQueueBody, referenceOfInboundBody } from '../shared/dataverse/inbound/dataverseMessages';
import { dataversePropertiesOf } from '../shared/dataverse/inbound/remoteExecutionContext';
import { Queues } from '../shared/messages';
import { queueFunction } from '../shared/triggers/queueMessage';

export const CONFIRM_PROFORMA_INVOICE = 'confirmProformaInvoice';

/**
 * Queue `invoice-confirmations`: confirm the proforma invoice (domain step 6), then publish the
 * proposal and the new actuals. The body is the project's `{ invoiceId, ... }` or Dataverse's
 * RemoteExecutionContext of an Update of invoice to Confirmed or the action msdyn_ConfirmInvoice
 * (docs/dataverse.md), which confirms the same way.
 */
export function registerConfirmProformaInvoice(root: CompositionRoot): void {
  queueFunction(CONFIRM_PROFORMA_INVOICE, {
    queue: Queues.invoiceConfirmations,
    schema: invoiceConfirmationsQueueBody,
    ...root.queueHandling,
    reference: (body) => referenceOfInboundBody(body, (own) => own.invoiceId),
    handle: async (body, meta) => {
      const message = root.dataverseInbound.confirmationToRun(body, { properties: dataversePropertiesOf(meta.applicationProperties), log: meta.log });
      if (message === undefined) return;
      if (message.confirmedBy !== undefined) meta.log(`confirmation requested by ${message.confirmedBy}`);
      await root.bridge.confirm(message, { enqueuedAt: meta.enqueuedAt }, meta.log);
    },
  });
}
