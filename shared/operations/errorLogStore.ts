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

import { odata, TableStore } from '../storage/tableStore';

export type { ErrorCategory, ErrorLogPort, ErrorReport };

export const ERROR_TABLE = 'integrationErrors';
export const errorCategory = z.enum(['Validation', 'Business', 'Transient', 'DeadLetter']) satisfies z.ZodType<ErrorCategory>;
/**
 * Longest strings an error row keeps (Table storage takes 32K characters a string and 1 MiB an
 * entity): longer ones are cut with a note of their full length, so a bad message always ends as
 * one row, however large its reasons or its body.
 */
export const MESSAGE_LIMIT = 8_000;
export const PAYLOAD_LIMIT = 16_000;
export const KEY_TEXT_LIMIT = 512;

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

/** The text cut to `limit` characters, with a note of its full length when it was longer. */
export function fitted(text: string, limit: number): string {
  return text.length > limit ? `${text.slice(0, limit)}…(truncated, ${text.length} chars)` : text;
}

export function truncatePayload(payload: unknown): string | undefined {
  if (payload === undefined) return undefined;
  let text: string | undefined;
  try {
    text = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) || payload instanceof Uint8Array ? Buffer.from(payload).toString('utf8') : JSON.stringify(payload);
  } catch (error) {
    text = `(the payload could not be shown: ${error instanceof Error ? error.message : String(error)})`;
  }
  return text === undefined ? undefined : fitted(text, PAYLOAD_LIMIT);
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
      Reference: report.reference === undefined ? undefined : fitted(report.reference, KEY_TEXT_LIMIT),
      Message: fitted(report.message, MESSAGE_LIMIT),
      MessageId: report.messageId === undefined ? undefined : fitted(report.messageId, KEY_TEXT_LIMIT),
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
