/**
 * What the storage saw and what it can do:
 * - `countWritten`: distinct entities of every table whose Timestamp (set by the table service on
 *   every insert, replace or merge) falls inside a time window: the entities a phase wrote.
 * - `measureBaseline`: Azurite writing N entities of pipeline-like size through the project's own
 *   TableStore bulk path (100-entity transactions, WRITE_CONCURRENCY in flight): the storage limit,
 *   and, given a way to read it, Azurite's CPU time for that work.
 */
import { odata, TableClient, TableServiceClient } from '@azure/data-tables';
import { z } from 'zod';
import { deterministicGuid } from '../../shared/core/ids';
import { clientOptionsFor, TableStore } from '../../shared/storage/tableStore';
import { extrapolateBaseline, type BaselineMeasure } from './figures';
import type { StorageUsage } from './writeCounter';

/** Tables the benchmark itself writes (never counted as pipeline work). */
export const BASELINE_TABLE_PREFIX = 'benchBaseline';

export interface WrittenCount {
  total: number;
  tables: Record<string, number>;
  /** Epoch ms of the last write in the window (undefined when nothing was written). */
  lastWriteAt?: number;
}

export async function tableNames(connectionString: string): Promise<string[]> {
  const service = TableServiceClient.fromConnectionString(connectionString, clientOptionsFor(connectionString));
  const names: string[] = [];
  for await (const t of service.listTables()) if (t.name) names.push(t.name);
  return names.sort();
}

export interface Window {
  from: Date;
  to: Date;
}

/** Which window (index) a time falls in, or -1; windows are [from, to) and do not overlap. */
export function windowOf(windows: readonly Window[], at: number): number {
  for (let i = 0; i < windows.length; i += 1) {
    const w = windows[i]!;
    if (at >= w.from.getTime() && at < w.to.getTime()) return i;
  }
  return -1;
}

/**
 * Entities of every (non-baseline) table last written in each window: one query per table over
 * the span of all windows (the table service has no index on Timestamp, so every query scans the
 * table), each row put in its window by its Timestamp.
 */
export async function countWritten(connectionString: string, windows: readonly Window[]): Promise<WrittenCount[]> {
  const out: WrittenCount[] = windows.map(() => ({ total: 0, tables: {} }));
  if (windows.length === 0) return out;
  const from = new Date(Math.min(...windows.map((w) => w.from.getTime())));
  const to = new Date(Math.max(...windows.map((w) => w.to.getTime())));
  const names = (await tableNames(connectionString)).filter((n) => !n.startsWith(BASELINE_TABLE_PREFIX));
  for (const name of names) {
    const client = TableClient.fromConnectionString(connectionString, name, clientOptionsFor(connectionString));
    const rows = client.listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`Timestamp ge ${from} and Timestamp lt ${to}`, select: ['Timestamp'] },
    });
    for await (const page of rows.byPage({ maxPageSize: 1000 })) {
      for (const row of page) {
        const at = typeof row.timestamp === 'string' ? Date.parse(row.timestamp) : Number.NaN;
        const i = Number.isFinite(at) ? windowOf(windows, at) : -1;
        const count = out[i];
        if (!count) continue;
        count.total += 1;
        count.tables[name] = (count.tables[name] ?? 0) + 1;
        if (count.lastWriteAt === undefined || at > count.lastWriteAt) count.lastWriteAt = at;
      }
    }
  }
  return out;
}

const baselineRowSchema = z.object({
  BatchKey: z.string(),
  RowId: z.string(),
  ActualId: z.string(),
  TransType: z.string(),
  TransactionClassification: z.string(),
  BillingType: z.string(),
  Quantity: z.string(),
  UnitPrice: z.string(),
  Amount: z.string(),
  TransactionCurrencyId: z.string(),
  AccountingDate: z.string(),
  DocumentDate: z.string(),
  ContractId: z.string(),
  ContractLineId: z.string(),
  ProjectId: z.string(),
  InvoiceId: z.string(),
  UnbilledActualId: z.string(),
  ImportStatus: z.string(),
  ImportMessage: z.string(),
  VoucherNumber: z.string(),
  PostingDate: z.string(),
  AccountingAmount: z.string(),
  ExchangeRate: z.string(),
});
type BaselineRow = z.infer<typeof baselineRowSchema>;

/** Rows per partition: pipeline bulk writes go to a contract's or an invoice's partition. */
const ROWS_PER_PARTITION = 10_000;

/** An entity about the size of a staging row or an actual (about 23 fields, 900 bytes). */
export function baselineRow(i: number): BaselineRow {
  const id = deterministicGuid('bench-baseline', String(i));
  const qty = String(1 + (i % 8));
  return {
    BatchKey: `p${String(Math.floor(i / ROWS_PER_PARTITION)).padStart(4, '0')}`,
    RowId: id,
    ActualId: id,
    TransType: 'UnbilledSales',
    TransactionClassification: 'Time',
    BillingType: 'Chargeable',
    Quantity: qty,
    UnitPrice: '100.00',
    Amount: `${qty}00.00`,
    TransactionCurrencyId: 'EUR',
    AccountingDate: '2024-03-10',
    DocumentDate: '2024-03-10',
    ContractId: deterministicGuid('bench-baseline', 'contract'),
    ContractLineId: deterministicGuid('bench-baseline', 'line', String(i % 4)),
    ProjectId: deterministicGuid('bench-baseline', 'project'),
    InvoiceId: deterministicGuid('bench-baseline', 'invoice'),
    UnbilledActualId: deterministicGuid('bench-baseline', 'unbilled', String(i)),
    ImportStatus: 'Imported',
    ImportMessage: `Posted as project transaction with voucher PJV-${id.slice(0, 10).toUpperCase()} on 2024-03-10`,
    VoucherNumber: `PJV-${id.slice(0, 10).toUpperCase()}`,
    PostingDate: '2024-03-10',
    AccountingAmount: `${qty}08.45`,
    ExchangeRate: '1.084500',
  };
}

/**
 * Write `entities` fresh entities into a new table through TableStore.createManyIfAbsent (the
 * pipeline's bulk path), time it, then drop the table. With `cap`, write at most `cap` entities
 * and extrapolate linearly to `entities`.
 */
export async function measureBaseline(
  connectionString: string,
  entities: number,
  tableSuffix: string,
  cap?: number,
  storageUsage?: () => Promise<StorageUsage | undefined>,
): Promise<BaselineMeasure> {
  const count = cap !== undefined ? Math.min(entities, cap) : entities;
  if (count <= 0) return { written: 0, seconds: 0, extrapolated: false };
  const name = `${BASELINE_TABLE_PREFIX}${tableSuffix.replace(/[^A-Za-z0-9]/g, '')}`.slice(0, 63);
  const store = new TableStore(connectionString, name, baselineRowSchema, (r) => ({ partitionKey: r.BatchKey, rowKey: r.RowId }));
  const rows = Array.from({ length: count }, (_, i) => baselineRow(i));
  await store.ready();
  const usageBefore = await storageUsage?.();
  const started = process.hrtime.bigint();
  const { created } = await store.createManyIfAbsent(rows);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const usageAfter = usageBefore ? await storageUsage?.() : undefined;
  await store.drop();
  if (created !== count) throw new Error(`The baseline created ${created} of ${count} entities in ${name}; was the table left over from an earlier run?`);
  const storageCpuSeconds = usageBefore && usageAfter ? Math.max(0, usageAfter.cpuMicros - usageBefore.cpuMicros) / 1e6 : undefined;
  return extrapolateBaseline(entities, count, seconds, storageCpuSeconds);
}
