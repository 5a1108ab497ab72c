import type { CompositionRoot } from '../shared/compositionRoot';
import { invoiceConfirmationMessage, Queues, referenceOfMessage } from '../shared/messages';
import { queueFunction } from '../shared/triggers/queueMessage';

export const CONFIRM_PROFORMA_INVOICE = 'confirmProformaInvoice';

/** Queue `invoice-confirmations`: confirm the proforma invoice (domain step 6), then publish the proposal and the new actuals. */
export function registerConfirmProformaInvoice(root: CompositionRoot): void {
  queueFunction(CONFIRM_PROFORMA_INVOICE, {
    queue: Queues.invoiceConfirmations,
    schema: invoiceConfirmationMessage,
    ...root.queueHandling,
    reference: (body) => referenceOfMessage(Queues.invoiceConfirmations, body),
    handle: async (body, meta) => {
      if (body.confirmedBy !== undefined) meta.log(`confirmation requested by ${body.confirmedBy}`);
      await root.bridge.confirm(body, { enqueuedAt: meta.enqueuedAt }, meta.log);
    },
  });
}
