/**
 * The pending index of actuals staging (`foStagingWork`): a copy of every staging row import still
 * has to finish, spread over eight shards by contract (shards.ts), so a run costs what there is to
 * do, not what the staging table holds. Entries are addressed by the shard they were listed in.
 * Scheme and crash order: docs/decisions/import-from-staging.md.
 */
import { z } from 'zod';
import { mapLimit } from '../../core/collections';
import { timestampString } from '../../core/fields';
import { stagingRowSchema, type StagingRow } from '../records';
import type { JournalReservation } from '../rules/import';
import { TableStore, type TableAccess } from '../../storage/tableStore';
import { VoucherReservations } from './journalStore';
import { contractShardsOf, shardOf, STAGING_WORK_SHARDS, workShardOf } from './shards';

export { contractShardsOf, shardOf, STAGING_WORK_SHARDS, workShardOf };

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

/** Where an index entry is: the shard it was listed in and its actual. */
export type WorkKey = Pick<StagingWorkItem, 'Shard' | 'ActualId'>;

/** What use cases need of the index. */
export interface StagingWorkPort {
  /** Index these staging rows (create-if-absent), in their contract's shards. */
  add(rows: readonly StagingRow[], queuedAt: Date): Promise<void>;
  /**
   * Every unfinished entry: Pending ones first, then Waiting and Error ones, each oldest first, so
   * rows that keep waiting never starve new work. An actual may have two entries (one written
   * before the index was sharded by contract, one after): both are listed.
   */
  list(): Promise<StagingWorkItem[]>;
  /** Put these entries (still unfinished) behind the others of their kind: QueuedAt = `at`. */
  requeue(keys: readonly WorkKey[], at: Date): Promise<void>;
  /** Remember the status import gave these entries (entries deleted meanwhile stay deleted). */
  setStatus(entries: ReadonlyArray<WorkKey & Pick<StagingRow, 'ImportStatus' | 'ImportMessage'>>): Promise<void>;
  /** Forget finished entries (already-deleted ones are fine). */
  remove(keys: readonly WorkKey[]): Promise<void>;
  /**
   * Pin the journal slots of rows about to be posted (journalStore.ts): every row's reservation,
   * the one wanted or the one it had already (which wins, for good).
   */
  reserveJournals(wanted: readonly JournalReservation[], reservedOn: Date): Promise<Map<string, JournalReservation>>;
}

/**
 * Listed entries, one per actual (the first of each, so in the listing's order), and every entry's
 * key by actual: an actual may have two entries for a while (a sync message delivered again after
 * the index moved to shards by contract). Import works on `once` and addresses `entries`; the
 * repair sweep counts `once`.
 */
export function oncePerActual(listed: readonly StagingWorkItem[]): { once: StagingWorkItem[]; entries: Map<string, WorkKey[]> } {
  const once: StagingWorkItem[] = [];
  const entries = new Map<string, WorkKey[]>();
  for (const item of listed) {
    const key = { Shard: item.Shard, ActualId: item.ActualId };
    const keys = entries.get(item.ActualId);
    if (keys) keys.push(key);
    else {
      entries.set(item.ActualId, [key]);
      once.push(item);
    }
  }
  return { once, entries };
}

function inImportOrder(a: StagingWorkItem, b: StagingWorkItem): number {
  const pa = a.ImportStatus === 'Pending' ? 0 : 1;
  const pb = b.ImportStatus === 'Pending' ? 0 : 1;
  if (pa !== pb) return pa - pb;
  if (a.QueuedAt !== b.QueuedAt) return a.QueuedAt < b.QueuedAt ? -1 : 1;
  return a.ActualId < b.ActualId ? -1 : a.ActualId > b.ActualId ? 1 : 0;
}

export class StagingWork implements StagingWorkPort {
  readonly store: TableStore<StagingWorkItem>;
  /** The journal slots of posted rows (foVoucherReservations), kept after the index entry goes. */
  readonly journals: VoucherReservations;

  constructor(connectionString: TableAccess) {
    this.store = new TableStore(connectionString, STAGING_WORK_TABLE, stagingWorkSchema, (r) => ({ partitionKey: r.Shard, rowKey: r.ActualId }));
    this.journals = new VoucherReservations(connectionString);
  }

  reserveJournals(wanted: readonly JournalReservation[], reservedOn: Date): Promise<Map<string, JournalReservation>> {
    return this.journals.reserve(wanted, reservedOn);
  }

  async add(rows: readonly StagingRow[], queuedAt: Date): Promise<void> {
    const at = queuedAt.toISOString();
    await this.store.createManyIfAbsent(rows.map((r) => ({ ...r, Shard: workShardOf(r), QueuedAt: at })));
  }

  async list(): Promise<StagingWorkItem[]> {
    const shards = Array.from({ length: STAGING_WORK_SHARDS }, (_, i) => `S${i}`);
    const pages = await mapLimit(shards, STAGING_WORK_SHARDS, (shard) => this.store.listPartition(shard));
    return pages
      .flat()
      .map(({ etag: _etag, ...item }) => item)
      .sort(inImportOrder);
  }

  async setStatus(entries: ReadonlyArray<WorkKey & Pick<StagingRow, 'ImportStatus' | 'ImportMessage'>>): Promise<void> {
    const byKey = new Map(entries.map((e) => [`${e.Shard}/${e.ActualId}`, e] as const));
    await this.store.mergeFieldsMany(
      [...byKey.values()].map((e) => ({
        keys: { partitionKey: e.Shard, rowKey: e.ActualId },
        fields: e.ImportMessage === undefined ? { ImportStatus: e.ImportStatus } : { ImportStatus: e.ImportStatus, ImportMessage: e.ImportMessage },
      })),
      { missing: 'skip' },
    );
  }

  async requeue(keys: readonly WorkKey[], at: Date): Promise<void> {
    const queuedAt = at.toISOString();
    const unique = new Map(keys.map((k) => [`${k.Shard}/${k.ActualId}`, k] as const));
    await this.store.mergeFieldsMany(
      [...unique.values()].map((k) => ({ keys: { partitionKey: k.Shard, rowKey: k.ActualId }, fields: { QueuedAt: queuedAt } })),
      { missing: 'skip' },
    );
  }

  async remove(keys: readonly WorkKey[]): Promise<void> {
    await this.store.deleteMany(keys.map((k) => ({ partitionKey: k.Shard, rowKey: k.ActualId })));
  }
}
