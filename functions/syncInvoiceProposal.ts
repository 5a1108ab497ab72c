import type { CompositionRoot } from '../shared/compositionRoot';
import { invoiceProposalMessage, Queues, referenceOfMessage } from '../shared/messages';
import { queueFunction } from '../shared/triggers/queueMessage';

export const SYNC_INVOICE_PROPOSAL = 'syncInvoiceProposal';

/** Queue `invoice-proposals`: upsert the F&O invoice proposal header of a confirmed invoice. */
export function registerSyncInvoiceProposal(root: CompositionRoot): void {
  queueFunction(SYNC_INVOICE_PROPOSAL, {
    queue: Queues.invoiceProposals,
    schema: invoiceProposalMessage,
    ...root.queueHandling,
    reference: (body) => referenceOfMessage(Queues.invoiceProposals, body),
    handle: async (body, meta) => {
      await root.finance.syncProposal(body, meta.log);
    },
  });
}
