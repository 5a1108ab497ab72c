/**
 * The integration error log (`integrationErrors` in IntegrationTables): one row per message or
 * request that could not be applied, with the reason a person can act on.
 * PartitionKey = function name; RowKey = a time-ordered id. When the error belongs to a message,
 * the RowKey derives from the message's enqueued time and id, so a redelivery of the same poison
 * message rewrites the same row instead of adding another.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { ErrorCategory, ErrorLogPort, ErrorReport, MessageErrorLogPort } from '../core/errorReports';
import { shortHash } from '../core/ids';

import { odata, TableStore, type Stored, type TableAccess } from '../storage/tableStore';
import { countError } from '../telemetry/metrics';

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

/** The full body of a message is kept for replay in up to BODY_PARTS columns of BODY_PART_CHARS. */
export const BODY_PART_CHARS = 30_000;
export const BODY_PARTS = 9;

const bodyParts = Object.fromEntries(Array.from({ length: BODY_PARTS }, (_, i) => [`Body${i}`, z.string().optional()])) as Record<`Body${number}`, z.ZodOptional<z.ZodString>>;

export const errorStatus = z.enum(['Open', 'Resolved', 'Replayed']);
export type ErrorStatus = z.infer<typeof errorStatus>;

export const errorRowSchema = z.object({
  Id: z.string(),
  Source: z.string(),
  Category: errorCategory,
  Reference: z.string().optional(),
  Message: z.string(),
  MessageId: z.string().optional(),
  Payload: z.string().optional(),
  OccurredAt: z.string(),
  Status: errorStatus,
  /** The queue the message came from. */
  Queue: z.string().optional(),
  DeadLetterReason: z.string().optional(),
  DeadLetterDescription: z.string().optional(),
  DeliveryCount: z.number().int().optional(),
  ReplayCount: z.number().int().optional(),
  ReplayedAt: z.string().optional(),
  ReplayedBy: z.string().optional(),
  LastReplayMessageId: z.string().optional(),
  ResolvedAt: z.string().optional(),
  /** Characters of the message body kept in Body0.. for replay (absent: not kept). */
  BodyChars: z.number().int().optional(),
  ...bodyParts,
});
export type ErrorRow = z.infer<typeof errorRowSchema>;

/** What routes answer of a row: everything but the kept body. */
export type ErrorView = Omit<ErrorRow, `Body${number}`>;

export interface ErrorFilter {
  source?: string;
  category?: ErrorCategory;
  status?: ErrorStatus;
  /** Rows that occurred at or after this time (ISO). */
  since?: string;
}

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

/** The message body as text, the way it arrived (a JSON body as its JSON). */
export function bodyText(payload: unknown): string | undefined {
  if (payload === undefined) return undefined;
  try {
    if (typeof payload === 'string') return payload;
    if (Buffer.isBuffer(payload) || payload instanceof Uint8Array) return Buffer.from(payload).toString('utf8');
    return JSON.stringify(payload);
  } catch {
    return undefined;
  }
}

/** The body in Body0.. columns when it fits them (else no column: the row says it cannot be replayed). */
function bodyColumns(payload: unknown): Partial<ErrorRow> {
  const text = bodyText(payload);
  if (text === undefined || text.length > BODY_PART_CHARS * BODY_PARTS) return {};
  const out: Record<string, unknown> = { BodyChars: text.length };
  for (let i = 0; i * BODY_PART_CHARS < text.length; i++) out[`Body${i}`] = text.slice(i * BODY_PART_CHARS, (i + 1) * BODY_PART_CHARS);
  return out as Partial<ErrorRow>;
}

/** The body a row kept for replay; undefined when it kept none. */
export function keptBody(row: ErrorRow): string | undefined {
  if (row.BodyChars === undefined) return undefined;
  let text = '';
  for (let i = 0; i < BODY_PARTS; i++) text += (row as Record<string, unknown>)[`Body${i}`] ?? '';
  return text.length === row.BodyChars ? text : undefined;
}

export function viewOfRow(row: ErrorRow): ErrorView {
  const view: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) if (!/^Body\d+$/.test(k) && k !== 'etag') view[k] = v;
  return view as ErrorView;
}

/**
 * Row id: newest first within a source (the time inverted, 13 digits of milliseconds), then a
 * tie-breaker, so pages of a source list the newest errors first.
 */
export function errorRowId(at: Date, discriminator: string): string {
  return `${String(9_999_999_999_999 - at.getTime()).padStart(13, '0')}-${shortHash(12, discriminator)}`;
}

export class ErrorLog implements MessageErrorLogPort {
  private readonly store: TableStore<ErrorRow>;

  constructor(connectionString: TableAccess, private readonly now: () => Date = () => new Date()) {
    this.store = new TableStore(connectionString, ERROR_TABLE, errorRowSchema, (r) => ({ partitionKey: r.Source, rowKey: r.Id }));
  }

  async record(report: ErrorReport): Promise<ErrorRow> {
    const occurred = this.now();
    const id = report.messageId
      ? errorRowId(report.enqueuedAt ?? occurred, report.dedupeKey ?? `${report.messageId}|${report.message}`)
      : errorRowId(occurred, randomUUID());
    const row = this.rowOf(id, report, occurred);
    await this.store.upsert(row);
    // integration.errors counts every error written (a Transient row turning Resolved is no error).
    if (row.Status !== 'Resolved') countError(row.Source, row.Category);
    return row;
  }

  private rowOf(id: string, report: ErrorReport, occurred: Date): ErrorRow {
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
      ...(report.queue !== undefined ? { Queue: report.queue } : {}),
      ...(report.queue !== undefined && report.messageId !== undefined ? bodyColumns(report.payload) : {}),
    };
    if (report.deadLetter) {
      if (report.deadLetter.reason !== undefined) row.DeadLetterReason = fitted(report.deadLetter.reason, KEY_TEXT_LIMIT);
      if (report.deadLetter.description !== undefined) row.DeadLetterDescription = fitted(report.deadLetter.description, MESSAGE_LIMIT);
      if (report.deadLetter.deliveryCount !== undefined) row.DeliveryCount = report.deadLetter.deliveryCount;
    }
    return row;
  }

  /** The rows a message left in its function's partition. */
  private async rowsOfMessage(source: string, messageId: string): Promise<Stored<ErrorRow>[]> {
    return this.store.query(odata`PartitionKey eq ${source} and MessageId eq ${fitted(messageId, KEY_TEXT_LIMIT)}`);
  }

  /**
   * A dead-lettered message: when its message already has a Validation, Business or DeadLetter
   * row, the dead-letter facts are added to that row (one row per message); a Transient row (the
   * failures that led here) becomes the DeadLetter row; otherwise a new DeadLetter row.
   */
  async recordDeadLetter(report: ErrorReport & { messageId: string }): Promise<ErrorRow> {
    const occurred = this.now();
    const existing = await this.rowsOfMessage(report.source, report.messageId);
    const settled = existing.find((r) => r.Category !== 'Transient');
    const facts: Partial<ErrorRow> = {};
    if (report.queue !== undefined) facts.Queue = report.queue;
    if (report.deadLetter?.reason !== undefined) facts.DeadLetterReason = fitted(report.deadLetter.reason, KEY_TEXT_LIMIT);
    if (report.deadLetter?.description !== undefined) facts.DeadLetterDescription = fitted(report.deadLetter.description, MESSAGE_LIMIT);
    if (report.deadLetter?.deliveryCount !== undefined) facts.DeliveryCount = report.deadLetter.deliveryCount;
    if (settled) {
      const { etag: _etag, ...row } = settled;
      const linked: ErrorRow = { ...row, ...facts, ...(row.BodyChars === undefined && report.queue !== undefined ? bodyColumns(report.payload) : {}) };
      await this.store.upsert(linked);
      countError(linked.Source, 'DeadLetter');
      return linked;
    }
    const transient = existing.find((r) => r.Category === 'Transient');
    const lastFailure = transient ? ` The last failure: ${transient.Message}` : '';
    const row = this.rowOf(transient?.Id ?? errorRowId(report.enqueuedAt ?? occurred, `deadletter|${report.messageId}`), { ...report, reference: report.reference ?? transient?.Reference, category: 'DeadLetter', status: 'Open', message: `${report.message}${lastFailure}` }, occurred);
    await this.store.upsert(row);
    countError(row.Source, 'DeadLetter');
    return row;
  }

  /** A replayed message went through: its row is Resolved (a row changed meanwhile is left as it is). */
  async resolveReplayed(source: string, errorId: string, note: string): Promise<void> {
    const row = await this.store.get(source, errorId);
    if (!row || row.Status === 'Resolved') return;
    await this.store.mergeFields({ partitionKey: source, rowKey: errorId }, { Status: 'Resolved', ResolvedAt: this.now().toISOString(), Message: fitted(`${row.Message} ${note}`, MESSAGE_LIMIT) }, row.etag);
  }

  /** One row by its id (any source); undefined when there is none. */
  async byId(errorId: string): Promise<Stored<ErrorRow> | undefined> {
    const rows = await this.store.query(odata`RowKey eq ${errorId}`, { top: 1 });
    return rows[0];
  }

  /** Write back a row read with `byId` (replay marks), guarded by its ETag: false when it changed. */
  async update(row: Stored<ErrorRow>): Promise<boolean> {
    const { etag, ...rest } = row;
    return (await this.store.replaceIfMatch(rest, etag)) !== undefined;
  }

  /**
   * One page of rows matching the filter, in storage order (by source, newest first within a
   * source), and the token of the next page when there is one.
   */
  async page(filter: ErrorFilter, pageSize: number, continuationToken?: string): Promise<{ rows: Stored<ErrorRow>[]; continuationToken?: string }> {
    const parts: string[] = [];
    if (filter.source) parts.push(odata`PartitionKey eq ${filter.source}`);
    if (filter.category) parts.push(odata`Category eq ${filter.category}`);
    if (filter.status) parts.push(odata`Status eq ${filter.status}`);
    if (filter.since) parts.push(odata`OccurredAt ge ${filter.since}`);
    return this.store.queryPage(parts.length ? parts.join(' and ') : undefined, { pageSize, ...(continuationToken ? { continuationToken } : {}) });
  }

  /** Every row matching the filter, newest first, at most `top` (reads all that match: for tests and small logs). */
  async list(filter: { source?: string; status?: ErrorStatus; top?: number } = {}): Promise<ErrorRow[]> {
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

  /** The MessageId of every row (reads that one column). */
  async messageIds(): Promise<Set<string>> {
    return new Set([...(await this.store.countBy('MessageId')).keys()].filter((id) => id !== 'none'));
  }

  /** Open rows per Category (reads that one column). */
  openCountsByCategory(): Promise<Map<string, number>> {
    return this.store.countBy('Category', odata`Status eq ${'Open'}`);
  }

  /** Open rows per Source (reads that one column). */
  openCountsBySource(): Promise<Map<string, number>> {
    return this.store.countBy('Source', odata`Status eq ${'Open'}`);
  }
}
