import { app, type HttpRequest } from '@azure/functions';
import { z } from 'zod';
import type { Container } from '../shared/compositionRoot';
import { dateString, describeZodError } from '../shared/core/fields';
import { ValidationError } from '../shared/core/errors';
import { json, route } from '../shared/triggers/http';
import { reconcile } from '../shared/finance/rules/import';
import { checkProposalId, requestProposalPosting } from '../shared/finance/posting/postInvoiceProposal';

export const POST_FINANCE_PROPOSAL = 'postFinanceProposal';

const postBody = z.object({ postingDate: dateString.optional() }).strict();

/** The body is optional: empty means "post on the proposal's invoice date". */
async function readOptionalBody(request: HttpRequest): Promise<z.infer<typeof postBody>> {
  const text = await request.text();
  if (!text.trim()) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ValidationError(`The request body is not valid JSON (${error instanceof Error ? error.message : String(error)}); send {} or { "postingDate": "yyyy-MM-dd" }.`);
  }
  const parsed = postBody.safeParse(value);
  if (!parsed.success) throw new ValidationError(`The request body is not valid: ${describeZodError(parsed.error)}.`);
  return parsed.data;
}

/** POST api/finance/proposals/{proposalId}/post: the accountant's command; checks, enqueues on proposal-postings, 202. */
export function registerPostFinanceProposal(container: Container): void {
  app.http(POST_FINANCE_PROPOSAL, {
    route: 'finance/proposals/{proposalId}/post',
    methods: ['POST'],
    authLevel: 'function',
    handler: route(POST_FINANCE_PROPOSAL, async (request, context) => {
      const proposalId = checkProposalId(request.params.proposalId ?? '');
      const body = await readOptionalBody(request);
      const { messageId, proposal } = await requestProposalPosting(
        { finance: container.finance, publisher: container.publisher },
        { proposalId, ...body },
      );
      context.log(`[${POST_FINANCE_PROPOSAL}] invocation=${context.invocationId} ref=${proposalId} posting requested, messageId=${messageId}`);
      const location = `/api/finance/proposals/${encodeURIComponent(proposalId)}`;
      return json(
        202,
        { proposalId, status: 'PostingRequested', messageId, postingDate: body.postingDate ?? proposal.InvoiceDate, reconciliation: reconcile(proposal), location },
        { location },
      );
    }),
  });
}
