/**
 * Import phase 1 (domain.md step 3): cost and unbilled sales rows become posted project
 * transactions, journalized. The run's rows share vouchers, at most 50 rows (100 ledger entries,
 * one all-or-nothing table transaction) per voucher, each row keeping its own balanced
 * debit/credit pair, in this order:
 *   a. pin each row's journal slot (voucher + first line) in foVoucherReservations: a row pinned
 *      before (a crash, an overlapping run, a re-sent actual) keeps its slot for good;
 *   b. ledger entries, per voucher one create transaction, entries found already checked to be
 *      that row's;
 *   c. the project transaction (its existence is what "posted" means to billed rows);
 * then the accounting details go out on `actuals-accounting`, the staging rows become Imported
 * and their index entries go. A row without an exchange rate becomes Error with the reason and
 * is retried by later runs. Why: docs/decisions/import-from-staging.md.
 */
import { Queues, MAX_RECORDS_PER_MESSAGE, type AccountingDetail, type ActualsAccountingMessage } from '../../messages';
import { chunk } from '../../core/collections';
import { deterministicGuid } from '../../core/ids';
import { dec, rate } from '../../core/money';
import { ledgerRowKey } from '../financeStore';
import type { ProjectTransaction, StagingRow } from '../records';
import { journalVoucher, journalVoucherPrefix, planJournals, postTransaction } from '../rules/import';
import { postedAccountingAmount, writeJournalEntries } from './journalStore';
import { IMPORT_FROM_STAGING, readStaging, settle, type Outcome, type Posting, type RunContext } from './importRun';

/** Journal vouchers are one partition (one 100-entry transaction) each: this many in flight. */
const LEDGER_CONCURRENCY = 16;

/** The message id of one accounting message: derived from the details it carries. */
export function accountingMessageId(details: readonly AccountingDetail[]): string {
  return deterministicGuid(Queues.actualsAccounting, IMPORT_FROM_STAGING, ...details.map((d) => d.actualId));
}

/** Make a posting say what was posted before (voucher, date, accounting amount): transaction, accounting details, staging row. */
function adopt(p: Posting, kept: Pick<ProjectTransaction, 'Voucher' | 'PostingDate' | 'AccountingAmount'>): void {
  const exchangeRate = dec(p.row.Amount).isZero() ? p.accounting.exchangeRate : rate(dec(kept.AccountingAmount).div(dec(p.row.Amount)));
  p.transaction = { ...p.transaction, Voucher: kept.Voucher, PostingDate: kept.PostingDate, AccountingAmount: kept.AccountingAmount };
  p.accounting = { ...p.accounting, voucher: kept.Voucher, postingDate: kept.PostingDate, accountingAmount: kept.AccountingAmount, exchangeRate };
  p.update = {
    ...p.update,
    ImportMessage: `Posted as project transaction with voucher ${kept.Voucher} on ${kept.PostingDate}`,
    VoucherNumber: kept.Voucher,
    PostingDate: kept.PostingDate,
    AccountingAmount: kept.AccountingAmount,
    ExchangeRate: exchangeRate,
  };
}

/** Post the cost and unbilled rows of a run; answers the ActualIds posted by this run (stored now). */
export async function postTransactionalRows(ctx: RunContext, rows: readonly StagingRow[]): Promise<Set<string>> {
  const { deps, result } = ctx;
  const { finance } = deps;
  const rates = await finance.allRates();
  const postOptions = { accountingCurrency: deps.accountingCurrency, rates, importedOn: ctx.importedOn };
  const outcomes: Outcome[] = [];
  const toPost: StagingRow[] = [];
  for (const row of rows) {
    const outcome = postTransaction(row, postOptions);
    if (outcome.kind === 'posted') toPost.push(row);
    else {
      result.errors++;
      outcomes.push({ kind: 'unfinished', row, update: outcome.rowUpdate });
    }
  }
  ctx.phase('decidePost');

  // a. Pin every row's journal slot before anything is written; a row pinned before keeps its slot.
  const prefix = journalVoucherPrefix(new Date(ctx.started), result.runId);
  let vouchersPlanned = 0;
  const planned = planJournals(toPost, () => journalVoucher(prefix, ++vouchersPlanned));
  const pinned = await deps.work.reserveJournals(planned, ctx.now);
  ctx.phase('reserve');
  const posted = new Map<string, Posting>();
  for (const row of toPost) {
    const slot = pinned.get(row.ActualId);
    if (slot === undefined) throw new Error(`No journal slot was pinned for ${row.ActualId}`);
    const outcome = postTransaction(row, postOptions, slot);
    if (outcome.kind !== 'posted') throw new Error(`Row ${row.ActualId} could not be posted a second time: ${outcome.reason}`);
    posted.set(row.ActualId, { row, slot, transaction: outcome.transaction, ledger: outcome.ledger, accounting: outcome.accounting, update: outcome.rowUpdate });
  }

  // b. Ledger first, then the transaction: a transaction exists only with its entries written.
  const journal = await writeJournalEntries(
    finance.ledgerEntries,
    [...posted.values()].map((p) => ({ actualId: p.row.ActualId, reservation: p.slot, entries: p.ledger })),
    LEDGER_CONCURRENCY,
  );
  result.vouchers += journal.vouchers;
  for (const [actualId, entries] of journal.existing) {
    // posted before with other figures (a rate changed since): what was posted stands
    const p = posted.get(actualId)!;
    const postedAmount = postedAccountingAmount(entries);
    const postingDate = entries[0]?.PostingDate ?? p.transaction.PostingDate;
    if (postedAmount !== undefined && (postedAmount !== p.transaction.AccountingAmount || postingDate !== p.transaction.PostingDate)) {
      adopt(p, { Voucher: p.slot.voucher, PostingDate: postingDate, AccountingAmount: postedAmount });
    }
  }
  ctx.phase('ledger');

  // c. The transactions.
  const tx = await finance.projectTransactions.createManyIfAbsent([...posted.values()].map((p) => p.transaction));
  ctx.phase('transactions');

  // Transactions that existed already: posted by someone else, or by us before a crash.
  const alreadyImported = new Set<string>();
  if (tx.existing.size) {
    const existingRows = [...posted.values()].filter((p) => tx.existing.has(`${p.transaction.ProjectId}/${p.transaction.TransId}`));
    // A transaction posted by the one-voucher-per-row import of old (data from before journals
    // whose slot was not backfilled, journalStore.ts): its entries are in that voucher, so the
    // pair just put on the row's journal lines is a second posting and goes again (the journal
    // stays balanced; the slot is never used by another row). A crash before this delete leaves
    // the index entry, and the next run gets here again.
    const legacy = existingRows.filter((p) => tx.existing.get(`${p.transaction.ProjectId}/${p.transaction.TransId}`)!.Voucher !== p.slot.voucher);
    await finance.ledgerEntries.deleteMany(legacy.flatMap((p) => p.ledger.map((e) => ({ partitionKey: e.Voucher, rowKey: ledgerRowKey(e.LineNumber) }))));
    const stored = await readStaging(ctx, existingRows.map((p) => p.row));
    for (const p of existingRows) {
      if (stored.get(p.row.ActualId)?.ImportStatus === 'Imported') {
        alreadyImported.add(p.row.ActualId);
        result.cleaned++;
        continue;
      }
      const kept = tx.existing.get(`${p.transaction.ProjectId}/${p.transaction.TransId}`)!;
      if (kept.Voucher !== p.transaction.Voucher || kept.PostingDate !== p.transaction.PostingDate || kept.AccountingAmount !== p.transaction.AccountingAmount) {
        // posted earlier with other figures (another voucher or rate): what was posted stands
        adopt(p, kept);
      }
    }
  }
  for (const p of posted.values()) outcomes.push({ kind: 'imported', row: p.row, update: p.update });

  const details = [...posted.values()].filter((p) => !alreadyImported.has(p.row.ActualId)).map((p) => p.accounting);
  const messages = chunk(details, MAX_RECORDS_PER_MESSAGE).map((group) => {
    const body: ActualsAccountingMessage = { details: group };
    return { messageId: accountingMessageId(group), body, subject: IMPORT_FROM_STAGING };
  });
  await deps.publisher.publish(Queues.actualsAccounting, messages);
  result.accountingMessages += messages.length;
  ctx.phase('publish');
  result.posted += (await settle(ctx, outcomes, alreadyImported)).size;
  ctx.phase('settlePosted');
  return new Set(posted.keys());
}
