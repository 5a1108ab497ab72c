/**
 * The port through which failures a person must see are recorded (the integration error log,
 * shared/operations/errorLog.ts): used by the queue adapter and by use cases that refuse single
 * records of a message while applying the rest.
 */
export type ErrorCategory = 'Validation' | 'Business' | 'Transient' | 'DeadLetter';

export interface ErrorReport {
  /** The function that met the failure (the error log's partition). */
  source: string;
  category: ErrorCategory;
  message: string;
  reference?: string;
  messageId?: string;
  /** When the failing message was enqueued (keeps the row id stable across redeliveries). */
  enqueuedAt?: Date;
  payload?: unknown;
  /** Rows with the same key (and message enqueue time) are one row, rewritten; default: messageId + message. */
  dedupeKey?: string;
  /** Default Open; Resolved records that a message recovered after transient failures. */
  status?: 'Open' | 'Resolved';
}

export interface ErrorLogPort {
  record(report: ErrorReport): Promise<unknown>;
}
