/**
 * How a failed Table storage call is classified: by the service's error code and HTTP status,
 * never by the wording of its message. Every store and the kit itself ask these; nothing else
 * looks at a storage error.
 *
 * The code comes from the error itself (`RestError.code`, set for transaction sub-responses and
 * from the `x-ms-error-code` header), or, when the SDK could not read it (Azurite answers single
 * operations without the header), from the service's own error body `{"odata.error":{"code":...}}`.
 */

/** The service's HTTP status of a failed call, when it is a service answer. */
export function storageStatus(error: unknown): number | undefined {
  if (!(error instanceof Error) || error.name !== 'RestError') return undefined;
  const status = (error as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The service's error code ("EntityAlreadyExists", "UpdateConditionNotSatisfied", ...), when known. */
export function storageErrorCode(error: unknown): string | undefined {
  if (!(error instanceof Error) || error.name !== 'RestError') return undefined;
  const own = (error as { code?: unknown }).code;
  if (typeof own === 'string' && own) return own;
  const header = (error as { response?: { headers?: { get?: (name: string) => string | undefined } } }).response?.headers?.get?.('x-ms-error-code');
  if (header) return header;
  const body = error.message.trim();
  if (body.startsWith('{')) {
    try {
      const code = (JSON.parse(body) as { 'odata.error'?: { code?: unknown } })['odata.error']?.code;
      if (typeof code === 'string' && code) return code;
    } catch {
      // not the service's error body
    }
  }
  return undefined;
}

/** A create met a row (or table) that exists already. */
export function isConflict(error: unknown): boolean {
  return storageStatus(error) === 409;
}

/** The row (or table) is not there. */
export function isMissing(error: unknown): boolean {
  return storageStatus(error) === 404;
}

/** An ETag condition failed: the row changed since it was read. */
export function isPreconditionFailed(error: unknown): boolean {
  return storageStatus(error) === 412;
}

/** Codes of requests the service refuses for what they carry: retrying the same request cannot succeed. */
const INVALID_CODES = new Set([
  'PropertyValueTooLarge',
  'EntityTooLarge',
  'PropertyNameTooLong',
  'TooManyProperties',
  'KeyValueTooLarge',
  'InvalidInput',
  'InvalidValueType',
  'OutOfRangeInput',
  'InvalidDuplicateRow',
]);

/**
 * The request itself was refused (too large a value or entity, a key the service does not take):
 * the same request would fail again, so it is not a transient fault.
 */
export function isInvalidRequest(error: unknown): boolean {
  const status = storageStatus(error);
  if (status === 400) return true;
  const code = storageErrorCode(error);
  return code !== undefined && INVALID_CODES.has(code);
}

/** One line a person can read: status, code and the service's own message. */
export function describeStorageError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const status = storageStatus(error);
  const code = storageErrorCode(error);
  let message = error.message;
  if (message.trim().startsWith('{')) {
    try {
      const value = (JSON.parse(message) as { 'odata.error'?: { message?: { value?: unknown } } })['odata.error']?.message?.value;
      if (typeof value === 'string') message = value.split('\n')[0] ?? value;
    } catch {
      // keep the raw message
    }
  }
  return status === undefined ? message : `${status}${code ? ` ${code}` : ''}: ${message}`;
}
