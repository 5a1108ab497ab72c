/**
 * F&O invoice proposals as the accountant sees them: `GET finance/proposals` (all, or of one
 * status, each with its kind and expected versus imported counts, amounts and tax) and `GET
 * finance/proposals/{proposalId}` (header, lines, and the billed staging rows still waiting,
 * with their reason; for a credit proposal the proposal it corrects, for any proposal the credit
 * proposals that correct it). Proposals are never created or deleted by hand (the routes answer 405).
 */
import { z } from 'zod';
import { byKey } from '../core/collections';
import { NotFoundError, ValidationError } from '../core/errors';
import { withoutEtag } from '../core/stored';
import type { FinanceStore } from './financeStore';
import type { Proposal, ProposalLine } from './records';
import { reconcile, type Reconciliation } from './rules/completeness';

const proposalStatus = z.enum(['Open', 'Posted']);

/** The proposal id of a route: an invoice number usable as a table key. */
export function proposalIdOf(raw: string): string {
  const value = raw.trim();
  if (!value || value.length > 200 || /[/\\#?\u0000-\u001f\u007f-\u009f]/.test(value)) {
    throw new ValidationError(`proposalId "${value}" is not an invoice proposal id (the proforma invoice number, for example INV-000123).`);
  }
  return value;
}

/** "Invoice", or "Credit" for a credit proposal (the header of a corrective invoice). */
export type ProposalKind = 'Invoice' | 'Credit';

function kindOf(proposal: Proposal): ProposalKind {
  return proposal.CorrectedProposalId === undefined ? 'Invoice' : 'Credit';
}

export async function listProposals(
  deps: { finance: Pick<FinanceStore, 'proposalsByStatus'> },
  rawStatus: string | null,
): Promise<{ count: number; proposals: (Proposal & { kind: ProposalKind; reconciliation: Reconciliation })[] }> {
  let status: Proposal['Status'] | undefined;
  if (rawStatus !== null) {
    const parsed = proposalStatus.safeParse(rawStatus);
    if (!parsed.success) throw new ValidationError(`status "${rawStatus}" is not a proposal status (Open or Posted).`);
    status = parsed.data;
  }
  const proposals = (await deps.finance.proposalsByStatus(status)).map((p) => withoutEtag(p));
  return { count: proposals.length, proposals: proposals.map((p) => ({ ...p, kind: kindOf(p), reconciliation: reconcile(p) })) };
}

/** A proposal a credit proposal corrects, or one that corrects a proposal, in brief. */
export interface RelatedProposal {
  proposalId: string;
  /** Undefined when the proposal is not in F&O (yet). */
  status?: Proposal['Status'];
  invoiceId?: string;
  customerInvoiceId?: string;
  expectedAmount?: string;
  expectedTax?: string;
}

export interface ProposalView {
  proposal: Proposal;
  kind: ProposalKind;
  reconciliation: Reconciliation;
  /** A credit proposal: the proposal it corrects (posting waits until that one is Posted). */
  corrects?: RelatedProposal;
  /** The credit proposals that correct this proposal. */
  correctedBy: RelatedProposal[];
  lines: ProposalLine[];
  notImported: { ActualId: string; ImportStatus: string; ImportMessage: string | undefined; Amount: string }[];
}

function brief(p: Proposal): RelatedProposal {
  const out: RelatedProposal = { proposalId: p.ProposalId, status: p.Status, invoiceId: p.InvoiceId, expectedAmount: p.ExpectedAmount };
  if (p.ExpectedTax !== undefined) out.expectedTax = p.ExpectedTax;
  if (p.CustomerInvoiceId !== undefined) out.customerInvoiceId = p.CustomerInvoiceId;
  return out;
}

export async function getProposal(
  deps: { finance: Pick<FinanceStore, 'proposals' | 'proposalLines' | 'billedRowsNotImported' | 'creditProposalsCorrecting'> },
  proposalId: string,
): Promise<ProposalView> {
  const { finance } = deps;
  const stored = await finance.proposals.get(proposalId, proposalId);
  if (!stored) throw new NotFoundError(`Invoice proposal ${proposalId} does not exist (not synchronized from a confirmed invoice yet, or a wrong number).`, proposalId);
  const proposal = withoutEtag(stored);
  const correctedId = proposal.CorrectedProposalId;
  const [lineRows, pending, corrected, credits] = await Promise.all([
    finance.proposalLines.listPartition(proposalId),
    // Billed staging rows of this invoice that are not lines yet, with the reason (reconciliation per invoice).
    finance.billedRowsNotImported(proposal.ContractId, proposal.InvoiceId),
    correctedId === undefined ? Promise.resolve(undefined) : finance.proposals.get(correctedId, correctedId),
    finance.creditProposalsCorrecting(proposalId),
  ]);
  const lines = lineRows.map((l) => withoutEtag(l)).sort(byKey((l) => l.LineId));
  const view: ProposalView = {
    proposal,
    kind: kindOf(proposal),
    reconciliation: reconcile(proposal),
    correctedBy: credits.map((c) => brief(withoutEtag(c))),
    lines,
    notImported: pending.map((r) => ({ ActualId: r.ActualId, ImportStatus: r.ImportStatus, ImportMessage: r.ImportMessage, Amount: r.Amount })),
  };
  if (correctedId !== undefined) view.corrects = corrected ? brief(withoutEtag(corrected)) : { proposalId: correctedId };
  return view;
}
