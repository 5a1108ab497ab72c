/**
 * syncActuals (map "Project Operations integration actuals", Dataverse -> F&O): each actual of an
 * `actuals` message becomes an `foActualsStaging` row with ImportStatus Pending.
 *
 * - Records are validated one by one (`actualSchema`) and mapped with the staging value maps
 *   (`toStagingRow`). Skip-sync actuals are never written.
 * - Partial batch failure: good records are written; each bad one gets its own error-log row
 *   (source syncActuals, category Validation, reference = its msdyn_actualid when readable, the
 *   reason naming the field and the value); the message is then completed.
 * - Idempotent by ActualId: rows are created if absent, so a re-sent actual never resets a row
 *   import already worked on. An actual repeated inside one message is written once.
 * - The pending index (import/stagingIndexStore.ts) is written before the staging rows, so a crash between
 *   the two cannot leave a staging row import would never see.
 * - A billed sales row names its proposal (InvoiceProposalId = the invoice's number, read from
 *   dvInvoices by the actual's msdyn_invoice, one point read per invoice of the message), so import
 *   reads the proposal by its key instead of searching foProposals by InvoiceId, a scan of the whole
 *   table in Azure. An invoice the Dataverse side does not hold leaves the field empty, and import
 *   falls back to the search (docs/decisions/import-from-staging.md, "How a billed row finds its proposal").
 */
import type { z } from 'zod';
import { actualSchema } from '../dataverse/records';
import type { StagingRow } from './records';
import { toStagingRow } from './rules/stagingMap';
import type { ErrorLogPort } from '../core/errorReports';
import type { StagingWorkPort } from './import/stagingIndexStore';
import type { TableStore } from '../storage/tableStore';

export const SYNC_ACTUALS = 'syncActuals';

/** The proforma invoice number of each existing invoice among `invoiceIds` (Dataverse side; unknown ids are absent). */
export interface InvoiceNumbers {
  invoiceNumbers(invoiceIds: readonly string[]): Promise<Map<string, string>>;
}

export interface SyncActualsDeps {
  invoices: InvoiceNumbers;
  staging: Pick<TableStore<StagingRow>, 'createManyIfAbsent'>;
  work: Pick<StagingWorkPort, 'add'>;
  errorLog: ErrorLogPort;
}

export interface SyncActualsMeta {
  messageId?: string;
  enqueuedAt?: Date;
  now?: Date;
  log?: (line: string) => void;
}

export interface SyncActualsResult {
  /** Valid, synchronizable records (after removing repeats within the message). */
  accepted: number;
  /** Staging rows this delivery created (a redelivery creates fewer or none). */
  created: number;
  skippedSkipSync: number;
  rejected: number;
}

function valueAt(record: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let value: unknown = record;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function shown(value: unknown): string {
  if (value === undefined) return 'missing';
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

/** Each problem as "field: what is wrong (got value)", for a person reading the error log. */
export function describeRecordProblems(record: unknown, error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const field = issue.path.length ? issue.path.map(String).join('.') : '(record)';
      return `${field}: ${issue.message} (got ${shown(valueAt(record, issue.path))})`;
    })
    .join('; ');
}

/** The record's msdyn_actualid when it is a readable string, for the error log's Reference. */
function readableId(record: unknown): string | undefined {
  const id = valueAt(record, ['msdyn_actualid']);
  return typeof id === 'string' && id.trim() !== '' ? id.trim().toLowerCase().slice(0, 100) : undefined;
}

/** Billed rows of a known invoice with InvoiceProposalId set to its number (see the header); other rows as they are. */
async function withProposalIds(invoices: InvoiceNumbers, rows: StagingRow[]): Promise<StagingRow[]> {
  const unnamed = (row: StagingRow) => row.TransType === 'BilledSales' && row.InvoiceId !== undefined && !row.InvoiceProposalId;
  const invoiceIds = [...new Set(rows.filter(unnamed).map((row) => row.InvoiceId!))];
  if (invoiceIds.length === 0) return rows;
  const numbers = await invoices.invoiceNumbers(invoiceIds);
  return rows.map((row) => {
    const number = unnamed(row) ? numbers.get(row.InvoiceId!) : undefined;
    return number === undefined ? row : { ...row, InvoiceProposalId: number };
  });
}

export async function syncActuals(deps: SyncActualsDeps, records: readonly unknown[], meta: SyncActualsMeta = {}): Promise<SyncActualsResult> {
  const log = meta.log ?? (() => undefined);
  const rows = new Map<string, StagingRow>();
  const rejections: { index: number; reference?: string; reason: string; record: unknown }[] = [];
  let skippedSkipSync = 0;

  records.forEach((record, index) => {
    const position = `record ${index + 1} of ${records.length}`;
    const parsed = actualSchema.safeParse(record);
    if (!parsed.success) {
      const reference = readableId(record);
      rejections.push({
        index,
        reference,
        record,
        reason: `Actual ${reference ?? '(no readable msdyn_actualid)'} (${position}) was not written to staging: ${describeRecordProblems(record, parsed.error)}`,
      });
      return;
    }
    const mapped = toStagingRow(parsed.data);
    if (!mapped.ok) {
      if (mapped.kind === 'skipSync') {
        skippedSkipSync++;
        return;
      }
      rejections.push({ index, reference: parsed.data.msdyn_actualid, record, reason: `${mapped.reason} (${position}); not written to staging` });
      return;
    }
    if (!rows.has(mapped.row.ActualId)) rows.set(mapped.row.ActualId, mapped.row);
  });

  const good = await withProposalIds(deps.invoices, [...rows.values()]);
  let created = 0;
  if (good.length) {
    await deps.work.add(good, meta.now ?? new Date());
    created = (await deps.staging.createManyIfAbsent(good)).created;
  }
  for (const rejection of rejections) {
    await deps.errorLog.record({
      source: SYNC_ACTUALS,
      category: 'Validation',
      message: rejection.reason,
      reference: rejection.reference,
      messageId: meta.messageId,
      enqueuedAt: meta.enqueuedAt,
      payload: rejection.record,
    });
  }
  log(
    `actuals: ${records.length} received, ${good.length} accepted (${created} new staging rows), ` +
      `${skippedSkipSync} skip-sync skipped, ${rejections.length} rejected` +
      (rejections.length ? ` (${rejections.map((r) => r.reference ?? `#${r.index + 1}`).join(', ')})` : ''),
  );
  return { accepted: good.length, created, skippedSkipSync, rejected: rejections.length };
}
