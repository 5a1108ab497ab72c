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
  /** The queue the message came from (so it can be replayed there). */
  queue?: string;
  /** For a dead-lettered message: why Service Bus gave up on it. */
  deadLetter?: { reason?: string; description?: string; deliveryCount?: number };
}

export interface ErrorLogPort {
  record(report: ErrorReport): Promise<unknown>;
}

/** The error-log operations of the queue adapter beyond recording. */
export interface MessageErrorLogPort extends ErrorLogPort {
  /** A dead-lettered message: one DeadLetter row, or the dead-letter facts added to the row its message already has. */
  recordDeadLetter(report: ErrorReport & { messageId: string }): Promise<unknown>;
  /** A replayed message went through: its row (source, id) is Resolved. */
  resolveReplayed(source: string, errorId: string, note: string): Promise<void>;
}
