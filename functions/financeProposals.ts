import { app, type HttpRequest } from '@azure/functions';
import { z } from 'zod';
import type { Proposal, ProposalLine, StagingRow } from '../shared/finance/records';
import { reconcile } from '../shared/finance/rules/import';
import type { Container } from '../shared/compositionRoot';
import { NotFoundError, ValidationError } from '../shared/core/errors';
import { json, problem, route } from '../shared/triggers/http';
import { odata } from '../shared/storage/tableStore';

const PROPOSALS = 'finance/proposals';
const PROPOSAL = 'finance/proposals/{proposalId}';
const statusQuery = z.enum(['Open', 'Posted']);

function header({ etag: _etag, ...proposal }: Proposal & { etag: string }): Proposal {
  return proposal;
}

function line({ etag: _etag, ...l }: ProposalLine & { etag: string }): ProposalLine {
  return l;
}

/** The proposal id route parameter: an invoice number, usable as a table key. */
function proposalIdParam(request: HttpRequest): string {
  const value = (request.params.proposalId ?? '').trim();
  if (!value || value.length > 200 || /[/\\#?\u0000-\u001f\u007f-\u009f]/.test(value)) {
    throw new ValidationError(`proposalId "${value}" is not an invoice proposal id (the proforma invoice number, for example INV-000123).`);
  }
  return value;
}

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
export function registerFinanceProposals(container: Container): void {
  const { finance } = container;

  app.http('listFinanceProposals', {
    route: PROPOSALS,
    methods: ['GET'],
    authLevel: 'anonymous',
    handler: route('listFinanceProposals', async (request) => {
      const rawStatus = request.query.get('status');
      let filter: string | undefined;
      if (rawStatus !== null) {
        const status = statusQuery.safeParse(rawStatus);
        if (!status.success) throw new ValidationError(`status "${rawStatus}" is not a proposal status (Open or Posted).`);
        filter = odata`Status eq ${status.data}`;
      }
      const proposals = (await finance.proposals.query(filter)).map(header).sort((a, b) => (a.ProposalId < b.ProposalId ? -1 : a.ProposalId > b.ProposalId ? 1 : 0));
      return json(200, {
        count: proposals.length,
        proposals: proposals.map((p) => ({ ...p, reconciliation: reconcile(p) })),
      });
    }),
  });

  app.http('getFinanceProposal', {
    route: PROPOSAL,
    methods: ['GET'],
    authLevel: 'anonymous',
    handler: route('getFinanceProposal', async (request) => {
      const proposalId = proposalIdParam(request);
      const stored = await finance.proposals.get(proposalId, proposalId);
      if (!stored) throw new NotFoundError(`Invoice proposal ${proposalId} does not exist (not synchronized from a confirmed invoice yet, or a wrong number).`, proposalId);
      const proposal = header(stored);
      const lines = (await finance.proposalLines.listPartition(proposalId)).map(line).sort((a, b) => (a.LineId < b.LineId ? -1 : a.LineId > b.LineId ? 1 : 0));
      // Billed staging rows of this invoice that are not lines yet, with the reason (reconciliation per invoice).
      const pending: StagingRow[] = await finance.staging.query(
        odata`PartitionKey eq ${proposal.ContractId} and InvoiceId eq ${proposal.InvoiceId} and TransType eq ${'BilledSales'} and ImportStatus ne ${'Imported'}`,
      );
      return json(200, {
        proposal,
        reconciliation: reconcile(proposal),
        lines,
        notImported: pending.map((r) => ({ ActualId: r.ActualId, ImportStatus: r.ImportStatus, ImportMessage: r.ImportMessage, Amount: r.Amount })),
      });
    }),
  });

  app.http('refuseFinanceProposalCreate', {
    route: PROPOSALS,
    methods: ['POST'],
    authLevel: 'function',
    handler: route('refuseFinanceProposalCreate', async () => refusal('Creating an invoice proposal in F&O', 'GET')),
  });

  app.http('refuseFinanceProposalDelete', {
    route: PROPOSAL,
    methods: ['DELETE'],
    authLevel: 'function',
    handler: route('refuseFinanceProposalDelete', async (request) => {
      const proposalId = (request.params.proposalId ?? '').trim();
      return refusal(`Deleting invoice proposal ${proposalId}`, 'GET');
    }),
  });
}
