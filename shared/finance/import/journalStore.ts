/**
 * Journal vouchers of the import: each cost or unbilled row's slot (voucher + first line) pinned
 * for good in `foVoucherReservations` before anything is written, and the ledger writes
 * themselves (a row's debit and credit in one transaction, entries found already checked to be
 * that row's). Why: docs/decisions/import-from-staging.md, "Journals".
 */
import { z } from 'zod';
import type { LedgerEntry, ProjectTransaction } from '../records';
import type { JournalReservation } from '../rules/import';
import { ledgerLineCount } from '../rules/import';
import { amount } from '../../core/money';
import { timestampString } from '../../core/fields';
import { mapLimit } from '../../core/collections';
import { isConflict } from '../../storage/storageErrors';
import { MAX_BATCH, TableStore, type Stored, type TableAccess } from '../../storage/tableStore';
import { shardOf } from './shards';

export const VOUCHER_RESERVATIONS_TABLE = 'foVoucherReservations';

export const voucherReservationSchema = z.object({
  Shard: z.string().regex(/^S\d+$/),
  ActualId: z.string().min(1),
  Voucher: z.string().min(1),
  FirstLine: z.number().int().positive(),
  LineCount: z.number().int().nonnegative(),
  ReservedOn: timestampString,
});
export type VoucherReservationRow = z.infer<typeof voucherReservationSchema>;

function toReservation(row: VoucherReservationRow): JournalReservation {
  return { actualId: row.ActualId, voucher: row.Voucher, firstLine: row.FirstLine, lineCount: row.LineCount };
}

export class VoucherReservations {
  readonly store: TableStore<VoucherReservationRow>;

  constructor(connectionString: TableAccess) {
    this.store = new TableStore(connectionString, VOUCHER_RESERVATIONS_TABLE, voucherReservationSchema, (r) => ({ partitionKey: r.Shard, rowKey: r.ActualId }));
  }

  /**
   * Pin `wanted` (create if absent) and answer every row's reservation: the one wanted, or the one
   * stored before (which wins). Rows wanted twice: the first wins.
   */
  async reserve(wanted: readonly JournalReservation[], reservedOn: Date): Promise<Map<string, JournalReservation>> {
    const out = new Map<string, JournalReservation>();
    const at = reservedOn.toISOString();
    const unique = new Map<string, JournalReservation>();
    for (const w of wanted) if (!unique.has(w.actualId)) unique.set(w.actualId, w);
    const { existing } = await this.store.createManyIfAbsent(
      [...unique.values()].map((w) => ({ Shard: shardOf(w.actualId), ActualId: w.actualId, Voucher: w.voucher, FirstLine: w.firstLine, LineCount: w.lineCount, ReservedOn: at })),
    );
    for (const w of unique.values()) {
      const stored = existing.get(`${shardOf(w.actualId)}/${w.actualId}`);
      out.set(w.actualId, stored ? toReservation(stored) : w);
    }
    return out;
  }

  async get(actualId: string): Promise<JournalReservation | undefined> {
    const row = await this.store.get(shardOf(actualId), actualId);
    return row && toReservation(row);
  }

  /**
   * One-off, for data posted before journals existed (each transaction then had its own voucher
   * `PJV-<hash>`, lines 1-2): pin every stored transaction's voucher so that an actual re-sent
   * after that import keeps it. Safe to run any number of times and while imports run.
   */
  async backfillFromTransactions(transactions: AsyncIterable<Pick<ProjectTransaction, 'TransId' | 'Voucher' | 'Amount'>>, reservedOn: Date = new Date()): Promise<number> {
    let batch: JournalReservation[] = [];
    let pinned = 0;
    const flush = async () => {
      if (!batch.length) return;
      const wanted = batch;
      batch = [];
      await this.reserve(wanted, reservedOn);
      pinned += wanted.length;
    };
    for await (const t of transactions) {
      batch.push({ actualId: t.TransId, voucher: t.Voucher, firstLine: 1, lineCount: ledgerLineCount(t) });
      if (batch.length >= 2_000) await flush();
    }
    await flush();
    return pinned;
  }
}

export interface JournalRow {
  actualId: string;
  reservation: JournalReservation;
  /** The row's entries, on its reserved lines of its reserved voucher. */
  entries: readonly LedgerEntry[];
}

export interface JournalWriteResult {
  /** Vouchers this call wrote entries to. */
  vouchers: number;
  /** Entries this call created. */
  created: number;
  /** Rows whose entries were stored already (by an earlier or an overlapping run), with the stored entries. */
  existing: Map<string, LedgerEntry[]>;
}

const ATTEMPTS = 6;

function assertPlaced(row: JournalRow): void {
  const { reservation: r, entries } = row;
  if (entries.length > r.lineCount) throw new Error(`Row ${row.actualId} has ${entries.length} ledger entries but reserved ${r.lineCount} lines of voucher ${r.voucher}`);
  entries.forEach((e, i) => {
    if (e.Voucher !== r.voucher || e.LineNumber !== r.firstLine + i || e.Reference !== row.actualId) {
      throw new Error(`Ledger entry ${e.Voucher}/${e.LineNumber} of row ${row.actualId} is not on its reserved lines ${r.voucher}/${r.firstLine}..`);
    }
  });
}

/** Write each voucher's rows' entries (create-if-absent, a row's pair never split); see the module comment. */
export async function writeJournalEntries(store: TableStore<LedgerEntry>, rows: readonly JournalRow[], concurrency: number): Promise<JournalWriteResult> {
  const result: JournalWriteResult = { vouchers: 0, created: 0, existing: new Map() };
  const byVoucher = new Map<string, JournalRow[]>();
  for (const row of rows) {
    assertPlaced(row);
    if (!row.entries.length) continue;
    let list = byVoucher.get(row.reservation.voucher);
    if (!list) byVoucher.set(row.reservation.voucher, (list = []));
    list.push(row);
  }
  if (!byVoucher.size) return result;
  await mapLimit([...byVoucher.entries()], concurrency, async ([voucher, group]) => {
    let pending = group;
    for (let attempt = 1; pending.length; attempt++) {
      const entries = pending.flatMap((r) => r.entries);
      if (entries.length > MAX_BATCH) throw new Error(`Voucher ${voucher}: ${entries.length} entries do not fit one transaction`);
      try {
        await store.transact(entries.map((record) => ({ op: 'create', record })));
        result.created += entries.length;
        result.vouchers++;
        return;
      } catch (error) {
        if (!isConflict(error) || attempt >= ATTEMPTS) throw error;
      }
      const stored = new Map<number, Stored<LedgerEntry>>((await store.listPartition(voucher)).map((e) => [e.LineNumber, e] as const));
      const next: JournalRow[] = [];
      for (const row of pending) {
        const found = row.entries.map((e) => stored.get(e.LineNumber));
        if (found.every((f) => f === undefined)) {
          next.push(row);
          continue;
        }
        const own = found.every((f, i) => f !== undefined && f.Reference === row.actualId && f.MainAccount === row.entries[i]!.MainAccount);
        if (!own) {
          throw new Error(
            `Ledger voucher ${voucher}, lines ${row.reservation.firstLine}-${row.reservation.firstLine + row.entries.length - 1} reserved for ${row.actualId}, ` +
              `hold ${found.map((f) => (f ? `${f.MainAccount} of ${f.Reference ?? '?'}` : 'nothing')).join(' and ')}: nothing written for it`,
          );
        }
        result.existing.set(row.actualId, found.map((f) => stripEtag(f!)));
      }
      pending = next;
    }
  });
  return result;
}

function stripEtag(entry: Stored<LedgerEntry>): LedgerEntry {
  const { etag: _etag, ...rest } = entry;
  return rest;
}

/** The accounting amount a row's stored entries posted (its first entry is the debit of that amount). */
export function postedAccountingAmount(entries: readonly LedgerEntry[]): string | undefined {
  const first = entries[0];
  return first === undefined ? undefined : amount(first.Amount);
}
