/**
 * What one run of Import from staging carries through its phases (importFromStaging.ts): its
 * dependencies, options and result counters, a phase clock, and `settle`, which writes the
 * outcome of a batch of rows (Imported rows merged and their index entries dropped, unfinished
 * rows rewritten under their staging ETag). Why the writes are shaped so:
 * docs/decisions/import-from-staging.md.
 */
import type { AccountingDetail, Publisher } from '../../messages';
import { withoutEtag, type Stored } from '../../core/stored';
import type { LeasePort } from '../../storage/leases';
import type { TableStore } from '../../storage/tableStore';
import type { FinanceStore } from '../financeStore';
import type { LedgerEntry, ProjectTransaction, StagingRow } from '../records';
import type { JournalReservation } from '../rules/import';
import type { StagingWorkPort, WorkKey } from './stagingIndexStore';

export const IMPORT_FROM_STAGING = 'importFromStaging';
export const IMPORT_LEASE = 'importFromStaging';

/** What the import needs of the F&O store. */
export interface ImportStore
  extends Pick<FinanceStore, 'allRates' | 'postedUnbilledIds' | 'proposalsOfInvoices'> {
  staging: Pick<TableStore<StagingRow>, 'getMany' | 'mergeMany' | 'replaceEachIfMatch' | 'createManyIfAbsent'>;
  projectTransactions: Pick<TableStore<ProjectTransaction>, 'createManyIfAbsent'>;
  ledgerEntries: TableStore<LedgerEntry>;
  proposals: FinanceStore['proposals'];
  proposalLines: FinanceStore['proposalLines'];
}

export interface ImportFromStagingDeps {
  finance: ImportStore;
  work: StagingWorkPort;
  leases: LeasePort;
  publisher: Publisher;
  accountingCurrency: string;
}

export interface ImportFromStagingOptions {
  now?: Date;
  log?: (line: string) => void;
  /** Largest number of index items one run takes on (oldest first); the rest wait for the next run. */
  maxRows?: number;
  /** Lease timing (tests shorten it). */
  leaseTtlMs?: number;
  /** Lookups in one project from which the project's unbilled transactions are listed (tuning; default PROJECT_LISTING_THRESHOLD). */
  projectListingThreshold?: number;
}

export interface ImportRunResult {
  runId: string;
  /** False when another run held the lease (nothing was done). */
  ran: boolean;
  /** The lease expired or was taken over during the run; the run stopped at the next phase. */
  leaseLost: boolean;
  /** Staging rows this run worked on (from the index). */
  read: number;
  /** Cost / unbilled rows this run made Imported as project transactions. */
  posted: number;
  /** Journal vouchers this run wrote ledger entries to. */
  vouchers: number;
  /** Proposal lines this run created (no line is ever created twice). */
  linesCreated: number;
  /** Billed rows this run made Imported as proposal lines. */
  linesImported: number;
  waiting: number;
  errors: number;
  /** Index entries of rows that were Imported already, dropped. */
  cleaned: number;
  /** Rows another writer changed under this run (left to it). */
  conflicts: number;
  accountingMessages: number;
  durationMs: number;
  /** Milliseconds per phase, for tuning. */
  phases: Record<string, number>;
}

export type Outcome =
  /** Becomes Imported: these fields are merged into the staging row. */
  | { kind: 'imported'; row: StagingRow; update: Partial<StagingRow> }
  /** Stays in staging with a new status or reason (guarded write). */
  | { kind: 'unfinished'; row: StagingRow; update: Partial<StagingRow> };

/** A cost / unbilled row on its way to Imported. */
export interface Posting {
  row: StagingRow;
  slot: JournalReservation;
  transaction: ProjectTransaction;
  ledger: LedgerEntry[];
  accounting: AccountingDetail;
  update: Partial<StagingRow>;
}

export interface RunContext {
  deps: ImportFromStagingDeps;
  options: ImportFromStagingOptions;
  result: ImportRunResult;
  /** When the run started (ms) and its clock for the records it writes. */
  started: number;
  now: Date;
  importedOn: string;
  /** Book the time since the last mark to a phase. */
  phase(name: string): void;
  /** Rows this run tried that stay unfinished (Waiting or Error), by ActualId. */
  unfinished: Set<string>;
  /** The index entries this run listed, by ActualId (normally one each; see StagingWorkPort.list). */
  entries: Map<string, WorkKey[]>;
}

/** The listed index entries of these actuals. */
export function entriesOf(ctx: Pick<RunContext, 'entries'>, actualIds: Iterable<string>): WorkKey[] {
  const keys: WorkKey[] = [];
  for (const id of actualIds) keys.push(...(ctx.entries.get(id) ?? []));
  return keys;
}

const stagingKey = (row: Pick<StagingRow, 'ContractId' | 'ActualId'>) => `${row.ContractId}/${row.ActualId}`;

function changes(row: StagingRow, update: Partial<StagingRow>): boolean {
  for (const [k, v] of Object.entries(update)) if (row[k as keyof StagingRow] !== v) return true;
  return false;
}

/** Staging rows as stored, by ActualId, for the rows whose outcome depends on it. */
export async function readStaging(ctx: RunContext, rows: readonly StagingRow[]): Promise<Map<string, Stored<StagingRow> | undefined>> {
  const found = await ctx.deps.finance.staging.getMany(rows.map((r) => ({ partitionKey: r.ContractId, rowKey: r.ActualId })));
  return new Map(rows.map((r) => [r.ActualId, found.get(stagingKey(r))] as const));
}

/**
 * Write the outcomes: Imported rows merged (and their index entries dropped); unfinished rows
 * whose status or reason changed written under the staging ETag (never over Imported), then
 * their index copies updated. Returns the ActualIds made Imported by this call.
 */
export async function settle(ctx: RunContext, outcomes: readonly Outcome[], alreadyImported: ReadonlySet<string>): Promise<Set<string>> {
  const { finance } = ctx.deps;
  const imported = outcomes.filter((o) => o.kind === 'imported' && !alreadyImported.has(o.row.ActualId));
  await finance.staging.mergeMany(imported.map((o) => ({ record: o.row, fields: o.update })));
  ctx.phase('stagingImported');
  const unfinished = outcomes.filter((o) => o.kind === 'unfinished' && changes(o.row, o.update));
  const stored = await readStaging(ctx, unfinished.map((o) => o.row));
  const guarded: { record: StagingRow; etag: string }[] = [];
  const created: StagingRow[] = [];
  const doneIds = new Set<string>([...imported.map((o) => o.row.ActualId), ...alreadyImported]);
  for (const o of unfinished) {
    const current = stored.get(o.row.ActualId);
    if (current === undefined) created.push({ ...o.row, ...o.update }); // its message has not written it yet
    else if (current.ImportStatus === 'Imported') {
      doneIds.add(o.row.ActualId);
      ctx.result.cleaned++;
    } else guarded.push({ record: { ...withoutEtag(current), ...o.update }, etag: current.etag });
  }
  for (const o of outcomes) if (o.kind === 'unfinished' && !doneIds.has(o.row.ActualId)) ctx.unfinished.add(o.row.ActualId);
  const written = await finance.staging.replaceEachIfMatch(guarded);
  await finance.staging.createManyIfAbsent(created);
  ctx.result.conflicts += guarded.length - written.size;
  const statusChanged = [...guarded.filter((g) => written.has(stagingKey(g.record))).map((g) => g.record), ...created];
  ctx.phase('stagingUnfinished');
  await ctx.deps.work.setStatus(
    statusChanged.flatMap((row) => entriesOf(ctx, [row.ActualId]).map((key) => ({ ...key, ImportStatus: row.ImportStatus, ImportMessage: row.ImportMessage }))),
  );
  await ctx.deps.work.remove(entriesOf(ctx, doneIds));
  ctx.phase('indexUpdate');
  return new Set(imported.map((o) => o.row.ActualId));
}
