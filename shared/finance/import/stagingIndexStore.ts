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
import { stagingRowSchema, type StagingRow } from '../records';
import type { JournalReservation } from '../rules/import';
import { shortHash } from '../../core/ids';
import { timestampString } from '../../core/fields';
import { chunk, mapLimit } from '../../storage/concurrency';
import { fieldsOf, isStatus, MAX_BATCH, TableStore, WRITE_CONCURRENCY, type Row, type Stored } from '../../storage/tableStore';
import { VoucherReservations } from './journalStore';

export const STAGING_WORK_TABLE = 'foStagingWork';
export const STAGING_WORK_SHARDS = 8;

export const stagingWorkSchema = stagingRowSchema.extend({
  Shard: z.string().regex(/^S\d+$/),
  QueuedAt: timestampString,
});
export type StagingWorkItem = z.infer<typeof stagingWorkSchema>;

export function shardOf(actualId: string): string {
  return `S${Number.parseInt(shortHash(4, actualId), 16) % STAGING_WORK_SHARDS}`;
}

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
   * Pin the journal slots of rows about to be posted (journals.ts): every row's reservation, the
   * one wanted or the one it had already (which wins, for good).
   */
  reserveJournals(wanted: readonly JournalReservation[], reservedOn: Date): Promise<Map<string, JournalReservation>>;
}

function byThenActualId(a: StagingWorkItem, b: StagingWorkItem): number {
  if (a.QueuedAt !== b.QueuedAt) return a.QueuedAt < b.QueuedAt ? -1 : 1;
  return a.ActualId < b.ActualId ? -1 : a.ActualId > b.ActualId ? 1 : 0;
}

export function isMissing(error: unknown): boolean {
  return isStatus(error, 404) || (error instanceof Error && /ResourceNotFound|not ?found|does not exist/i.test(error.message));
}

export function isConflict(error: unknown): boolean {
  return isStatus(error, 409) || (error instanceof Error && /EntityAlreadyExists|already exists/i.test(error.message));
}

export function isPrecondition(error: unknown): boolean {
  return isStatus(error, 412) || (error instanceof Error && /UpdateConditionNotSatisfied|precondition/i.test(error.message));
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
    await this.perShard(
      [...byId.keys()],
      (shard, id) => {
        const row = byId.get(id)!;
        const entity: Record<string, unknown> & { partitionKey: string; rowKey: string } = { partitionKey: shard, rowKey: id, ImportStatus: row.ImportStatus };
        if (row.ImportMessage !== undefined) entity.ImportMessage = row.ImportMessage;
        return entity;
      },
      'update',
    );
  }

  async remove(items: ReadonlyArray<Pick<StagingRow, 'ActualId'>>): Promise<void> {
    await this.perShard(
      items.map((i) => i.ActualId),
      (shard, id) => ({ partitionKey: shard, rowKey: id }),
      'delete',
    );
  }

  /** Merge-updates or deletes by shard in 100-row transactions; a transaction hitting a row deleted meanwhile is redone row by row. */
  private async perShard(
    ids: readonly string[],
    entity: (shard: string, id: string) => Record<string, unknown> & { partitionKey: string; rowKey: string },
    kind: 'update' | 'delete',
  ): Promise<void> {
    if (!ids.length) return;
    await this.store.ready();
    const byShard = new Map<string, Set<string>>();
    for (const id of ids) {
      const shard = shardOf(id);
      let set = byShard.get(shard);
      if (!set) byShard.set(shard, (set = new Set()));
      set.add(id);
    }
    const batches = [...byShard.entries()].flatMap(([shard, set]) => chunk([...set], MAX_BATCH).map((group) => group.map((id) => entity(shard, id))));
    await mapLimit(batches, WRITE_CONCURRENCY, async (batch) => {
      try {
        await this.store.submit(batch.map((e) => (kind === 'delete' ? ['delete', e] : ['update', e, 'Merge'])));
      } catch (error) {
        if (!isMissing(error)) throw error;
        await mapLimit(batch, WRITE_CONCURRENCY, async (e) => {
          try {
            if (kind === 'delete') await this.store.client.deleteEntity(e.partitionKey, e.rowKey);
            else await this.store.client.updateEntity(e, 'Merge');
          } catch (inner) {
            if (!isMissing(inner)) throw inner;
          }
        });
      }
    });
  }
}

const byConnection = new Map<string, StagingWork>();

/** One StagingWork per connection string per process. */
export function stagingWorkFor(connectionString: string): StagingWork {
  let work = byConnection.get(connectionString);
  if (!work) byConnection.set(connectionString, (work = new StagingWork(connectionString)));
  return work;
}

export function entityOf<T>(store: TableStore<T>, record: T): Row {
  const row = store.toRow(record);
  return { partitionKey: row.partitionKey, rowKey: row.rowKey, ...fieldsOf(row) };
}

const keyOf = (row: { partitionKey: string; rowKey: string }) => `${row.partitionKey}/${row.rowKey}`;

/**
 * Create every record that does not exist yet (100-row transactions per partition, a few in
 * flight) and say which ones existed already ("PartitionKey/RowKey"), with their stored version.
 * Only a transaction that meets an existing row costs reads: its rows are read one by one and the
 * missing ones created again (repeated if another writer keeps getting there first).
 */
export async function createManyReportingExisting<T>(store: TableStore<T>, records: readonly T[]): Promise<{ created: number; existing: Map<string, Stored<T>> }> {
  const existing = new Map<string, Stored<T>>();
  let created = 0;
  if (!records.length) return { created, existing };
  await store.ready();
  const byPartition = new Map<string, Map<string, Row>>();
  for (const record of records) {
    const entity = entityOf(store, record);
    let group = byPartition.get(entity.partitionKey);
    if (!group) byPartition.set(entity.partitionKey, (group = new Map()));
    if (!group.has(entity.rowKey)) group.set(entity.rowKey, entity);
  }
  const batches = [...byPartition.values()].flatMap((group) => chunk([...group.values()], MAX_BATCH));
  await mapLimit(batches, WRITE_CONCURRENCY, async (batch) => {
    let pending = batch;
    for (let attempt = 1; pending.length; attempt++) {
      try {
        await store.submit(pending.map((e) => ['create', e]));
        created += pending.length;
        return;
      } catch (error) {
        if (!isConflict(error) || attempt > 5) throw error;
      }
      const found = await mapLimit(pending, WRITE_CONCURRENCY, async (e) => ({ e, stored: await store.get(e.partitionKey, e.rowKey) }));
      pending = [];
      for (const { e, stored } of found) {
        if (stored) existing.set(keyOf(e), stored);
        else pending.push(e);
      }
    }
  });
  return { created, existing };
}

/**
 * Replace each stored record only if it is unchanged since it was read (its ETag): 100-row
 * transactions per partition, a few in flight; a transaction that fails (one of its rows changed
 * meanwhile) is retried row by row. Returns the keys ("PartitionKey/RowKey") that were written.
 */
export async function replaceManyIfMatch<T>(store: TableStore<T>, records: ReadonlyArray<{ record: T; etag: string }>): Promise<Set<string>> {
  const written = new Set<string>();
  if (!records.length) return written;
  await store.ready();
  const byPartition = new Map<string, Array<{ key: string; record: T; etag: string; entity: Row }>>();
  for (const { record, etag } of records) {
    const entity = entityOf(store, record);
    let list = byPartition.get(entity.partitionKey);
    if (!list) byPartition.set(entity.partitionKey, (list = []));
    list.push({ key: keyOf(entity), record, etag, entity });
  }
  const batches = [...byPartition.values()].flatMap((list) => chunk(list, MAX_BATCH));
  await mapLimit(batches, WRITE_CONCURRENCY, async (batch) => {
    if (batch.length > 1) {
      try {
        await store.submit(batch.map((b) => ['update', b.entity, 'Replace', { etag: b.etag }]));
        for (const b of batch) written.add(b.key);
        return;
      } catch (error) {
        if (!isPrecondition(error) && !isMissing(error)) throw error;
      }
    }
    await mapLimit(batch, WRITE_CONCURRENCY, async (b) => {
      if (await store.replaceIfMatch(b.record, b.etag)) written.add(b.key);
    });
  });
  return written;
}

/**
 * Merge `fields` into each stored row (no ETag: for writes whose content is final, such as a row
 * becoming Imported): 100-row "update" transactions per partition carrying only those fields, a
 * few in flight. A transaction that meets a missing row is redone row by row, and a missing row is
 * written whole from `record`. (Azurite handles small "update" batches several times faster than
 * "upsert" batches of whole rows; Table storage is no slower with them.)
 */
export async function mergeMany<T>(store: TableStore<T>, items: ReadonlyArray<{ record: T; fields: Partial<T> }>): Promise<void> {
  if (!items.length) return;
  await store.ready();
  const byPartition = new Map<string, Array<{ patch: Row; whole: Row }>>();
  for (const { record, fields } of items) {
    const whole = entityOf(store, { ...record, ...fields });
    const patch: Row = { partitionKey: whole.partitionKey, rowKey: whole.rowKey, ...fieldsOf(fields as Record<string, unknown>) };
    let list = byPartition.get(whole.partitionKey);
    if (!list) byPartition.set(whole.partitionKey, (list = []));
    list.push({ patch, whole });
  }
  const batches = [...byPartition.values()].flatMap((list) => chunk(list, MAX_BATCH));
  await mapLimit(batches, WRITE_CONCURRENCY, async (batch) => {
    try {
      await store.submit(batch.map((b) => ['update', b.patch, 'Merge']));
      return;
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    await mapLimit(batch, WRITE_CONCURRENCY, async (b) => {
      try {
        await store.client.updateEntity(b.patch, 'Merge');
      } catch (error) {
        if (!isMissing(error)) throw error;
        await store.client.upsertEntity(b.whole, 'Merge');
      }
    });
  });
}

/**
 * Create each group (the rows of one partition, at most 100, e.g. one ledger voucher) as one
 * all-or-nothing transaction, a few in flight. A group that meets an existing row was written
 * whole by someone else before (groups are only ever written this way), so it is left as it is
 * without reading anything. Returns how many groups this call created.
 */
export async function createGroupsIfAbsent<T>(store: TableStore<T>, groups: ReadonlyArray<readonly T[]>, concurrency = WRITE_CONCURRENCY): Promise<number> {
  const nonEmpty = groups.filter((g) => g.length > 0);
  if (!nonEmpty.length) return 0;
  await store.ready();
  const created = await mapLimit(nonEmpty, concurrency, async (group): Promise<number> => {
    const entities = group.map((record) => entityOf(store, record));
    const partitions = new Set(entities.map((e) => e.partitionKey));
    if (partitions.size !== 1 || entities.length > MAX_BATCH) {
      throw new Error(`${store.tableName}: a group must be at most ${MAX_BATCH} rows of one partition`);
    }
    try {
      await store.submit(entities.map((e) => ['create', e]));
      return 1;
    } catch (error) {
      if (isConflict(error)) return 0;
      throw error;
    }
  });
  return created.reduce((a, b) => a + b, 0);
}

/**
 * The RowKeys of the rows matching `filter` (only that column is transferred), page by page. Stops
 * early when `visit` returns false; answers whether the listing ran to its end.
 */
export async function scanRowKeys<T>(store: TableStore<T>, filter: string, visit: (rowKey: string) => boolean): Promise<boolean> {
  await store.ready();
  const pages = store.client.listEntities<Record<string, unknown>>({ queryOptions: { filter, select: ['RowKey'] } }).byPage({ maxPageSize: 1_000 });
  for await (const page of pages) {
    for (const entity of page) if (!visit(String(entity.rowKey))) return false;
  }
  return true;
}
