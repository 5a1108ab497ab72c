/**
 * Republish a posted proposal's accounting details (`POST finance/proposals/{proposalId}/republish-accounting`,
 * and the repair sweep): the very bodies its posting published to `actuals-accounting`, computed
 * the way the posting's "republished" path computes them (from the reservation that pinned the
 * posting's date, rate and number; the proposal's stored lines and transactions), under NEW message
 * ids derived from the posting's ids and the time of the republish, so Service Bus duplicate
 * detection does not drop a resend that is needed. The consumer (syncActualsAccounting) is
 * idempotent: details already on Dataverse are not written again. A posted credit proposal's details
 * (its reversal and re-billed lines, with the credit note) are recomputed the same way, its
 * corrected proposal read as the posting read it. Why: docs/decisions/repair.md.
 */
import { asRepublished, Queues, type Publisher } from '../../messages';
import { BusinessError, NotFoundError } from '../../core/errors';
import { withoutEtag } from '../../core/stored';
import type { SequencePort } from '../../storage/sequences';
import type { TableStore } from '../../storage/tableStore';
import type { FinanceStore } from '../financeStore';
import type { Proposal, ProposalLine } from '../records';
import { planPosting } from '../rules/posting';
import { checkProposalId } from './postingChecks';
import { accountingMessages, CUSTOMER_INVOICE_SEQUENCE, QUERY_PROJECT_TRANSACTIONS_FROM, readCorrectedProposal, readPinned } from './postInvoiceProposal';

/** Rows a project query reads per transaction looked for (as the posting reads them). */
const QUERY_ROWS_PER_TRANSACTION = 20;

/** What republishing needs of the F&O store. */
export interface RepublishAccountingStore extends Pick<FinanceStore, 'transactionsBilledBy'> {
  proposals: Pick<TableStore<Proposal>, 'get'>;
  proposalLines: Pick<TableStore<ProposalLine>, 'listPartition'>;
}

export interface RepublishAccountingDeps {
  finance: RepublishAccountingStore;
  sequences: Pick<SequencePort, 'find'>;
  publisher: Publisher;
  log?: (line: string) => void;
}

export interface RepublishAccountingOptions {
  /** When the republish was asked for: part of the new message ids (default now). */
  at?: Date;
}

export interface RepublishAccountingResult {
  proposalId: string;
  invoiceId: string;
  customerInvoiceId: string;
  voucher: string;
  postingDate: string;
  /** Accounting details sent (one per billed line). */
  details: number;
  /** Ids of the messages sent to actuals-accounting. */
  messageIds: string[];
}

export async function republishAccounting(deps: RepublishAccountingDeps, proposalIdInput: string, options: RepublishAccountingOptions = {}): Promise<RepublishAccountingResult> {
  const proposalId = checkProposalId(proposalIdInput);
  const at = options.at ?? new Date();
  const stored = await deps.finance.proposals.get(proposalId, proposalId);
  if (!stored) {
    throw new NotFoundError(`Invoice proposal ${proposalId} does not exist; check the proposal id (the invoice number).`, proposalId);
  }
  const proposal = withoutEtag(stored);
  if (proposal.Status !== 'Posted') {
    throw new BusinessError(
      `Invoice proposal ${proposalId} is ${proposal.Status}, not posted: it has no accounting details to re-send. Post it first (POST /api/finance/proposals/${proposalId}/post); posting sends them.`,
      { reference: proposalId },
    );
  }
  const reservation = await deps.sequences.find(CUSTOMER_INVOICE_SEQUENCE, proposalId);
  const pinned = readPinned(reservation?.details);
  if (!reservation || !pinned || reservation.value !== proposal.CustomerInvoiceId) {
    throw new BusinessError(
      `Invoice proposal ${proposalId} is posted as ${proposal.CustomerInvoiceId ?? '(no customer invoice)'}, but not by this integration's posting ` +
        `(${reservation ? `its customer invoice number reservation is ${reservation.value}${pinned ? '' : ' without the pinned posting details'}` : 'no customer invoice number was reserved for it'}), ` +
        'so its accounting details cannot be recomputed. Check how the proposal was posted.',
      { reference: proposalId },
    );
  }

  const lines = (await deps.finance.proposalLines.listPartition(proposalId)).map((l) => withoutEtag(l));
  const corrected = await readCorrectedProposal(deps.finance, proposal);
  const transactions = (await deps.finance.transactionsBilledBy(lines, proposal.ContractId, { queryFrom: QUERY_PROJECT_TRANSACTIONS_FROM, rowsPerId: QUERY_ROWS_PER_TRANSACTION })).map((t) => withoutEtag(t));
  const plan = planPosting({
    proposal: { ...proposal, Status: 'Open' },
    lines,
    unbilledTransactions: transactions,
    ...(corrected !== undefined ? { correctedProposal: corrected } : {}),
    rates: [{ FromCurrency: proposal.CurrencyCode, ToCurrency: pinned.accountingCurrency, Rate: pinned.exchangeRate, ValidFrom: pinned.postingDate }],
    accountingCurrency: pinned.accountingCurrency,
    postingDate: pinned.postingDate,
    customerInvoiceId: reservation.value,
    postedOn: reservation.reservedOn,
  });
  if (!plan.ok) {
    throw new BusinessError(`Invoice proposal ${proposalId}: its accounting details cannot be recomputed: ${plan.reason}. Nothing was sent.`, { reference: proposalId });
  }
  const messages = asRepublished(accountingMessages(proposal, reservation.value, pinned.postingDate, plan.customerInvoice.Voucher, plan.accounting), at);
  await deps.publisher.publish(Queues.actualsAccounting, messages);
  deps.log?.(`proposal ${proposalId} (customer invoice ${reservation.value}): ${plan.accounting.length} accounting details republished in ${messages.length} messages`);
  return {
    proposalId,
    invoiceId: proposal.InvoiceId,
    customerInvoiceId: reservation.value,
    voucher: plan.customerInvoice.Voucher,
    postingDate: pinned.postingDate,
    details: plan.accounting.length,
    messageIds: messages.map((m) => m.messageId),
  };
}
