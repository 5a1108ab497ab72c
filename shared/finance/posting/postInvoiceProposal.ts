/**
 * Posting an invoice proposal (domain step 10), run on queue `proposal-postings`
 * ({ proposalId, postingDate? }): reserve the customer invoice number (pinning date, rate and
 * request), write the customer invoice, the summarized voucher, the invoiced transactions and the
 * billed staging rows' accounting details, publish the details, and set the proposal Posted last.
 * A credit proposal posts a credit note the same way, once the proposal it corrects is Posted
 * (docs/decisions/credit-notes.md).
 * A redelivery after a crash finishes the same posting; a second request for a posted proposal is
 * refused. Write order and why: docs/decisions/posting.md.
 */
import { z } from 'zod';
import { MAX_RECORDS_PER_MESSAGE, Queues, type AccountingDetail, type ActualsAccountingMessage, type OutboundMessage, type ProposalPostingMessage, type Publisher } from '../../messages';
import { chunk } from '../../core/collections';
import { BusinessError } from '../../core/errors';
import { currencyCode, dateString, decimalString } from '../../core/fields';
import { deterministicGuid } from '../../core/ids';
import { withoutEtag, type Stored } from '../../core/stored';
import type { SequencePort } from '../../storage/sequences';
import type { TableStore } from '../../storage/tableStore';
import type { FinanceStore } from '../financeStore';
import type { CustomerInvoice, ExchangeRate, LedgerEntry, Proposal, ProposalLine, ProjectTransaction, StagingRow } from '../records';
import { lookupRate } from '../rules/exchange';
import { billedRowAccounting, formatCustomerInvoiceId, planPosting, type PostingPlan } from '../rules/posting';
import { alreadyPostedReason, assertPostable, checkProposalId, postingRequestId } from './postingChecks';

export { alreadyPostedReason, checkProposalId, incompleteReason, postingRequestId } from './postingChecks';
export { requestProposalPosting, type RequestPostingDeps } from './requestPosting';

/** The sequence customer invoice numbers come from. */
export const CUSTOMER_INVOICE_SEQUENCE = 'CustomerInvoice';

export const POSTING_STEPS = ['reserved', 'customerInvoice', 'ledger', 'transactions', 'staging', 'published', 'posted'] as const;
export type PostingStep = (typeof POSTING_STEPS)[number];

/** What posting needs of the F&O store. */
export interface PostingStore extends Pick<FinanceStore, 'allRates' | 'transactionsBilledBy'> {
  proposals: Pick<TableStore<Proposal>, 'get' | 'replaceIfMatch'>;
  proposalLines: Pick<TableStore<ProposalLine>, 'listPartition'>;
  customerInvoices: Pick<TableStore<CustomerInvoice>, 'createIfAbsent' | 'get'>;
  ledgerEntries: Pick<TableStore<LedgerEntry>, 'createManyIfAbsent'>;
  projectTransactions: Pick<TableStore<ProjectTransaction>, 'upsertMany'>;
  staging: Pick<TableStore<StagingRow>, 'mergeFieldsMany'>;
}

export interface PostInvoiceProposalDeps {
  finance: PostingStore;
  sequences: SequencePort;
  publisher: Publisher;
  /** The legal entity's accounting currency (setting AccountingCurrency). */
  accountingCurrency: string;
  log?: (line: string) => void;
  now?: () => Date;
  /** Fault injection for crash tests: called after each step's writes are done. */
  afterStep?: (step: PostingStep) => void | Promise<void>;
}

export interface PostingRequest extends ProposalPostingMessage {
  /** The id of this posting request (the message id). Default: `postingRequestId(proposalId, postingDate)`. */
  requestId?: string;
}

export type PostingOutcome =
  | { outcome: 'posted'; proposalId: string; customerInvoiceId: string; voucher: string; postingDate: string; messages: number }
  | { outcome: 'republished'; proposalId: string; customerInvoiceId: string; voucher: string; postingDate: string; messages: number };

/** What the reservation pins, so that every retry of a posting computes the same records. */
const pinnedPostingSchema = z.object({
  requestId: z.string().min(1),
  postingDate: dateString,
  accountingCurrency: currencyCode,
  exchangeRate: decimalString,
});
export type PinnedPosting = z.infer<typeof pinnedPostingSchema>;

/** The details a reservation pinned; undefined when they are missing or malformed. */
export function readPinned(details: string | undefined): PinnedPosting | undefined {
  let value: unknown;
  try {
    value = JSON.parse(details ?? '');
  } catch {
    return undefined;
  }
  const parsed = pinnedPostingSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

function parsePinned(details: string | undefined, proposalId: string): PinnedPosting {
  const pinned = readPinned(details);
  if (!pinned) throw new Error(`The customer invoice number reservation of proposal ${proposalId} has malformed details: ${details ?? '(none)'}`);
  return pinned;
}

// ---------------------------------------------------------------------------------------------
// The posting itself.

interface Loaded {
  lines: ProposalLine[];
  transactions: ProjectTransaction[];
  /** A credit proposal's corrected proposal as stored (undefined for other proposals, or when it is not in F&O). */
  corrected: Proposal | undefined;
}

/**
 * A project with at least this many transactions to find is read with one query instead of one
 * point read per transaction: a 10,000-line invoice is then a handful of requests, not 10,000.
 */
export const QUERY_PROJECT_TRANSACTIONS_FROM = 20;
/** The query reads at most this many rows per transaction looked for (a long contract history is not read whole). */
const QUERY_ROWS_PER_TRANSACTION = 20;

/** A credit proposal's corrected proposal as stored; undefined for an ordinary proposal. */
export async function readCorrectedProposal(finance: { proposals: Pick<TableStore<Proposal>, 'get'> }, proposal: Pick<Proposal, 'CorrectedProposalId'>): Promise<Proposal | undefined> {
  const of = proposal.CorrectedProposalId;
  if (of === undefined) return undefined;
  const stored = await finance.proposals.get(of, of);
  return stored && withoutEtag(stored);
}

async function loadLinesAndTransactions(finance: PostingStore, proposal: Pick<Proposal, 'ProposalId' | 'ContractId' | 'CorrectedProposalId'>): Promise<Loaded> {
  const [lines, corrected] = await Promise.all([
    finance.proposalLines.listPartition(proposal.ProposalId).then((rows) => rows.map((l) => withoutEtag(l))),
    readCorrectedProposal(finance, proposal),
  ]);
  const transactions = await finance.transactionsBilledBy(lines, proposal.ContractId, { queryFrom: QUERY_PROJECT_TRANSACTIONS_FROM, rowsPerId: QUERY_ROWS_PER_TRANSACTION });
  return { lines, transactions: transactions.map((t) => withoutEtag(t)), corrected };
}

function plan(
  proposal: Proposal,
  loaded: Loaded,
  rates: readonly ExchangeRate[],
  accountingCurrency: string,
  postingDate: string,
  customerInvoiceId: string,
  postedOn?: string,
): Extract<PostingPlan, { ok: true }> {
  const result = planPosting({
    proposal,
    lines: loaded.lines,
    unbilledTransactions: loaded.transactions,
    ...(loaded.corrected !== undefined ? { correctedProposal: loaded.corrected } : {}),
    rates,
    accountingCurrency,
    postingDate,
    customerInvoiceId,
    ...(postedOn !== undefined ? { postedOn } : {}),
  });
  if (!result.ok) throw new BusinessError(result.reason, { reference: proposal.ProposalId });
  return result;
}

/** The accounting messages of a posting: details sorted by actual, <= 100 a message, each with the invoice. */
export function accountingMessages(
  proposal: Pick<Proposal, 'ProposalId' | 'InvoiceId'>,
  customerInvoiceId: string,
  customerInvoiceDate: string,
  voucher: string,
  details: readonly AccountingDetail[],
): OutboundMessage[] {
  const sorted = [...details].sort((a, b) => (a.actualId < b.actualId ? -1 : a.actualId > b.actualId ? 1 : 0));
  const parts = chunk(sorted, MAX_RECORDS_PER_MESSAGE);
  return parts.map((part, i) => {
    const body: ActualsAccountingMessage = {
      details: part,
      invoice: { invoiceId: proposal.InvoiceId, customerInvoiceNumber: customerInvoiceId, customerInvoiceDate },
    };
    return {
      messageId: deterministicGuid('actuals-accounting', 'posting', proposal.ProposalId, voucher, String(i + 1), String(parts.length)),
      body,
      subject: 'posting',
      correlationId: proposal.ProposalId,
    };
  });
}

function pinnedRates(proposal: Proposal, pinned: PinnedPosting): ExchangeRate[] {
  return [{ FromCurrency: proposal.CurrencyCode, ToCurrency: pinned.accountingCurrency, Rate: pinned.exchangeRate, ValidFrom: pinned.postingDate }];
}

export async function postInvoiceProposal(deps: PostInvoiceProposalDeps, request: PostingRequest): Promise<PostingOutcome> {
  const log = deps.log ?? (() => undefined);
  const step = async (name: PostingStep) => {
    log(`posting step ${name} done`);
    await deps.afterStep?.(name);
  };
  const proposalId = checkProposalId(request.proposalId);
  const requestId = request.requestId ?? postingRequestId(proposalId, request.postingDate);
  const { finance } = deps;

  const stored = await finance.proposals.get(proposalId, proposalId);
  let reservation = await deps.sequences.find(CUSTOMER_INVOICE_SEQUENCE, proposalId);

  // Already posted: the same request again is idempotent (republish), any other is refused.
  if (stored?.Status === 'Posted') {
    const proposal = withoutEtag(stored);
    const pinned = reservation ? parsePinned(reservation.details, proposalId) : undefined;
    if (!reservation || !pinned || pinned.requestId !== requestId || proposal.CustomerInvoiceId !== reservation.value) {
      throw new BusinessError(alreadyPostedReason(proposal), { reference: proposalId });
    }
    const loaded = await loadLinesAndTransactions(finance, proposal);
    const again = plan({ ...proposal, Status: 'Open' }, loaded, pinnedRates(proposal, pinned), pinned.accountingCurrency, pinned.postingDate, reservation.value, reservation.reservedOn);
    const messages = accountingMessages(proposal, reservation.value, pinned.postingDate, again.customerInvoice.Voucher, again.accounting);
    await deps.publisher.publish(Queues.actualsAccounting, messages);
    log(`proposal ${proposalId} already posted by this request as ${reservation.value}; accounting details republished (${messages.length} messages)`);
    return { outcome: 'republished', proposalId, customerInvoiceId: reservation.value, voucher: again.customerInvoice.Voucher, postingDate: pinned.postingDate, messages: messages.length };
  }

  const proposal = stored ? withoutEtag(stored) : undefined;
  assertPostable(proposal, proposalId, await readCorrectedProposal(finance, proposal ?? {}));
  const loaded = await loadLinesAndTransactions(finance, proposal);

  // Validate fully before a number is taken: a refusal writes nothing.
  let pinned = reservation ? parsePinned(reservation.details, proposalId) : undefined;
  if (!reservation || !pinned) {
    const postingDate = request.postingDate ?? proposal.InvoiceDate;
    const rates = await finance.allRates();
    plan(proposal, loaded, rates, deps.accountingCurrency, postingDate, 'CIV-(to be numbered)');
    const found = lookupRate(rates, proposal.CurrencyCode, deps.accountingCurrency, postingDate);
    if (!found.ok) throw new BusinessError(`Invoice proposal ${proposalId} cannot be posted: ${found.reason}`, { reference: proposalId });
    const details: PinnedPosting = { requestId, postingDate, accountingCurrency: deps.accountingCurrency, exchangeRate: found.rate };
    const reserved = await deps.sequences.reserve(CUSTOMER_INVOICE_SEQUENCE, proposalId, {
      format: formatCustomerInvoiceId,
      details: JSON.stringify(details),
      reservedOn: (deps.now?.() ?? new Date()).toISOString(),
    });
    // Not created: a concurrent request reserved first; its pinned details win.
    reservation = reserved;
    pinned = parsePinned(reserved.details, proposalId);
    log(`customer invoice number ${reserved.value} ${reserved.created ? 'reserved' : 'already reserved by another request'} for proposal ${proposalId}`);
  } else {
    log(`proposal ${proposalId} has customer invoice number ${reservation.value} reserved by request ${pinned.requestId}: finishing that posting`);
  }
  await step('reserved');

  const customerInvoiceId = reservation.value;
  const posting = plan(proposal, loaded, pinnedRates(proposal, pinned), pinned.accountingCurrency, pinned.postingDate, customerInvoiceId, reservation.reservedOn);
  const voucher = posting.customerInvoice.Voucher;

  if ((await finance.customerInvoices.createIfAbsent(posting.customerInvoice)) === 'exists') {
    const existing = await finance.customerInvoices.get(customerInvoiceId, customerInvoiceId);
    if (existing && existing.ProposalId !== proposalId) {
      throw new Error(`Customer invoice ${customerInvoiceId} exists for proposal ${existing.ProposalId}, not ${proposalId}: the number sequence and foCustomerInvoices disagree`);
    }
  }
  await step('customerInvoice');

  await finance.ledgerEntries.createManyIfAbsent(posting.ledger);
  await step('ledger');

  await finance.projectTransactions.upsertMany(posting.transactionsInvoiced, 'Merge');
  // A credit note's credited transactions, whole: their CustomerInvoiceId goes.
  await finance.projectTransactions.upsertMany(posting.transactionsCredited, 'Replace');
  await step('transactions');

  await finance.staging.mergeFieldsMany(
    posting.accounting.map((detail) => ({ keys: { partitionKey: detail.contractId, rowKey: detail.actualId }, fields: billedRowAccounting(detail) })),
    { missing: 'fail' },
  );
  await step('staging');

  const messages = accountingMessages(proposal, customerInvoiceId, pinned.postingDate, voucher, posting.accounting);
  await deps.publisher.publish(Queues.actualsAccounting, messages);
  await step('published');

  await markPosted(finance, stored!, posting.proposalUpdate);
  log(`proposal ${proposalId} posted as customer invoice ${customerInvoiceId}, voucher ${voucher}, ${posting.ledger.length} ledger entries, ${posting.accounting.length} lines`);
  await step('posted');

  return { outcome: 'posted', proposalId, customerInvoiceId, voucher, postingDate: pinned.postingDate, messages: messages.length };
}

/**
 * Set the proposal Posted, guarded by the ETag it was planned from. If the row changed meanwhile
 * (a redelivered header sync rewrote the same values), re-read: already Posted by this posting is
 * done; unchanged counters are retried; anything else is a conflict nobody should paper over.
 */
async function markPosted(
  finance: PostingStore,
  planned: Stored<Proposal>,
  update: Pick<Proposal, 'Status' | 'CustomerInvoiceId' | 'Voucher' | 'PostedOn'>,
): Promise<void> {
  let current: Stored<Proposal> | undefined = planned;
  for (let attempt = 1; attempt <= 5 && current; attempt++) {
    if (current.Status === 'Posted') {
      if (current.CustomerInvoiceId === update.CustomerInvoiceId) return;
      throw new Error(`Invoice proposal ${planned.ProposalId} was posted as ${current.CustomerInvoiceId ?? '(unknown)'} while posting it as ${update.CustomerInvoiceId}`);
    }
    if (
      current.ImportedLineCount !== planned.ImportedLineCount ||
      current.ImportedAmount !== planned.ImportedAmount ||
      current.ImportedTax !== planned.ImportedTax ||
      current.ExpectedLineCount !== planned.ExpectedLineCount ||
      current.ExpectedAmount !== planned.ExpectedAmount ||
      current.ExpectedTax !== planned.ExpectedTax
    ) {
      throw new Error(`Invoice proposal ${planned.ProposalId} changed while it was being posted (its lines or expected totals moved); it is retried`);
    }
    if ((await finance.proposals.replaceIfMatch({ ...withoutEtag(current), ...update }, current.etag)) !== undefined) return;
    current = await finance.proposals.get(planned.ProposalId, planned.ProposalId);
  }
  throw new Error(`Invoice proposal ${planned.ProposalId} could not be set Posted (it kept changing or vanished); the posting is retried`);
}
