/**
 * Table storage helpers shared by every repository: one TableClient per table, created lazily
 * (tables are created if absent on first use), entity parsing through zod, batched writes as
 * entity-group transactions of at most 100 operations per partition with bounded concurrency,
 * create-if-absent and ETag-guarded writes, paged queries.
 */
import { RestError, TableClient, TableTransaction, odata, type TableEntity, type TransactionAction } from '@azure/data-tables';
import type { z } from 'zod';
import { chunk, mapLimit } from './concurrency';

export { odata };

/** Largest entity-group transaction Table storage accepts. */
export const MAX_BATCH = 100;
/** Transactions in flight at once per bulk write. */
export const WRITE_CONCURRENCY = 8;

export type Row = Record<string, unknown> & { partitionKey: string; rowKey: string };
export type Stored<T> = T & { etag: string };

export function isStatus(error: unknown, status: number): boolean {
  return error instanceof RestError && error.statusCode === status;
}

/** Key values may not contain / \ # ? or control characters; ids and numbers never do, but check. */
export function assertKey(value: string, what: string): string {
  if (!value || /[/\\#?\u0000-\u001f\u007f-\u009f]/.test(value)) {
    throw new Error(`${what} "${value}" cannot be used as a table key`);
  }
  return value;
}

const METADATA = new Set(['partitionKey', 'rowKey', 'etag', 'timestamp', 'odata.metadata', 'odata.etag']);

/** The entity's own fields, without keys and metadata, with undefined/null dropped. */
export function fieldsOf(entity: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entity)) {
    if (METADATA.has(k) || v === null || v === undefined) continue;
    out[k] = v;
  }
  return out;
}

function withoutUndefined(row: Row): TableEntity<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) if (v !== undefined && v !== null) out[k] = v;
  return out as TableEntity<Record<string, unknown>>;
}

export function clientOptionsFor(connectionString: string): { allowInsecureConnection: boolean } {
  return { allowInsecureConnection: /TableEndpoint=http:\/\//i.test(connectionString) || /UseDevelopmentStorage=true/i.test(connectionString) };
}

export class TableStore<T> {
  readonly client: TableClient;
  private created: Promise<void> | undefined;

  constructor(
    connectionString: string,
    readonly tableName: string,
    private readonly schema: z.ZodType<T>,
    private readonly keys: (record: T) => { partitionKey: string; rowKey: string },
  ) {
    this.client = TableClient.fromConnectionString(connectionString, tableName, clientOptionsFor(connectionString));
  }

  /** Create the table if it does not exist yet (once per process). */
  ready(): Promise<void> {
    this.created ??= this.client.createTable().catch((error: unknown) => {
      this.created = undefined;
      throw error;
    });
    return this.created;
  }

  toRow(record: T): Row {
    const { partitionKey, rowKey } = this.keys(record);
    return { partitionKey: assertKey(partitionKey, `${this.tableName} PartitionKey`), rowKey: assertKey(rowKey, `${this.tableName} RowKey`), ...(record as Record<string, unknown>) };
  }

  /** Parse a stored entity; a row that fails its schema is a data fault, reported with its keys. */
  parse(entity: Record<string, unknown>): Stored<T> {
    const result = this.schema.safeParse(fieldsOf(entity));
    if (!result.success) {
      throw new Error(
        `${this.tableName} row ${String(entity.partitionKey)}/${String(entity.rowKey)} is malformed: ${result.error.issues
          .map((i) => `${i.path.join('.')}: ${i.message}`)
          .join('; ')}`,
      );
    }
    return { ...result.data, etag: String(entity.etag ?? '') } as Stored<T>;
  }

  async get(partitionKey: string, rowKey: string): Promise<Stored<T> | undefined> {
    await this.ready();
    try {
      const entity = await this.client.getEntity<Record<string, unknown>>(partitionKey, rowKey);
      return this.parse(entity);
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  /** Insert the record; if a row with its keys exists already, leave it and say so. */
  async createIfAbsent(record: T): Promise<'created' | 'exists'> {
    await this.ready();
    try {
      await this.client.createEntity(withoutUndefined(this.toRow(record)));
      return 'created';
    } catch (error) {
      if (isStatus(error, 409)) return 'exists';
      throw error;
    }
  }

  async upsert(record: T, mode: 'Replace' | 'Merge' = 'Replace'): Promise<void> {
    await this.ready();
    await this.client.upsertEntity(withoutUndefined(this.toRow(record)), mode);
  }

  /** Replace the row only if it is unchanged since it was read; false when someone else changed it. */
  async replaceIfMatch(record: T, etag: string): Promise<boolean> {
    await this.ready();
    try {
      await this.client.updateEntity(withoutUndefined(this.toRow(record)), 'Replace', { etag });
      return true;
    } catch (error) {
      if (isStatus(error, 412) || isStatus(error, 404)) return false;
      throw error;
    }
  }

  async delete(partitionKey: string, rowKey: string): Promise<void> {
    await this.ready();
    try {
      await this.client.deleteEntity(partitionKey, rowKey);
    } catch (error) {
      if (!isStatus(error, 404)) throw error;
    }
  }

  /**
   * Replace many rows, each only if unchanged since it was read (its ETag): transactions of up to
   * 100 per partition. A changed or missing row makes its whole transaction fail (412/404 thrown),
   * so the caller re-reads and re-plans (for a queue message: throw, Service Bus redelivers).
   */
  async replaceManyIfMatch(items: readonly { record: T; etag: string }[]): Promise<void> {
    await this.submit(items.map(({ record, etag }) => ['update', withoutUndefined(this.toRow(record)), 'Replace', { etag }] as TransactionAction));
  }

  /** Upsert many records: transactions of up to 100 per partition, a few in flight at once. */
  async upsertMany(records: readonly T[], mode: 'Replace' | 'Merge' = 'Replace'): Promise<void> {
    await this.submit(records.map((r) => ['upsert', withoutUndefined(this.toRow(r)), mode] as TransactionAction));
  }

  /**
   * Create every record that does not exist yet; existing rows are left as they are. Each
   * 100-row group is tried as one transaction; if any row of it exists (a redelivery after a
   * crash), the group's partition is read and only the missing rows are created. Returns how
   * many rows were created.
   */
  async createManyIfAbsent(records: readonly T[]): Promise<number> {
    await this.ready();
    const groups = this.groups(records.map((r) => withoutUndefined(this.toRow(r))));
    const created = await mapLimit(groups, WRITE_CONCURRENCY, async (group) => {
      try {
        await this.transact(group.map((e) => ['create', e] as TransactionAction));
        return group.length;
      } catch (error) {
        if (!isStatus(error, 409)) throw error;
        const existing = await this.existingKeys(group);
        const missing = group.filter((e) => !existing.has(e.rowKey as string));
        if (missing.length) await this.transact(missing.map((e) => ['create', e] as TransactionAction));
        return missing.length;
      }
    });
    return created.reduce((a, b) => a + b, 0);
  }

  /** Submit table actions as transactions grouped by partition, 100 at most each, a few in flight. */
  async submit(actions: TransactionAction[]): Promise<void> {
    if (!actions.length) return;
    await this.ready();
    const byPartition = new Map<string, TransactionAction[]>();
    for (const action of actions) {
      const pk = (action[1] as { partitionKey: string }).partitionKey;
      let list = byPartition.get(pk);
      if (!list) byPartition.set(pk, (list = []));
      list.push(action);
    }
    const batches = [...byPartition.values()].flatMap((list) => chunk(list, MAX_BATCH));
    await mapLimit(batches, WRITE_CONCURRENCY, (batch) => this.transact(batch));
  }

  private async transact(actions: TransactionAction[]): Promise<void> {
    if (actions.length === 1) {
      // A one-row "transaction" as a plain call: cheaper, and errors keep their status codes.
      const [kind, entity, arg] = actions[0] as [string, TableEntity, unknown];
      if (kind === 'create') await this.client.createEntity(entity);
      else if (kind === 'upsert') await this.client.upsertEntity(entity, (arg as 'Replace' | 'Merge') ?? 'Merge');
      else if (kind === 'update') await this.client.updateEntity(entity, (arg as 'Replace' | 'Merge') ?? 'Merge', (actions[0] as unknown[])[3] as { etag?: string });
      else if (kind === 'delete') await this.client.deleteEntity(entity.partitionKey, entity.rowKey);
      return;
    }
    const tx = new TableTransaction(actions);
    await this.client.submitTransaction(tx.actions);
  }

  private groups(entities: TableEntity<Record<string, unknown>>[]): TableEntity<Record<string, unknown>>[][] {
    const byPartition = new Map<string, TableEntity<Record<string, unknown>>[]>();
    for (const e of entities) {
      let list = byPartition.get(e.partitionKey);
      if (!list) byPartition.set(e.partitionKey, (list = []));
      list.push(e);
    }
    return [...byPartition.values()].flatMap((list) => chunk(list, MAX_BATCH));
  }

  private async existingKeys(group: TableEntity<Record<string, unknown>>[]): Promise<Set<string>> {
    const pk = group[0]!.partitionKey;
    const keys = new Set<string>();
    if (group.length <= 10) {
      await Promise.all(
        group.map(async (e) => {
          try {
            await this.client.getEntity(pk, e.rowKey, { queryOptions: { select: ['RowKey'] } });
            keys.add(e.rowKey);
          } catch (error) {
            if (!isStatus(error, 404)) throw error;
          }
        }),
      );
      return keys;
    }
    for await (const e of this.client.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${pk}`, select: ['RowKey'] } })) {
      keys.add(String(e.rowKey));
    }
    return keys;
  }

  /** Every row of a partition, parsed, paged through continuation tokens. */
  async listPartition(partitionKey: string): Promise<Stored<T>[]> {
    return this.query(odata`PartitionKey eq ${partitionKey}`);
  }

  /** Rows matching an OData filter built with the `odata` template (never by concatenation). */
  async query(filter?: string, options: { top?: number } = {}): Promise<Stored<T>[]> {
    await this.ready();
    const out: Stored<T>[] = [];
    const iterator = this.client.listEntities<Record<string, unknown>>({ queryOptions: filter ? { filter } : {} });
    for await (const entity of iterator) {
      out.push(this.parse(entity));
      if (options.top !== undefined && out.length >= options.top) break;
    }
    return out;
  }
}
