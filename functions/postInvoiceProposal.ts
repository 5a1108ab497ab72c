import type { CompositionRoot } from '../shared/compositionRoot';
import { proposalPostingMessage, Queues, referenceOfMessage } from '../shared/messages';
import { queueFunction } from '../shared/triggers/queueMessage';

export const POST_INVOICE_PROPOSAL = 'postInvoiceProposal';

/** Queue `proposal-postings`: post a complete invoice proposal (domain step 10). */
export function registerPostInvoiceProposal(root: CompositionRoot): void {
  queueFunction(POST_INVOICE_PROPOSAL, {
    queue: Queues.proposalPostings,
    schema: proposalPostingMessage,
    ...root.queueHandling,
    reference: (body) => referenceOfMessage(Queues.proposalPostings, body),
    handle: async (body, meta) => {
      const result = await root.finance.post({ ...body, ...(meta.messageId !== undefined ? { requestId: meta.messageId } : {}) }, meta.log);
      meta.log(`${result.outcome}: customer invoice ${result.customerInvoiceId}, voucher ${result.voucher}, posting date ${result.postingDate}`);
    },
  });
}
