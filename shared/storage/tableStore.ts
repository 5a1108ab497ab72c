/**
 * The storage kit: one typed table over the Azure Tables SDK, and the only place (with the
 * stores that name their queries) that knows it. Rows are parsed with zod on the way in; writes
 * are create-if-absent, ETag-guarded or merges, batched as entity-group transactions of at most
 * 100 rows of one partition with a few in flight; queries page through continuation tokens.
 * Failures are classified by code and status (storageErrors.ts). Decisions behind the write
 * shapes: docs/decisions/storage-kit.md.
 */
import { odata, TableClient, TableServiceClient, TableTransaction, type TableEntity, type TableServiceClientOptions, type TransactionAction } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import type { z } from 'zod';
import { chunk, mapLimit } from '../core/collections';
import { BusinessError, StaleWriteError, ValidationError } from '../core/errors';
import type { Stored } from '../core/stored';
import { isConflict, isMissing, isPreconditionFailed } from './storageErrors';
import { storageTracingPolicy } from './tracing';
import { queryEntitiesPage, readEntity, TYPED, type NextPage, type ReadEntity } from './entityReads';
import { handBuilt, plainAccount, submitTransaction } from './transactionBatch';

export { odata };
export type { Stored };

/** Largest entity-group transaction Table storage accepts. */
export const MAX_BATCH = 100;
/** Transactions in flight at once per bulk write. */
export const WRITE_CONCURRENCY = 8;
/** Point reads in flight at once. */
export const READ_CONCURRENCY = 32;
/** Longest key Table storage accepts: PartitionKey and RowKey are 1 KiB each, 512 UTF-16 characters. */
export const MAX_KEY_LENGTH = 512;

export interface Keys {
  partitionKey: string;
  rowKey: string;
}
export type Row = Record<string, unknown> & Keys;

/** "PartitionKey/RowKey": how bulk operations name a row in their answers. */
export function keyOf(row: Keys): string {
  return `${row.partitionKey}/${row.rowKey}`;
}

/** A key the service refuses can never be written: that is bad input, not a passing fault. */
export class InvalidKeyError extends ValidationError {
  override name = 'InvalidKeyError';
}

/** A stored row that breaks its schema: a Business error naming the table, the keys and the fields. */
export class MalformedRowError extends BusinessError {
  override name = 'MalformedRowError';
}

/** Whether Table storage could hold a row under this key value (see assertKey). */
export function isStorableKey(value: string): boolean {
  return value.length > 0 && value.length <= MAX_KEY_LENGTH && !/[/\\#?\u0000-\u001f\u007f-\u009f]/.test(value);
}

/** Key values may not contain / \ # ? or control characters, nor be longer than 1 KiB (512 characters). */
export function assertKey(value: string, what: string): string {
  if (!value || /[/\\#?\u0000-\u001f\u007f-\u009f]/.test(value)) {
    throw new InvalidKeyError(`${what} "${value.slice(0, 100)}" cannot be used as a table key (empty, or it holds / \\ # ? or a control character)`);
  }
  if (value.length > MAX_KEY_LENGTH) {
    throw new InvalidKeyError(`${what} "${value.slice(0, 40)}…" is ${value.length} characters long; a table key holds at most ${MAX_KEY_LENGTH} (1 KiB)`);
  }
  return value;
}

const METADATA = new Set(['partitionKey', 'rowKey', 'etag', 'timestamp', 'odata.metadata', 'odata.etag']);

/** The entity's own fields, without keys and metadata, with undefined/null dropped. */
export function fieldsOf(entity: Record<string, unknown>): Record<string, unknown> {
  return copyFields(entity, {});
}

/** Copy the entity's own fields (as fieldsOf keeps them) into `out`; no entry arrays, it runs per row written or read. */
function copyFields<R extends Record<string, unknown>>(entity: Record<string, unknown>, out: R): R {
  for (const k of Object.keys(entity)) {
    const v = entity[k];
    if (v === null || v === undefined || METADATA.has(k)) continue;
    (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

/**
 * How a store reaches its tables: a connection string (Azurite locally, an account key), or the
 * table service URI and a token credential (an identity; shared/identity/credentials.ts).
 */
export type TableAccess = string | { tableServiceUri: string; credential: TokenCredential };

export function clientOptionsFor(connectionString: string): { allowInsecureConnection: boolean } {
  return { allowInsecureConnection: /TableEndpoint=http:\/\//i.test(connectionString) || /UseDevelopmentStorage=true/i.test(connectionString) };
}

/** Client options: plain http for local connection strings, and one span per storage call (./tracing.ts). */
function optionsFor(access: TableAccess, table: string | undefined): TableServiceClientOptions {
  return {
    ...(typeof access === 'string' ? clientOptionsFor(access) : {}),
    additionalPolicies: [{ policy: storageTracingPolicy(table), position: 'perCall' }],
  };
}

/** A Table client for one table, from a connection string or an identity. */
function tableClientFor(access: TableAccess, table: string): TableClient {
  return typeof access === 'string'
    ? TableClient.fromConnectionString(access, table, optionsFor(access, table))
    : new TableClient(access.tableServiceUri, table, access.credential, optionsFor(access, table));
}

/** One write of an all-or-nothing transaction (`TableStore.transact`). */
export type TableWrite<T> =
  | { op: 'create'; record: T }
  | { op: 'replace'; record: T; etag?: string }
  | { op: 'upsert'; record: T; mode?: 'Replace' | 'Merge' }
  | { op: 'merge'; keys: Keys; fields: Record<string, unknown>; etag?: string }
  | { op: 'delete'; keys: Keys };

/** A merge of some fields into one stored row. */
export interface FieldPatch {
  keys: Keys;
  fields: Record<string, unknown>;
}

export class TableStore<T> {
  private readonly client: TableClient;
  private created: Promise<void> | undefined;
  /** Whether reads go as the kit's own requests (entityReads.ts) rather than the SDK's calls. */
  private readonly kitReads: boolean;

  constructor(
    access: TableAccess,
    readonly tableName: string,
    private readonly schema: z.ZodType<T>,
    private readonly keys: (record: T) => Keys,
    /**
     * The columns the keys hold (contract.md: "a column that the partition key already holds is
     * taken from the key when the row lacks it"), so a row written with the contract's columns
     * alone reads back whole.
     */
    private readonly keyColumns: { partitionKey?: string; rowKey?: string } = {},
  ) {
    this.client = tableClientFor(access, tableName);
    this.kitReads = plainAccount(this.client.url);
  }

  /** The table's URL (no key): where this store reads and writes. */
  get url(): string {
    return `${this.client.url.replace(/\/+$/, '')}/${this.tableName}`;
  }

  /** Create the table if it does not exist yet (once per process). */
  ready(): Promise<void> {
    this.created ??= this.client.createTable().catch((error: unknown) => {
      this.created = undefined;
      throw error;
    });
    return this.created;
  }

  keysOf(record: T): Keys {
    const { partitionKey, rowKey } = this.keys(record);
    return { partitionKey: assertKey(partitionKey, `${this.tableName} PartitionKey`), rowKey: assertKey(rowKey, `${this.tableName} RowKey`) };
  }

  /** The record as a row: its keys and its defined fields (no metadata, no undefined or null). */
  toRow(record: T): Row {
    const { partitionKey, rowKey } = this.keysOf(record);
    return copyFields(record as Record<string, unknown>, { partitionKey, rowKey });
  }

  /** Parse a stored entity; a row that fails its schema is reported with its table, keys and fields. */
  parse(entity: Record<string, unknown>): Stored<T> {
    const fields = fieldsOf(entity);
    const { partitionKey, rowKey } = this.keyColumns;
    if (partitionKey !== undefined && fields[partitionKey] === undefined && typeof entity.partitionKey === 'string') fields[partitionKey] = entity.partitionKey;
    if (rowKey !== undefined && fields[rowKey] === undefined && typeof entity.rowKey === 'string') fields[rowKey] = entity.rowKey;
    const result = this.schema.safeParse(fields);
    if (!result.success) {
      throw new MalformedRowError(
        `${this.tableName} row ${String(entity.partitionKey)}/${String(entity.rowKey)} is malformed: ${result.error.issues
          .map((i) => `${i.path.join('.')}: ${i.message}`)
          .join('; ')}`,
      );
    }
    return { ...result.data, etag: String(entity.etag ?? '') } as Stored<T>;
  }

  // ---- reads ------------------------------------------------------------------------------

  async get(partitionKey: string, rowKey: string): Promise<Stored<T> | undefined> {
    // No row can be stored under a key the service refuses; asking would only be an error.
    if (!isStorableKey(partitionKey) || !isStorableKey(rowKey)) return undefined;
    await this.ready();
    if (this.kitReads) {
      const entity = await readEntity(this.client, this.tableName, partitionKey, rowKey);
      if (entity !== TYPED) return entity === undefined ? undefined : this.parse(entity);
    }
    try {
      return this.parse(await this.client.getEntity<Record<string, unknown>>(partitionKey, rowKey));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** Point reads of many rows, a few in flight; the answer holds the rows found, by "PartitionKey/RowKey". */
  async getMany(keys: readonly Keys[], concurrency = READ_CONCURRENCY): Promise<Map<string, Stored<T>>> {
    const unique = [...new Map(keys.map((k) => [keyOf(k), k] as const)).values()];
    const found = await mapLimit(unique, concurrency, async (k) => [keyOf(k), await this.get(k.partitionKey, k.rowKey)] as const);
    const out = new Map<string, Stored<T>>();
    for (const [key, row] of found) if (row) out.set(key, row);
    return out;
  }

  /** Every row of a partition, parsed, paged through continuation tokens. */
  async listPartition(partitionKey: string): Promise<Stored<T>[]> {
    return this.query(odata`PartitionKey eq ${partitionKey}`);
  }

  /**
   * The rows of a partition, page by page, up to `limit()` rows (asked before each page, so a limit
   * that becomes known while the listing runs applies from the next page; pages of 1,000, or what
   * is left under the limit): the rows listed and whether the listing reached the partition's end.
   */
  async listPartitionUpTo(partitionKey: string, limit: () => number): Promise<{ rows: Stored<T>[]; complete: boolean }> {
    await this.ready();
    const filter = odata`PartitionKey eq ${partitionKey}`;
    const pageSize = (listed: number) => Math.max(0, Math.min(1_000, limit() - listed));
    if (this.kitReads) {
      const rows: Stored<T>[] = [];
      const complete = await this.eachEntity({ filter, pageSize }, (entity) => {
        rows.push(this.parse(entity));
        return true;
      });
      if (complete !== TYPED) return { rows, complete };
    }
    // The SDK's listing (rows with typed values): its pages are 1,000; the limit cuts between them.
    const rows: Stored<T>[] = [];
    for await (const page of this.client.listEntities<Record<string, unknown>>({ queryOptions: { filter } }).byPage({ maxPageSize: 1_000 })) {
      if (pageSize(rows.length) === 0) return { rows, complete: false };
      for (const entity of page) rows.push(this.parse(entity));
    }
    return { rows, complete: true };
  }

  /** Rows matching an OData filter built with the `odata` template (never by concatenation). */
  async query(filter?: string, options: { top?: number } = {}): Promise<Stored<T>[]> {
    if (options.top !== undefined && options.top <= 0) return [];
    await this.ready();
    if (this.kitReads) {
      const out: Stored<T>[] = [];
      const top = options.top;
      const pageSize = top === undefined ? undefined : (listed: number) => Math.min(1_000, top - listed);
      const complete = await this.eachEntity({ ...(filter ? { filter } : {}), ...(pageSize ? { pageSize } : {}) }, (entity) => {
        out.push(this.parse(entity));
        return top === undefined || out.length < top;
      });
      if (complete !== TYPED) return out;
    }
    const out: Stored<T>[] = [];
    const iterator = this.client.listEntities<Record<string, unknown>>({ queryOptions: filter ? { filter } : {} });
    for await (const entity of iterator) {
      out.push(this.parse(entity));
      if (options.top !== undefined && out.length >= options.top) break;
    }
    return out;
  }

  /** One page of the rows matching `filter` and the token of the next page (none: the last page). */
  async queryPage(filter: string | undefined, options: { pageSize: number; continuationToken?: string }): Promise<{ rows: Stored<T>[]; continuationToken?: string }> {
    await this.ready();
    const pages = this.client
      .listEntities<Record<string, unknown>>({ queryOptions: filter ? { filter } : {} })
      .byPage({ maxPageSize: options.pageSize, ...(options.continuationToken ? { continuationToken: options.continuationToken } : {}) });
    const first = await pages.next();
    if (first.done) return { rows: [] };
    const page = first.value;
    return { rows: page.map((e) => this.parse(e)), ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}) };
  }

  /** One page of the keys of every row (only PartitionKey and RowKey are transferred), and where the next page starts. */
  async keysPage(options: { pageSize: number; continuationToken?: string }): Promise<{ keys: Keys[]; continuationToken?: string }> {
    await this.ready();
    const pages = this.client
      .listEntities<Record<string, unknown>>({ queryOptions: { select: ['PartitionKey', 'RowKey'] } })
      .byPage({ maxPageSize: options.pageSize, ...(options.continuationToken ? { continuationToken: options.continuationToken } : {}) });
    const first = await pages.next();
    if (first.done) return { keys: [] };
    const page = first.value;
    const keys = page.map((e) => ({ partitionKey: String(e.partitionKey), rowKey: String(e.rowKey) }));
    return { keys, ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}) };
  }

  /**
   * The RowKeys of the rows matching `filter` (only that column is transferred), page by page.
   * Stops early when `visit` returns false; answers whether the listing ran to its end.
   */
  async scanRowKeys(filter: string, visit: (rowKey: string) => boolean): Promise<boolean> {
    await this.ready();
    if (this.kitReads) {
      // Only the RowKey column comes back (a string), so no typed value can stop this listing
      // half-way and make the SDK's listing below visit rows a second time.
      const complete = await this.eachEntity({ ...(filter ? { filter } : {}), select: ['RowKey'] }, (entity) => visit(String(entity.rowKey)));
      if (complete !== TYPED) return complete;
    }
    const pages = this.client.listEntities<Record<string, unknown>>({ queryOptions: { ...(filter ? { filter } : {}), select: ['RowKey'] } }).byPage({ maxPageSize: 1_000 });
    for await (const page of pages) {
      for (const entity of page) if (!visit(String(entity.rowKey))) return false;
    }
    return true;
  }

  /** How many rows have each value of one column (rows without it count as "none"); reads only that column. */
  async countBy(column: string, filter?: string): Promise<Map<string, number>> {
    await this.ready();
    const counts = new Map<string, number>();
    const iterator = this.client.listEntities<Record<string, unknown>>({ queryOptions: { select: [column], ...(filter ? { filter } : {}) } });
    for await (const entity of iterator) {
      const value = entity[column];
      const key = typeof value === 'string' || typeof value === 'number' ? String(value) : 'none';
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  }

  /** How many rows match `filter` (all rows without one); reads only the RowKey column. */
  async count(filter?: string): Promise<number> {
    let n = 0;
    await this.scanRowKeys(filter ?? '', () => {
      n++;
      return true;
    });
    return n;
  }

  /** Delete every row (the table stays): for tests and local tools that start over. */
  async clear(): Promise<void> {
    await this.ready();
    const keys: Keys[] = [];
    for await (const e of this.client.listEntities<Record<string, unknown>>({ queryOptions: { select: ['PartitionKey', 'RowKey'] } })) {
      keys.push({ partitionKey: String(e.partitionKey), rowKey: String(e.rowKey) });
    }
    await this.deleteMany(keys);
  }

  /** Delete the table itself (for local tools that measure on a scratch table). */
  async drop(): Promise<void> {
    this.created = undefined;
    try {
      await this.client.deleteTable();
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }

  /** Whether the table holds any row at all (one entity read at most). */
  async isEmpty(): Promise<boolean> {
    await this.ready();
    const page = await this.client.listEntities({ queryOptions: { select: ['RowKey'] } }).byPage({ maxPageSize: 1 }).next();
    return page.done === true || (page.value as unknown[]).length === 0;
  }

  // ---- single writes ----------------------------------------------------------------------

  /** Insert the record; if a row with its keys exists already, leave it and say so. */
  async createIfAbsent(record: T): Promise<'created' | 'exists'> {
    return (await this.insert(record)) === undefined ? 'exists' : 'created';
  }

  /** Insert the record and answer its ETag; undefined when a row with its keys exists already. */
  async insert(record: T): Promise<string | undefined> {
    await this.ready();
    try {
      return (await this.client.createEntity(this.toRow(record))).etag ?? '';
    } catch (error) {
      if (isConflict(error)) return undefined;
      throw error;
    }
  }

  async upsert(record: T, mode: 'Replace' | 'Merge' = 'Replace'): Promise<void> {
    await this.ready();
    await this.client.upsertEntity(this.toRow(record), mode);
  }

  /** Replace the row only if it is unchanged since it was read: its new ETag, or undefined when it changed or is gone. */
  async replaceIfMatch(record: T, etag: string): Promise<string | undefined> {
    await this.ready();
    try {
      return (await this.client.updateEntity(this.toRow(record), 'Replace', { etag })).etag ?? '';
    } catch (error) {
      if (isPreconditionFailed(error) || isMissing(error)) return undefined;
      throw error;
    }
  }

  /**
   * Merge `fields` into an existing row (never creates it), only if its ETag is still `etag`
   * when one is given: the new ETag, or undefined when the row changed or is gone.
   */
  async mergeFields(keys: Keys, fields: Record<string, unknown>, etag?: string): Promise<string | undefined> {
    await this.ready();
    try {
      return (await this.client.updateEntity({ ...keys, ...fieldsOf(fields) }, 'Merge', etag === undefined ? {} : { etag })).etag ?? '';
    } catch (error) {
      if (isPreconditionFailed(error) || isMissing(error)) return undefined;
      throw error;
    }
  }

  async delete(partitionKey: string, rowKey: string): Promise<void> {
    await this.ready();
    try {
      await this.client.deleteEntity(partitionKey, rowKey);
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }

  /** Delete the row only if its ETag is still `etag`; false when it changed or is gone. */
  async deleteIfMatch(partitionKey: string, rowKey: string, etag: string): Promise<boolean> {
    await this.ready();
    try {
      await this.client.deleteEntity(partitionKey, rowKey, { etag });
      return true;
    } catch (error) {
      if (isPreconditionFailed(error) || isMissing(error)) return false;
      throw error;
    }
  }

  /**
   * One all-or-nothing transaction of at most 100 writes to one partition. A failure is the
   * service's error of the first write that failed (classify it with storageErrors.ts).
   */
  async transact(writes: readonly TableWrite<T>[]): Promise<void> {
    if (!writes.length) return;
    if (writes.length > MAX_BATCH) throw new Error(`${this.tableName}: a transaction holds at most ${MAX_BATCH} writes, not ${writes.length}`);
    const actions = writes.map((w) => this.actionOf(w));
    if (new Set(actions.map((a) => (a[1] as Keys).partitionKey)).size > 1) throw new Error(`${this.tableName}: a transaction writes one partition`);
    await this.ready();
    await this.send(actions);
  }

  // ---- bulk writes ------------------------------------------------------------------------

  /**
   * Create every record that does not exist yet; existing rows are left as they are and reported
   * with what they hold ("PartitionKey/RowKey" -> stored row). Records are written as 100-row
   * transactions per partition, a few in flight; only a transaction that meets an existing row
   * costs reads (its rows are read one by one and the missing ones created again, repeated while
   * another writer keeps getting there first). A record given twice is written once.
   */
  async createManyIfAbsent(records: readonly T[]): Promise<{ created: number; existing: Map<string, Stored<T>> }> {
    const existing = new Map<string, Stored<T>>();
    let created = 0;
    if (!records.length) return { created, existing };
    await this.ready();
    const rows = [...new Map(records.map((r) => { const row = this.toRow(r); return [keyOf(row), row] as const; })).values()];
    await mapLimit(this.batches(rows), WRITE_CONCURRENCY, async (batch) => {
      let pending = batch;
      for (let attempt = 1; pending.length; attempt++) {
        try {
          await this.send(pending.map((row) => ['create', row]));
          created += pending.length;
          return;
        } catch (error) {
          if (!isConflict(error) || attempt > 5) throw error;
        }
        const found = await mapLimit(pending, WRITE_CONCURRENCY, async (row) => ({ row, stored: await this.get(row.partitionKey, row.rowKey) }));
        pending = [];
        for (const { row, stored } of found) {
          if (stored) existing.set(keyOf(row), stored);
          else pending.push(row);
        }
      }
    });
    return { created, existing };
  }

  /**
   * Create each group (the rows of one partition, at most 100, e.g. one ledger voucher) as one
   * all-or-nothing transaction, a few in flight. A group that meets an existing row was written
   * whole by someone else before (groups are only ever written this way), so it is left as it is
   * without reading anything. Answers how many groups this call created.
   */
  async createGroupsIfAbsent(groups: ReadonlyArray<readonly T[]>, concurrency = WRITE_CONCURRENCY): Promise<number> {
    const nonEmpty = groups.filter((g) => g.length > 0);
    if (!nonEmpty.length) return 0;
    await this.ready();
    const created = await mapLimit(nonEmpty, concurrency, async (group): Promise<number> => {
      const rows = group.map((record) => this.toRow(record));
      if (new Set(rows.map((r) => r.partitionKey)).size !== 1 || rows.length > MAX_BATCH) {
        throw new Error(`${this.tableName}: a group must be at most ${MAX_BATCH} rows of one partition`);
      }
      try {
        await this.send(rows.map((row) => ['create', row]));
        return 1;
      } catch (error) {
        if (isConflict(error)) return 0;
        throw error;
      }
    });
    return created.reduce((a, b) => a + b, 0);
  }

  /**
   * Replace every row only if it is unchanged since it was read (its ETag), as 100-row
   * transactions per partition. Throws StaleWriteError when a row changed or vanished: the rows of
   * that transaction are not written (others may have been), so the caller re-reads and re-plans.
   */
  async replaceAllIfMatch(items: ReadonlyArray<{ record: T; etag: string }>): Promise<void> {
    if (!items.length) return;
    await this.ready();
    const rows = items.map(({ record, etag }) => ({ row: this.toRow(record), etag }));
    await mapLimit(this.batches(rows, (r) => r.row.partitionKey), WRITE_CONCURRENCY, async (batch) => {
      try {
        await this.send(batch.map(({ row, etag }) => ['update', row, 'Replace', { etag }]));
      } catch (error) {
        if (isPreconditionFailed(error) || isMissing(error)) {
          throw new StaleWriteError(`${this.tableName}: a row of partition ${batch[0]!.row.partitionKey} changed since it was read`, `${this.tableName} ${batch[0]!.row.partitionKey}`);
        }
        throw error;
      }
    });
  }

  /**
   * Replace each row only if it is unchanged since it was read: 100-row transactions per
   * partition; a transaction that fails because one of its rows changed is retried row by row.
   * Answers the keys ("PartitionKey/RowKey") that were written.
   */
  async replaceEachIfMatch(items: ReadonlyArray<{ record: T; etag: string }>): Promise<Set<string>> {
    const written = new Set<string>();
    if (!items.length) return written;
    await this.ready();
    const rows = items.map(({ record, etag }) => ({ record, etag, row: this.toRow(record) }));
    await mapLimit(this.batches(rows, (r) => r.row.partitionKey), WRITE_CONCURRENCY, async (batch) => {
      if (batch.length > 1) {
        try {
          await this.send(batch.map(({ row, etag }) => ['update', row, 'Replace', { etag }]));
          for (const b of batch) written.add(keyOf(b.row));
          return;
        } catch (error) {
          if (!isPreconditionFailed(error) && !isMissing(error)) throw error;
        }
      }
      await mapLimit(batch, WRITE_CONCURRENCY, async (b) => {
        if ((await this.replaceIfMatch(b.record, b.etag)) !== undefined) written.add(keyOf(b.row));
      });
    });
    return written;
  }

  /** Upsert many records: transactions of up to 100 per partition, a few in flight. */
  async upsertMany(records: readonly T[], mode: 'Replace' | 'Merge' = 'Replace'): Promise<void> {
    if (!records.length) return;
    await this.ready();
    await mapLimit(this.batches(records.map((r) => this.toRow(r))), WRITE_CONCURRENCY, (batch) => this.send(batch.map((row) => ['upsert', row, mode])));
  }

  /**
   * Merge `fields` into each stored row (no ETag: for writes whose content is final, such as a
   * row becoming Imported): 100-row transactions per partition carrying only those fields. A
   * transaction that meets a missing row is redone row by row, and a missing row is written whole
   * from `record`. (Azurite handles small "update" batches several times faster than "upsert"
   * batches of whole rows; Table storage is no slower with them.)
   */
  async mergeMany(items: ReadonlyArray<{ record: T; fields: Partial<T> }>): Promise<void> {
    if (!items.length) return;
    await this.ready();
    const rows = items.map(({ record, fields }) => {
      const whole = this.toRow({ ...record, ...fields });
      return { whole, patch: { partitionKey: whole.partitionKey, rowKey: whole.rowKey, ...fieldsOf(fields as Record<string, unknown>) } as Row };
    });
    await mapLimit(this.batches(rows, (r) => r.whole.partitionKey), WRITE_CONCURRENCY, async (batch) => {
      try {
        await this.send(batch.map((b) => ['update', b.patch, 'Merge']));
        return;
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
      await mapLimit(batch, WRITE_CONCURRENCY, async (b) => {
        try {
          await this.client.updateEntity(b.patch, 'Merge');
        } catch (error) {
          if (!isMissing(error)) throw error;
          await this.client.upsertEntity(b.whole, 'Merge');
        }
      });
    });
  }

  /**
   * Merge fields into existing rows (never creating one): 100-row transactions per partition.
   * `missing: 'skip'`: a transaction that meets a missing row is redone row by row and missing
   * rows are left out. `missing: 'fail'`: a missing row fails its transaction (nothing of it is
   * written) and the call throws the service's 404.
   */
  async mergeFieldsMany(patches: readonly FieldPatch[], options: { missing: 'skip' | 'fail' }): Promise<void> {
    if (!patches.length) return;
    await this.ready();
    const rows = patches.map((p) => ({ ...p.keys, ...fieldsOf(p.fields) }) as Row);
    await mapLimit(this.batches(rows), WRITE_CONCURRENCY, async (batch) => {
      try {
        await this.send(batch.map((row) => ['update', row, 'Merge']));
        return;
      } catch (error) {
        if (options.missing === 'fail' || !isMissing(error)) throw error;
      }
      await mapLimit(batch, WRITE_CONCURRENCY, async (row) => {
        try {
          await this.client.updateEntity(row, 'Merge');
        } catch (error) {
          if (!isMissing(error)) throw error;
        }
      });
    });
  }

  /** Delete rows (already-deleted ones are fine): 100-row transactions per partition, redone row by row when one is gone. */
  async deleteMany(keys: readonly Keys[]): Promise<void> {
    if (!keys.length) return;
    await this.ready();
    const unique = [...new Map(keys.map((k) => [keyOf(k), { partitionKey: k.partitionKey, rowKey: k.rowKey }] as const)).values()];
    await mapLimit(this.batches(unique), WRITE_CONCURRENCY, async (batch) => {
      try {
        await this.send(batch.map((row) => ['delete', row]));
        return;
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
      await mapLimit(batch, WRITE_CONCURRENCY, (row) => this.delete(row.partitionKey, row.rowKey));
    });
  }

  // ---- internals --------------------------------------------------------------------------

  /**
   * The kit's own query (entityReads.ts), page after page, each entity handed to `visit` until it
   * answers false. `pageSize(listed)`, asked before each page, sizes it (the service's 1,000 when
   * absent); 0 stops the listing there. Answers whether the listing ran to its end, or TYPED when
   * a page holds a value only the SDK converts: the caller then drops what it collected and asks
   * the SDK from the start.
   */
  private async eachEntity(
    query: { filter?: string; select?: readonly string[]; pageSize?: (listed: number) => number },
    visit: (entity: ReadEntity) => boolean,
  ): Promise<boolean | typeof TYPED> {
    const { pageSize, ...rest } = query;
    let next: NextPage | undefined;
    let listed = 0;
    do {
      const size = pageSize?.(listed);
      if (size === 0) return false;
      const page = await queryEntitiesPage(this.client, this.tableName, { ...rest, ...(size !== undefined ? { pageSize: size } : {}), ...(next ? { next } : {}) });
      if (page === TYPED) return TYPED;
      for (const entity of page.entities) {
        listed++;
        if (!visit(entity)) return false;
      }
      next = page.next;
    } while (next);
    return true;
  }

  private actionOf(write: TableWrite<T>): TransactionAction {
    switch (write.op) {
      case 'create':
        return ['create', this.toRow(write.record)];
      case 'replace':
        return ['update', this.toRow(write.record), 'Replace', write.etag === undefined ? {} : { etag: write.etag }];
      case 'upsert':
        return ['upsert', this.toRow(write.record), write.mode ?? 'Replace'];
      case 'merge':
        return ['update', { ...write.keys, ...fieldsOf(write.fields) }, 'Merge', write.etag === undefined ? {} : { etag: write.etag }];
      case 'delete':
        return ['delete', { partitionKey: write.keys.partitionKey, rowKey: write.keys.rowKey }];
    }
  }

  /** Items grouped by partition, then cut into transactions of at most 100. */
  private batches<R>(items: readonly R[], partitionOf: (item: R) => string = (item) => (item as unknown as Keys).partitionKey): R[][] {
    const byPartition = new Map<string, R[]>();
    for (const item of items) {
      const pk = partitionOf(item);
      let list = byPartition.get(pk);
      if (!list) byPartition.set(pk, (list = []));
      list.push(item);
    }
    return [...byPartition.values()].flatMap((list) => chunk(list, MAX_BATCH));
  }

  /**
   * One transaction; a single action goes as a plain call (cheaper, and errors keep their status).
   * Several go as one entity-group transaction, built by the kit when their values are plain
   * (transactionBatch.ts: a third of the SDK's CPU per entity), else by the SDK.
   */
  private async send(actions: TransactionAction[]): Promise<void> {
    if (!actions.length) return;
    if (actions.length === 1) {
      const action = actions[0]!;
      const entity = action[1] as TableEntity;
      switch (action[0]) {
        case 'create':
          await this.client.createEntity(entity);
          return;
        case 'upsert':
          await this.client.upsertEntity(entity, action[2] ?? 'Merge');
          return;
        case 'update':
          await this.client.updateEntity(entity, action[2] ?? 'Merge', action[3] ?? {});
          return;
        case 'delete':
          await this.client.deleteEntity(entity.partitionKey, entity.rowKey);
          return;
      }
    }
    if (handBuilt(this.client, actions)) await submitTransaction(this.client, this.tableName, actions);
    else await this.client.submitTransaction(new TableTransaction(actions).actions);
  }
}

const serviceClients = new Map<TableAccess, TableServiceClient>();

/** The service client of a connection (one per connection, for the health probe). */
export function tableServiceClientFor(access: TableAccess): TableServiceClient {
  let client = serviceClients.get(access);
  if (!client) {
    client =
      typeof access === 'string'
        ? TableServiceClient.fromConnectionString(access, optionsFor(access, undefined))
        : new TableServiceClient(access.tableServiceUri, access.credential, optionsFor(access, undefined));
    serviceClients.set(access, client);
  }
  return client;
}

/** Whether the table service behind a connection answers (one table listed at most); throws otherwise. */
export async function pingTableService(access: TableAccess): Promise<void> {
  await tableServiceClientFor(access).listTables().byPage({ maxPageSize: 1 }).next();
}
