/**
 * The domain's failures. They say what went wrong in business terms and carry no HTTP status:
 * the trigger adapters decide what a failure means on their edge (shared/triggers: a status and
 * problem+json for a route; an error-log row and a completed message for a queue).
 *
 * - BusinessError and its kinds: retrying cannot help (a rule refuses, an id is unknown, input is
 *   malformed). A queue message is recorded and completed; a route answers 4xx.
 * - StaleWriteError: a guarded write found its row changed since it was read. Reading again and
 *   re-planning usually succeeds, so it is transient for a queue message (thrown, redelivered).
 * - Anything else is unexpected or transient (storage or broker unreachable): thrown, retried.
 */

export type RefusalCategory = 'Business' | 'Validation';

/** A rule refuses the request or message; nothing was changed by the refused part. */
export class BusinessError extends Error {
  override name = 'BusinessError';
  /** The business key a person searches for: invoice number, proposal id, actual id. */
  readonly reference: string | undefined;
  readonly category: RefusalCategory;

  constructor(message: string, options: { reference?: string; category?: RefusalCategory } = {}) {
    super(message);
    this.reference = options.reference;
    this.category = options.category ?? 'Business';
  }
}

/** The input is malformed (fails its schema, a field out of range). */
export class ValidationError extends BusinessError {
  override name = 'ValidationError';
  constructor(message: string, reference?: string) {
    super(message, { reference, category: 'Validation' });
  }
}

/** What the request names does not exist. */
export class NotFoundError extends BusinessError {
  override name = 'NotFoundError';
  constructor(message: string, reference?: string) {
    super(message, { reference });
  }
}

/**
 * Someone else changed the same records while a person's request was applied; the message says
 * that sending the request again is safe. `retryOnConflict` runs such a use case again.
 */
export class ConcurrencyConflict extends BusinessError {
  override name = 'ConcurrencyConflict';
  constructor(message: string, reference?: string) {
    super(message, { reference });
  }
}

/**
 * A guarded write (ETag, or create of a row that must not exist) lost a race: the row changed
 * since it was read. Thrown by the storage kit; use cases that answer people turn it into a
 * ConcurrencyConflict with their own words, queue handlers let it go so the message is redelivered
 * and re-planned from what is stored then.
 */
export class StaleWriteError extends Error {
  override name = 'StaleWriteError';
  constructor(
    message: string,
    /** "table PartitionKey/RowKey" of the row that changed, when known. */
    readonly row?: string,
  ) {
    super(message);
  }
}

/** Run `work` again (up to `attempts` times in all) while it fails with a ConcurrencyConflict. */
export async function retryOnConflict<T>(work: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof ConcurrencyConflict) || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt + Math.floor(Math.random() * 20)));
    }
  }
}

/** Node's network failures: the other end is down, restarting or unreachable for now. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);
/** Service Bus SDK codes of a fault that passes (the broker restarting, busy or slow). */
const BROKER_CODES = new Set(['ServiceCommunicationProblem', 'ServiceBusy', 'ServiceTimeout', 'GeneralError']);

/**
 * A dependency (storage or the broker) was unreachable, busy or timed out: a fault that may pass,
 * as opposed to a bug or a refusal. Recognized by the shapes the SDKs give such errors (a RestError
 * without a status or with 408, 429 or 5xx; a retryable Service Bus error; Node's network codes),
 * looking through `cause`. HTTP answers it 503 with Retry-After, not 500.
 */
export function isUnavailable(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 5) return false;
  const e = error as Error & { statusCode?: unknown; code?: unknown; retryable?: unknown; cause?: unknown };
  if (e.name === 'AbortError' || e.name === 'TimeoutError') return true;
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  if (e.name === 'RestError') {
    const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
    if (status === undefined || status === 408 || status === 429 || status >= 500) return true;
  }
  if ((e.name === 'ServiceBusError' || e.name === 'MessagingError') && (e.retryable === true || (typeof e.code === 'string' && BROKER_CODES.has(e.code)))) return true;
  return isUnavailable(e.cause, depth + 1);
}
