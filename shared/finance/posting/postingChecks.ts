/**
 * What makes a proposal postable, and the words a person reads when it is not: shared by the
 * route that requests a posting and by the posting itself.
 */
import { BusinessError, NotFoundError, ValidationError } from '../../core/errors';
import { deterministicGuid } from '../../core/ids';
import type { Proposal } from '../records';
import { describeShortfall, importedTotals, isComplete, reconcile } from '../rules/completeness';
import { creditPostingRefusal } from '../rules/posting';

/** The deterministic id of a posting request for this proposal and date (the route's message id). */
export function postingRequestId(proposalId: string, postingDate?: string): string {
  return deterministicGuid('proposal-posting', proposalId, postingDate ?? '');
}

/** Proposal ids are invoice numbers used as table keys: they may not hold / \ # ? or control characters. */
export function checkProposalId(proposalId: string): string {
  if (!proposalId.trim() || proposalId.length > 200 || /[/\\#?\u0000-\u001f\u007f-\u009f]/.test(proposalId)) {
    throw new ValidationError(`"${proposalId.slice(0, 60)}${proposalId.length > 60 ? '…' : ''}" is not an invoice proposal id (the invoice number, e.g. PI-000001: at most 200 characters, no / \\ # ? characters).`, proposalId.slice(0, 200));
  }
  return proposalId;
}

export function alreadyPostedReason(proposal: Proposal): string {
  return (
    `Invoice proposal ${proposal.ProposalId} is already posted as customer invoice ${proposal.CustomerInvoiceId ?? '(unknown)'}` +
    `${proposal.Voucher ? ` (voucher ${proposal.Voucher}` : ' ('}${proposal.PostedOn ? `, posted ${proposal.PostedOn})` : ')'}; ` +
    'a proposal can be posted only once. To change the invoice, revise it in Dataverse: the corrective invoice becomes a credit proposal.'
  );
}

export function incompleteReason(proposal: Proposal): string {
  const r = reconcile(proposal);
  const c = proposal.CurrencyCode;
  const missing = [`${r.missingLineCount} lines`, `${r.missingAmount} ${c}`];
  if (r.missingTax !== undefined) missing.push(`tax ${r.missingTax} ${c}`);
  return (
    `Invoice proposal ${r.proposalId} is incomplete and cannot be posted: ${describeShortfall(proposal, importedTotals(proposal))} ` +
    `(missing ${missing.join(', ')}). Post it once the remaining billed actuals ` +
    'are imported; their foActualsStaging rows say what they wait for.'
  );
}

/**
 * Throws the refusal when the proposal cannot be posted (unknown, posted, incomplete by its
 * header; a credit proposal whose corrected proposal is not posted yet). `corrected`: for a credit
 * proposal, the stored proposal its CorrectedProposalId names (undefined when not in F&O).
 */
export function assertPostable(proposal: Proposal | undefined, proposalId: string, corrected?: Proposal): asserts proposal is Proposal {
  if (!proposal) {
    throw new NotFoundError(
      `Invoice proposal ${proposalId} does not exist. Proposals are created by the integration when their invoice is confirmed in Dataverse; check the invoice number and the invoice-proposals errors.`,
      proposalId,
    );
  }
  if (proposal.Status === 'Posted') throw new BusinessError(alreadyPostedReason(proposal), { reference: proposalId });
  if (!isComplete(proposal)) throw new BusinessError(incompleteReason(proposal), { reference: proposalId });
  const creditRefusal = creditPostingRefusal(proposal, corrected);
  if (creditRefusal !== undefined) throw new BusinessError(creditRefusal, { reference: proposalId });
}
