/**
 * syncInvoiceProposal (map "Project invoice proposal V2 (invoices)", Dataverse -> F&O, one way):
 * upsert the F&O proposal header of a confirmed invoice (queue `invoice-proposals`).
 *
 * - New header: created if absent, Status Open, ImportedLineCount / ImportedAmount recomputed
 *   from whatever foProposalLines of that proposal exist already (normally none: import waits for
 *   the header), so the counters are exact from the first write.
 * - Existing open header: the header fields and the expected count, amount and tax are replaced
 *   under the ETag read; the imported counters are kept as import maintains them, except on a
 *   header stored before tax was reconciled (no ImportedTax), whose counters are recounted from
 *   its stored lines so that its tax can be checked. A redelivery that changes nothing writes nothing.
 * - A corrective invoice's header becomes a credit proposal (CorrectedProposalId,
 *   CorrectedInvoiceId; negative or zero expected amount and tax): docs/decisions/credit-notes.md.
 * - Posted header: never touched (posting is final).
 * - A header with the same proposal id (invoice number) that belongs to another invoice is a
 *   business conflict: refused, recorded in the error log, nothing written.
 * ETag conflicts (import updating the counters at the same moment) are retried with a fresh read.
 * The first attempt creates without reading the header first (a new header is the common case: two
 * requests, not three); a header that exists already fails that create and is read then.
 */
import type { Proposal, ProposalLine } from './records';
import { proposalFromMessage } from './rules/stagingMap';
import { reconcileFromLines } from './rules/import';
import { withoutEtag } from '../core/stored';
import type { FinanceStore } from './financeStore';
import { BusinessError } from '../core/errors';
import type { InvoiceProposalMessage } from '../messages';

export interface SyncInvoiceProposalDeps {
  finance: Pick<FinanceStore, 'proposals' | 'proposalLines'>;
}

export type SyncInvoiceProposalOutcome = 'created' | 'updated' | 'unchanged' | 'posted';

const ATTEMPTS = 10;

function sameHeader(a: Proposal, b: Proposal): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof Proposal>;
  for (const key of keys) if (a[key] !== b[key]) return false;
  return true;
}

function describe(p: Proposal): string {
  return p.CorrectedProposalId === undefined ? `proposal ${p.ProposalId}` : `credit proposal ${p.ProposalId} (corrects ${p.CorrectedProposalId})`;
}

function expects(p: Proposal): string {
  return `${p.ExpectedLineCount} lines, ${p.ExpectedAmount} ${p.CurrencyCode}, tax ${p.ExpectedTax ?? '(not given)'}`;
}

export async function syncInvoiceProposal(
  deps: SyncInvoiceProposalDeps,
  message: InvoiceProposalMessage,
  log: (line: string) => void = () => undefined,
): Promise<SyncInvoiceProposalOutcome> {
  const { proposals, proposalLines } = deps.finance;
  const id = message.proposalId;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    // A header is new on its first delivery: try to create it before reading anything (its lines
    // listed for the counters, then create-if-absent); it is read only once it turns out to exist.
    const stored = attempt === 1 ? undefined : await proposals.get(id, id);
    if (stored === undefined) {
      const lines: ProposalLine[] = (await proposalLines.listPartition(id)).map((l) => withoutEtag(l));
      const header = reconcileFromLines(proposalFromMessage(message), lines);
      if ((await proposals.createIfAbsent(header)) === 'created') {
        log(`${describe(header)} created for invoice ${message.invoiceId}: expects ${expects(header)}`);
        return 'created';
      }
      continue; // it exists (a redelivery, an update, or a concurrent delivery): read it and merge
    }
    const existing = withoutEtag(stored);
    if (existing.Status === 'Posted') {
      log(`proposal ${id} is posted (customer invoice ${existing.CustomerInvoiceId ?? '-'}); header left unchanged`);
      return 'posted';
    }
    if (existing.InvoiceId !== message.invoiceId) {
      throw new BusinessError(
        `Invoice proposal ${id} already belongs to invoice ${existing.InvoiceId}; the header of invoice ${message.invoiceId} ` +
          `carries the same invoice number and was not applied. Give the invoice a unique number and confirm it again.`,
        { reference: id },
      );
    }
    let next = proposalFromMessage(message, existing);
    if (next.ImportedTax === undefined) {
      next = reconcileFromLines(next, (await proposalLines.listPartition(id)).map((l) => withoutEtag(l)));
    }
    if (sameHeader(existing, next)) {
      log(`proposal ${id} already up to date`);
      return 'unchanged';
    }
    if ((await proposals.replaceIfMatch(next, stored.etag)) !== undefined) {
      log(`${describe(next)} updated: expects ${expects(next)}`);
      return 'updated';
    }
  }
  throw new Error(`Invoice proposal ${id} kept changing while it was being updated (${ATTEMPTS} attempts); Service Bus will redeliver the message`);
}
