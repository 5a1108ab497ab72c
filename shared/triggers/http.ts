/**
 * The HTTP edge of every route: registration (`httpFunction`, the only place routes meet
 * `@azure/functions`), problem+json errors (RFC 9457) with a message a person can act on, JSON
 * bodies parsed with zod, GUID route parameters checked, and the mapping of the domain's
 * failures to statuses: ValidationError 400, NotFoundError 404, other BusinessErrors 409, a
 * write that lost a race 409, storage or the broker unavailable 503 with Retry-After, anything
 * unexpected 500 without a stack trace.
 */
import { app, type HttpHandler, type HttpMethod, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import type { z } from 'zod';
import { BusinessError, isUnavailable, NotFoundError, StaleWriteError, ValidationError } from '../core/errors';
import { describeZodError, guid } from '../core/fields';
import { BusinessKeys, contextOfTraceParent, inSpan, markFailed, SpanKind } from '../telemetry/tracing';

export type { HttpRequest, HttpResponseInit, InvocationContext };

/**
 * The only routes anyone may call without a function key: `GET health` (up or down, no details).
 * Every other route is `authLevel: 'function'` whatever its registration asks for, so a new
 * route cannot expose invoices, proposals, traces or the error log by mistake (issue 18).
 */
export const ANONYMOUS_ROUTES: ReadonlySet<string> = new Set(['GET health']);

/** The auth level a route gets: anonymous only for ANONYMOUS_ROUTES (all its methods listed there), else function. */
export function authLevelOf(route: string, methods: readonly HttpMethod[], asked: 'anonymous' | 'function' | undefined): 'anonymous' | 'function' {
  const open = methods.length > 0 && methods.every((m) => ANONYMOUS_ROUTES.has(`${m.toUpperCase()} ${route.replace(/^\/+|\/+$/g, '')}`));
  return asked === 'anonymous' && open ? 'anonymous' : 'function';
}

/**
 * Register an HTTP function: a route under `api/`, its methods, and its handler wrapped by `route`.
 * `authLevel` may be left out (function); 'anonymous' is granted only to ANONYMOUS_ROUTES.
 */
export function httpFunction(
  name: string,
  options: { route: string; methods: HttpMethod[]; authLevel?: 'anonymous' | 'function'; handler: (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit> },
): void {
  const authLevel = authLevelOf(options.route, options.methods, options.authLevel);
  app.http(name, { route: options.route, methods: options.methods, authLevel, handler: route(name, options.handler) });
  registrations.push({ name, route: options.route, methods: [...options.methods], authLevel });
}

/** One HTTP registration as `httpFunction` made it, with the auth level it got (what the OpenAPI description lists). */
export interface HttpRouteRegistration {
  name: string;
  route: string;
  methods: HttpMethod[];
  authLevel: 'anonymous' | 'function';
}

const registrations: HttpRouteRegistration[] = [];

/** Every HTTP function registered in this process so far, in registration order. */
export function httpRegistrations(): readonly HttpRouteRegistration[] {
  return registrations;
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

/** The invoice and proposal a request is about, from its route parameters. */
function routeKeys(request: HttpRequest): BusinessKeys {
  const keys = new BusinessKeys();
  keys.addInvoice(request.params.invoiceId);
  keys.addProposal(request.params.proposalId);
  return keys;
}

/**
 * Wrap a route handler: one SERVER span per invocation (in the trace context the host hands
 * over), BusinessErrors become problem+json with their status; the rest a 500.
 */
export function route(source: string, handler: (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>): HttpHandler {
  return (request, context) =>
    inSpan(
      `${source} ${request.method}`,
      {
        kind: SpanKind.SERVER,
        parent: contextOfTraceParent(context.traceContext?.traceParent),
        invocation: true,
        attributes: { 'faas.name': source, 'faas.trigger': 'http', 'faas.invocation_id': context.invocationId, 'http.request.method': request.method, ...routeKeys(request).attributes() },
      },
      async (span) => {
        const response = await answer(source, handler, request, context);
        const status = response.status ?? 200;
        span.setAttribute('http.response.status_code', status);
        if (status >= 500) markFailed(span, `answered ${status}`);
        return response;
      },
    );
}

async function answer(source: string, handler: (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>, request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
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
    if (isUnavailable(error)) {
      context.warn(`[${source}] invocation=${context.invocationId} ${request.method} ${request.url} -> 503: ${error instanceof Error ? error.message : String(error)}`);
      return problem(
        503,
        `Storage or the message broker did not answer (${error instanceof Error ? error.message.slice(0, 300) : 'no answer'}). The request may have been applied in part; send it again in a few seconds: what it already changed is not done twice.`,
        { invocationId: context.invocationId },
        { 'retry-after': '5' },
      );
    }
    context.error(`[${source}] invocation=${context.invocationId} ${request.method} ${request.url} failed: ${error instanceof Error ? error.stack : String(error)}`);
    return problem(500, `The request could not be completed (${error instanceof Error ? error.message : 'unexpected error'}). It was logged with invocation id ${context.invocationId}; retrying may help if storage or the broker was briefly unavailable.`);
  }
}
