/**
 * The integration error log (`integrationErrors` in IntegrationTables): one row per message or
 * request that could not be applied, with the reason a person can act on.
 * PartitionKey = function name; RowKey = a time-ordered id. When the error belongs to a message,
 * the RowKey derives from the message's enqueued time and id, so a redelivery of the same poison
 * message rewrites the same row instead of adding another.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { ErrorCategory, ErrorLogPort, ErrorReport } from '../core/errorReports';
import { shortHash } from '../core/ids';

export type { ErrorCategory, ErrorLogPort, ErrorReport };
import { odata, TableStore } from '../storage/tableStore';

export const ERROR_TABLE = 'integrationErrors';
export const errorCategory = z.enum(['Validation', 'Business', 'Transient', 'DeadLetter']) satisfies z.ZodType<ErrorCategory>;
export const PAYLOAD_LIMIT = 8_000;

export const errorRowSchema = z.object({
  Id: z.string(),
  Source: z.string(),
  Category: errorCategory,
  Reference: z.string().optional(),
  Message: z.string(),
  MessageId: z.string().optional(),
  Payload: z.string().optional(),
  OccurredAt: z.string(),
  Status: z.enum(['Open', 'Resolved']),
});
export type ErrorRow = z.infer<typeof errorRowSchema>;

export function truncatePayload(payload: unknown): string | undefined {
  if (payload === undefined) return undefined;
  const text = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : JSON.stringify(payload);
  if (text === undefined) return undefined;
  return text.length > PAYLOAD_LIMIT ? `${text.slice(0, PAYLOAD_LIMIT)}…(truncated, ${text.length} chars)` : text;
}

/** Time-ordered, sortable row id: ISO time without punctuation, then a tie-breaker. */
export function errorRowId(at: Date, discriminator: string): string {
  return `${at.toISOString().replace(/[-:.]/g, '')}-${shortHash(12, discriminator)}`;
}

export class ErrorLog implements ErrorLogPort {
  private readonly store: TableStore<ErrorRow>;

  constructor(connectionString: string, private readonly now: () => Date = () => new Date()) {
    this.store = new TableStore(connectionString, ERROR_TABLE, errorRowSchema, (r) => ({ partitionKey: r.Source, rowKey: r.Id }));
  }

  async record(report: ErrorReport): Promise<ErrorRow> {
    const occurred = this.now();
    const id = report.messageId
      ? errorRowId(report.enqueuedAt ?? occurred, report.dedupeKey ?? `${report.messageId}|${report.message}`)
      : errorRowId(occurred, randomUUID());
    const row: ErrorRow = {
      Id: id,
      Source: report.source,
      Category: report.category,
      Reference: report.reference,
      Message: report.message,
      MessageId: report.messageId,
      Payload: truncatePayload(report.payload),
      OccurredAt: occurred.toISOString(),
      Status: report.status ?? 'Open',
    };
    await this.store.upsert(row);
    return row;
  }

  async list(filter: { source?: string; status?: 'Open' | 'Resolved'; top?: number } = {}): Promise<ErrorRow[]> {
    const parts: string[] = [];
    if (filter.source) parts.push(odata`PartitionKey eq ${filter.source}`);
    if (filter.status) parts.push(odata`Status eq ${filter.status}`);
    const rows = await this.store.query(parts.length ? parts.join(' and ') : undefined);
    rows.sort((a, b) => (a.OccurredAt < b.OccurredAt ? 1 : a.OccurredAt > b.OccurredAt ? -1 : 0));
    return rows.slice(0, filter.top ?? 200).map(({ etag: _etag, ...row }) => row);
  }

  /** Open rows whose Reference is one of `references` (an invoice id, its number), newest first. */
  async openErrorsFor(references: readonly string[]): Promise<ErrorRow[]> {
    if (!references.length) return [];
    const refs = references.map((r) => odata`Reference eq ${r}`).join(' or ');
    const rows = await this.store.query(`${odata`Status eq ${'Open'}`} and (${refs})`);
    return rows.map(({ etag: _etag, ...row }) => row).sort((a, b) => (a.OccurredAt < b.OccurredAt ? 1 : a.OccurredAt > b.OccurredAt ? -1 : 0));
  }

  /** Open rows per Source (reads that one column). */
  openCountsBySource(): Promise<Map<string, number>> {
    return this.store.countBy('Source', odata`Status eq ${'Open'}`);
  }
}
