/**
 * F&O invoice proposals as the accountant sees them: `GET finance/proposals` (all, or of one
 * status, each with expected versus imported counts and amounts) and `GET
 * finance/proposals/{proposalId}` (header, lines, and the billed staging rows still waiting,
 * with their reason). Proposals are never created or deleted by hand (the routes answer 405).
 */
import { z } from 'zod';
import { byKey } from '../core/collections';
import { NotFoundError, ValidationError } from '../core/errors';
import { withoutEtag } from '../core/stored';
import type { FinanceStore } from './financeStore';
import type { Proposal, ProposalLine } from './records';
import { reconcile, type Reconciliation } from './rules/import';

const proposalStatus = z.enum(['Open', 'Posted']);

/** The proposal id of a route: an invoice number usable as a table key. */
export function proposalIdOf(raw: string): string {
  const value = raw.trim();
  if (!value || value.length > 200 || /[/\\#?\u0000-\u001f\u007f-\u009f]/.test(value)) {
    throw new ValidationError(`proposalId "${value}" is not an invoice proposal id (the proforma invoice number, for example INV-000123).`);
  }
  return value;
}

export async function listProposals(
  deps: { finance: Pick<FinanceStore, 'proposalsByStatus'> },
  rawStatus: string | null,
): Promise<{ count: number; proposals: (Proposal & { reconciliation: Reconciliation })[] }> {
  let status: Proposal['Status'] | undefined;
  if (rawStatus !== null) {
    const parsed = proposalStatus.safeParse(rawStatus);
    if (!parsed.success) throw new ValidationError(`status "${rawStatus}" is not a proposal status (Open or Posted).`);
    status = parsed.data;
  }
  const proposals = (await deps.finance.proposalsByStatus(status)).map((p) => withoutEtag(p));
  return { count: proposals.length, proposals: proposals.map((p) => ({ ...p, reconciliation: reconcile(p) })) };
}

export interface ProposalView {
  proposal: Proposal;
  reconciliation: Reconciliation;
  lines: ProposalLine[];
  notImported: { ActualId: string; ImportStatus: string; ImportMessage: string | undefined; Amount: string }[];
}

export async function getProposal(deps: { finance: Pick<FinanceStore, 'proposals' | 'proposalLines' | 'billedRowsNotImported'> }, proposalId: string): Promise<ProposalView> {
  const { finance } = deps;
  const stored = await finance.proposals.get(proposalId, proposalId);
  if (!stored) throw new NotFoundError(`Invoice proposal ${proposalId} does not exist (not synchronized from a confirmed invoice yet, or a wrong number).`, proposalId);
  const proposal = withoutEtag(stored);
  const lines = (await finance.proposalLines.listPartition(proposalId)).map((l) => withoutEtag(l)).sort(byKey((l) => l.LineId));
  // Billed staging rows of this invoice that are not lines yet, with the reason (reconciliation per invoice).
  const pending = await finance.billedRowsNotImported(proposal.ContractId, proposal.InvoiceId);
  return {
    proposal,
    reconciliation: reconcile(proposal),
    lines,
    notImported: pending.map((r) => ({ ActualId: r.ActualId, ImportStatus: r.ImportStatus, ImportMessage: r.ImportMessage, Amount: r.Amount })),
  };
}
