import type { CompositionRoot } from '../shared/compositionRoot';
import { checkProposalId } from '../shared/finance/posting/postingChecks';
import { postingRequestBodySchema } from '../shared/finance/posting/requestPosting';
import { reconcile } from '../shared/finance/rules/import';
import { httpFunction, json, readOptionalJson } from '../shared/triggers/http';

export const POST_FINANCE_PROPOSAL = 'postFinanceProposal';

/** POST api/finance/proposals/{proposalId}/post: the accountant's command; checks, enqueues on proposal-postings, 202. */
export function registerPostFinanceProposal(root: CompositionRoot): void {
  httpFunction(POST_FINANCE_PROPOSAL, {
    route: 'finance/proposals/{proposalId}/post',
    methods: ['POST'],
    authLevel: 'function',
    handler: async (request, context) => {
      const proposalId = checkProposalId(request.params.proposalId ?? '');
      const body = await readOptionalJson(request, postingRequestBodySchema);
      const { messageId, proposal } = await root.finance.requestPosting({ proposalId, ...body });
      context.log(`[${POST_FINANCE_PROPOSAL}] invocation=${context.invocationId} ref=${proposalId} posting requested, messageId=${messageId}`);
      const location = `/api/finance/proposals/${encodeURIComponent(proposalId)}`;
      return json(
        202,
        { proposalId, status: 'PostingRequested', messageId, postingDate: body.postingDate ?? proposal.InvoiceDate, reconciliation: reconcile(proposal), location },
        { location },
      );
    },
  });
}
