/**
 * Ledger vouchers on the F&O side (`foLedgerEntries`, PartitionKey Voucher / RowKey line number).
 * Amounts are in the accounting currency, debit positive, credit negative, and every voucher's
 * entries sum to exactly zero.
 *
 * Decisions:
 * - Zero-amount lines are dropped (a non-chargeable unbilled actual of amount 0 posts a project
 *   transaction but moves no money); line numbers are then 1..n without gaps.
 * - `buildVoucher` throws when the lines do not balance: that is a bug in a posting rule, never
 *   bad input, and nothing may be written from such a voucher.
 */
import type { LedgerEntry, MainAccount } from '../records';
import { amount, dec, negate, sum } from '../../core/money';

export interface LedgerLine {
  account: MainAccount;
  /** Accounting currency, debit positive, credit negative. */
  amount: string;
  projectId?: string;
  reference?: string;
  text?: string;
}

/** A debit of `value` (an amount as is). */
export function debit(account: MainAccount, value: string, extra: Omit<LedgerLine, 'account' | 'amount'> = {}): LedgerLine {
  return { account, amount: amount(value), ...extra };
}

/** A credit of `value` (the amount's negative: crediting a negative amount is a debit). */
export function credit(account: MainAccount, value: string, extra: Omit<LedgerLine, 'account' | 'amount'> = {}): LedgerLine {
  return { account, amount: negate(amount(value)), ...extra };
}

/** The sum of entries' amounts, as an amount ("0.00" when balanced). */
export function voucherBalance(entries: ReadonlyArray<{ Amount: string } | { amount: string }>): string {
  return amount(sum(entries.map((e) => ('Amount' in e ? e.Amount : e.amount))));
}

export function isBalanced(entries: ReadonlyArray<{ Amount: string } | { amount: string }>): boolean {
  return dec(voucherBalance(entries)).isZero();
}

/** Ledger entries of one voucher: zero lines dropped, numbered 1..n; throws when unbalanced. */
export function buildVoucher(voucher: string, postingDate: string, lines: readonly LedgerLine[]): LedgerEntry[] {
  if (!isBalanced(lines)) {
    throw new Error(`Voucher ${voucher} does not balance: its lines sum to ${voucherBalance(lines)}`);
  }
  const entries: LedgerEntry[] = [];
  for (const line of lines) {
    if (dec(line.amount).isZero()) continue;
    const entry: LedgerEntry = {
      Voucher: voucher,
      LineNumber: entries.length + 1,
      MainAccount: line.account,
      Amount: amount(line.amount),
      PostingDate: postingDate,
    };
    if (line.projectId !== undefined) entry.ProjectId = line.projectId;
    if (line.reference !== undefined) entry.Reference = line.reference;
    if (line.text !== undefined) entry.Text = line.text;
    entries.push(entry);
  }
  return entries;
}
