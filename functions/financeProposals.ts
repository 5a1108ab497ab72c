import type { CompositionRoot } from '../shared/compositionRoot';
import { proposalIdOf } from '../shared/finance/proposals';
import { httpFunction, json, problem } from '../shared/triggers/http';

const PROPOSALS = 'finance/proposals';
const PROPOSAL = 'finance/proposals/{proposalId}';

function refusal(what: string, allow: string) {
  return problem(
    405,
    `${what} is not allowed: invoice proposals come only from confirmed Dataverse invoices (map "Project invoice proposal V2"). ` +
      'Confirm or correct the proforma invoice in Dataverse instead.',
    {},
    { Allow: allow },
  );
}

/**
 * F&O invoice proposals: list and view (header, lines, expected versus imported counts and
 * amounts, billed staging rows still waiting); creating or deleting one by hand is refused (405).
 */
export function registerFinanceProposals(root: CompositionRoot): void {
  httpFunction('listFinanceProposals', {
    route: PROPOSALS,
    methods: ['GET'],
    authLevel: 'function',
    handler: async (request) => json(200, await root.finance.listProposals(request.query.get('status'))),
  });

  httpFunction('getFinanceProposal', {
    route: PROPOSAL,
    methods: ['GET'],
    authLevel: 'function',
    handler: async (request) => json(200, await root.finance.getProposal(proposalIdOf(request.params.proposalId ?? ''))),
  });

  httpFunction('refuseFinanceProposalCreate', {
    route: PROPOSALS,
    methods: ['POST'],
    authLevel: 'function',
    handler: async () => refusal('Creating an invoice proposal in F&O', 'GET'),
  });

  httpFunction('refuseFinanceProposalDelete', {
    route: PROPOSAL,
    methods: ['DELETE'],
    authLevel: 'function',
    handler: async (request) => refusal(`Deleting invoice proposal ${(request.params.proposalId ?? '').trim()}`, 'GET'),
  });
}
