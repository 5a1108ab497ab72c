/**
 * `POST finance/proposals/{proposalId}/post`, the accountant's command: refuse an unknown (404),
 * posted or incomplete (409) proposal, and a credit proposal whose corrected proposal is not
 * posted yet (409, naming it), else enqueue `{ proposalId, postingDate? }` on
 * `proposal-postings` with the deterministic message id `postingRequestId(proposalId,
 * postingDate)`: the same request sent twice is one posting request. The posting itself runs on
 * the queue (postInvoiceProposal.ts).
 */
import { z } from 'zod';
import { dateString } from '../../core/fields';
import { Queues, type ProposalPostingMessage, type Publisher } from '../../messages';
import { withoutEtag } from '../../core/stored';
import type { TableStore } from '../../storage/tableStore';
import type { Proposal } from '../records';
import { assertPostable, checkProposalId, postingRequestId } from './postingChecks';

/** The route's body, optional: empty means "post on the proposal's invoice date". */
export const postingRequestBodySchema = z.object({ postingDate: dateString.optional() }).strict();

export interface RequestPostingDeps {
  finance: { proposals: Pick<TableStore<Proposal>, 'get'> };
  publisher: Publisher;
}

export async function requestProposalPosting(
  deps: RequestPostingDeps,
  request: ProposalPostingMessage,
): Promise<{ messageId: string; proposal: Proposal }> {
  const proposalId = checkProposalId(request.proposalId);
  const stored = await deps.finance.proposals.get(proposalId, proposalId);
  const proposal = stored ? withoutEtag(stored) : undefined;
  const correctedId = proposal?.CorrectedProposalId;
  const corrected = correctedId === undefined ? undefined : await deps.finance.proposals.get(correctedId, correctedId);
  assertPostable(proposal, proposalId, corrected && withoutEtag(corrected));
  const messageId = postingRequestId(proposalId, request.postingDate);
  const body: ProposalPostingMessage = { proposalId };
  if (request.postingDate !== undefined) body.postingDate = request.postingDate;
  await deps.publisher.publish(Queues.proposalPostings, [{ messageId, body, subject: 'post', correlationId: proposalId }]);
  return { messageId, proposal };
}
