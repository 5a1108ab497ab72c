/**
 * The HTTP edge of every route: registration (`httpFunction`, the only place routes meet
 * `@azure/functions`), problem+json errors (RFC 9457) with a message a person can act on, JSON
 * bodies parsed with zod, GUID route parameters checked, and the mapping of the domain's
 * failures to statuses: ValidationError 400, NotFoundError 404, other BusinessErrors 409, a
 * write that lost a race 409, anything unexpected 500 without a stack trace.
 */
import { app, type HttpHandler, type HttpMethod, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import type { z } from 'zod';
import { BusinessError, NotFoundError, StaleWriteError, ValidationError } from '../core/errors';
import { describeZodError, guid } from '../core/fields';

export type { HttpRequest, HttpResponseInit, InvocationContext };

/** Register an HTTP function: a route under `api/`, its methods, and its handler wrapped by `route`. */
export function httpFunction(
  name: string,
  options: { route: string; methods: HttpMethod[]; authLevel: 'anonymous' | 'function'; handler: (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit> },
): void {
  app.http(name, { route: options.route, methods: options.methods, authLevel: options.authLevel, handler: route(name, options.handler) });
}

/** The HTTP status a failure of the domain means on this edge (undefined: unexpected, 500). */
export function statusOf(error: unknown): number | undefined {
  if (error instanceof ValidationError) return 400;
  if (error instanceof NotFoundError) return 404;
  if (error instanceof BusinessError) return 409;
  if (error instanceof StaleWriteError) return 409;
  return undefined;
}

const TITLES: Record<number, string> = {
  400: 'Bad request',
  404: 'Not found',
  405: 'Method not allowed',
  409: 'Conflict',
  500: 'Internal error',
  503: 'Service unavailable',
};

export function problem(status: number, detail: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): HttpResponseInit {
  return {
    status,
    headers: { 'content-type': 'application/problem+json', ...headers },
    body: JSON.stringify({ type: 'about:blank', title: TITLES[status] ?? 'Error', status, detail, ...extra }),
  };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/** Parse the request's JSON body with a schema; a 400 naming the bad fields otherwise. */
export async function readJson<S extends z.ZodType>(request: HttpRequest, schema: S): Promise<z.infer<S>> {
  const text = await request.text();
  if (!text.trim()) throw new ValidationError('The request body is empty; send a JSON object.');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ValidationError(`The request body is not valid JSON (${error instanceof Error ? error.message : String(error)}).`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ValidationError(`The request body is not valid: ${describeZodError(parsed.error)}.`);
  return parsed.data as z.infer<S>;
}

/** Like readJson, for routes whose body is optional: an empty body counts as `{}`. */
export async function readOptionalJson<S extends z.ZodType>(request: HttpRequest, schema: S): Promise<z.infer<S>> {
  const text = await request.text();
  let value: unknown = {};
  if (text.trim()) {
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new ValidationError(`The request body is not valid JSON (${error instanceof Error ? error.message : String(error)}).`);
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ValidationError(`The request body is not valid: ${describeZodError(parsed.error)}.`);
  return parsed.data as z.infer<S>;
}

/** A route parameter that must be a GUID (lower-cased). */
export function guidParam(request: HttpRequest, name: string): string {
  const value = request.params[name] ?? '';
  const parsed = guid.safeParse(value);
  if (!parsed.success) throw new ValidationError(`${name} "${value}" is not a GUID (for example 3f2504e0-4f89-41d3-9a0c-0305e82c3301).`);
  return parsed.data;
}

/**
 * The request's `Idempotency-Key` header, when it sends one: the same key makes a resent request
 * answer what the first one did. At most 200 printable characters.
 */
export function idempotencyKeyOf(request: HttpRequest): string | undefined {
  const key = request.headers.get('idempotency-key');
  if (key === null) return undefined;
  if (!key.trim() || key.length > 200 || /[\u0000-\u001f\u007f]/.test(key)) {
    throw new ValidationError('The Idempotency-Key header must be 1 to 200 printable characters (a GUID works well).');
  }
  return key.trim();
}

/** Wrap a route handler: BusinessErrors become problem+json with their status; the rest a 500. */
export function route(source: string, handler: (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>): HttpHandler {
  return async (request, context) => {
    try {
      return await handler(request, context);
    } catch (error) {
      const status = statusOf(error);
      if (status !== undefined && error instanceof Error) {
        const detail =
          error instanceof StaleWriteError
            ? 'What this request changes was changed by someone else at the same moment; nothing of yours was lost: send the request again.'
            : error.message;
        const reference = error instanceof BusinessError ? error.reference : undefined;
        context.log(`[${source}] invocation=${context.invocationId} ${request.method} ${request.url} -> ${status}: ${error.message}`);
        return problem(status, detail, reference ? { reference } : {});
      }
      context.error(`[${source}] invocation=${context.invocationId} ${request.method} ${request.url} failed: ${error instanceof Error ? error.stack : String(error)}`);
      return problem(500, `The request could not be completed (${error instanceof Error ? error.message : 'unexpected error'}). It was logged with invocation id ${context.invocationId}; retrying may help if storage or the broker was briefly unavailable.`);
    }
  };
}
