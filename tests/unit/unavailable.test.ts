/** Which failures mean "a dependency is unavailable for now" (HTTP 503) and which are bugs (500). */
import { describe, expect, it } from 'vitest';
import { isUnavailable } from '../../shared/core/errors';

function named(name: string, fields: Record<string, unknown> = {}): Error {
  const e = new Error(`${name} test`);
  e.name = name;
  return Object.assign(e, fields);
}

describe('isUnavailable', () => {
  it('is true for storage that does not answer, is busy or fails on its side', () => {
    expect(isUnavailable(named('RestError', { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isUnavailable(named('RestError'))).toBe(true); // no status: the request never got an answer
    expect(isUnavailable(named('RestError', { statusCode: 503, code: 'ServerBusy' }))).toBe(true);
    expect(isUnavailable(named('RestError', { statusCode: 500 }))).toBe(true);
    expect(isUnavailable(named('RestError', { statusCode: 429 }))).toBe(true);
  });

  it('is true for a broker that restarts or is busy, and for network codes and timeouts, also as a cause', () => {
    expect(isUnavailable(named('ServiceBusError', { code: 'ServiceCommunicationProblem', retryable: true }))).toBe(true);
    expect(isUnavailable(named('MessagingError', { retryable: true }))).toBe(true);
    expect(isUnavailable(Object.assign(new Error('connect'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isUnavailable(named('AbortError'))).toBe(true);
    expect(isUnavailable(new Error('wrapped', { cause: named('RestError', { statusCode: 502 }) }))).toBe(true);
  });

  it('is false for refusals the service means and for bugs', () => {
    expect(isUnavailable(named('RestError', { statusCode: 400 }))).toBe(false);
    expect(isUnavailable(named('RestError', { statusCode: 403, code: 'AuthenticationFailed' }))).toBe(false);
    expect(isUnavailable(named('RestError', { statusCode: 409 }))).toBe(false);
    expect(isUnavailable(named('ServiceBusError', { code: 'MessagingEntityNotFound', retryable: false }))).toBe(false);
    expect(isUnavailable(new TypeError('x is undefined'))).toBe(false);
    expect(isUnavailable('ECONNREFUSED')).toBe(false);
  });
});
