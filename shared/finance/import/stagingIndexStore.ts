/**
 * The pending index of actuals staging (`foStagingWork`, in the FinanceTables account): one row per
 * staging row that import still has to finish, so an import run costs what there is to do, not
 * what the staging table holds.
 *
 * Scheme
 * - PartitionKey = a shard "S0".."S7" (from a hash of the ActualId), RowKey = ActualId. The row is
 *   a copy of the staging row as syncActuals wrote it (the actual's fields never change after
 *   that), plus QueuedAt, and the ImportStatus / ImportMessage import last gave it. Eight
 *   partitions spread the writes; a run lists all eight (paged queries, in parallel) and needs no
 *   read of the staging table at all in the common case.
 * - syncActuals writes the index rows FIRST, then the staging rows, both create-if-absent. A crash
 *   between the two leaves an index row whose staging row is missing; the redelivered message
 *   writes it, and if import gets there first it writes the staging row from the copy (the same
 *   content), so nothing is lost either way.
 * - importFromStaging deletes an index row only after its staging row is stored as Imported.
 *   Waiting and Error rows keep their index row (with the new status) and are retried every run.
 * - An index row may exist for a row that is Imported already (an actual re-sent after import).
 *   Import notices because the transaction or line it would create exists already; it then reads
 *   the staging row, and if it is Imported only deletes the index row. (Its ledger entries are
 *   not posted again: the row's journal slot is pinned for good in foVoucherReservations, which
 *   outlives the index entry; see journals.ts.)
 */
import { z } from 'zod';
import { mapLimit } from '../../core/collections';
import { timestampString } from '../../core/fields';
import { stagingRowSchema, type StagingRow } from '../records';
import type { JournalReservation } from '../rules/import';
import { TableStore } from '../../storage/tableStore';
import { VoucherReservations } from './journalStore';
import { shardOf, STAGING_WORK_SHARDS } from './shards';

export { shardOf, STAGING_WORK_SHARDS };

export const STAGING_WORK_TABLE = 'foStagingWork';

export const stagingWorkSchema = stagingRowSchema.extend({
  Shard: z.string().regex(/^S\d+$/),
  QueuedAt: timestampString,
});
export type StagingWorkItem = z.infer<typeof stagingWorkSchema>;

/** The staging row an index item is a copy of. */
export function stagingRowOf(item: StagingWorkItem): StagingRow {
  const { Shard: _shard, QueuedAt: _queued, ...row } = item;
  return row;
}

/** What use cases need of the index. */
export interface StagingWorkPort {
  /** Index these staging rows (create-if-absent). */
  add(rows: readonly StagingRow[], queuedAt: Date): Promise<void>;
  /** Every unfinished item, oldest first. */
  list(): Promise<StagingWorkItem[]>;
  /** Remember the status import gave these rows (items deleted meanwhile stay deleted). */
  setStatus(rows: ReadonlyArray<Pick<StagingRow, 'ActualId' | 'ImportStatus' | 'ImportMessage'>>): Promise<void>;
  /** Forget finished items (already-deleted ones are fine). */
  remove(items: ReadonlyArray<Pick<StagingRow, 'ActualId'>>): Promise<void>;
  /**
   * Pin the journal slots of rows about to be posted (journalStore.ts): every row's reservation,
   * the one wanted or the one it had already (which wins, for good).
   */
  reserveJournals(wanted: readonly JournalReservation[], reservedOn: Date): Promise<Map<string, JournalReservation>>;
}

function byThenActualId(a: StagingWorkItem, b: StagingWorkItem): number {
  if (a.QueuedAt !== b.QueuedAt) return a.QueuedAt < b.QueuedAt ? -1 : 1;
  return a.ActualId < b.ActualId ? -1 : a.ActualId > b.ActualId ? 1 : 0;
}

export class StagingWork implements StagingWorkPort {
  readonly store: TableStore<StagingWorkItem>;
  /** The journal slots of posted rows (foVoucherReservations), kept after the index entry goes. */
  readonly journals: VoucherReservations;

  constructor(connectionString: string) {
    this.store = new TableStore(connectionString, STAGING_WORK_TABLE, stagingWorkSchema, (r) => ({ partitionKey: r.Shard, rowKey: r.ActualId }));
    this.journals = new VoucherReservations(connectionString);
  }

  reserveJournals(wanted: readonly JournalReservation[], reservedOn: Date): Promise<Map<string, JournalReservation>> {
    return this.journals.reserve(wanted, reservedOn);
  }

  async add(rows: readonly StagingRow[], queuedAt: Date): Promise<void> {
    const at = queuedAt.toISOString();
    await this.store.createManyIfAbsent(rows.map((r) => ({ ...r, Shard: shardOf(r.ActualId), QueuedAt: at })));
  }

  async list(): Promise<StagingWorkItem[]> {
    const shards = Array.from({ length: STAGING_WORK_SHARDS }, (_, i) => `S${i}`);
    const pages = await mapLimit(shards, STAGING_WORK_SHARDS, (shard) => this.store.listPartition(shard));
    return pages
      .flat()
      .map(({ etag: _etag, ...item }) => item)
      .sort(byThenActualId);
  }

  async setStatus(rows: ReadonlyArray<Pick<StagingRow, 'ActualId' | 'ImportStatus' | 'ImportMessage'>>): Promise<void> {
    const byId = new Map(rows.map((r) => [r.ActualId, r] as const));
    await this.store.mergeFieldsMany(
      [...byId.values()].map((row) => ({
        keys: { partitionKey: shardOf(row.ActualId), rowKey: row.ActualId },
        fields: row.ImportMessage === undefined ? { ImportStatus: row.ImportStatus } : { ImportStatus: row.ImportStatus, ImportMessage: row.ImportMessage },
      })),
      { missing: 'skip' },
    );
  }

  async remove(items: ReadonlyArray<Pick<StagingRow, 'ActualId'>>): Promise<void> {
    await this.store.deleteMany(items.map((i) => ({ partitionKey: shardOf(i.ActualId), rowKey: i.ActualId })));
  }
}
