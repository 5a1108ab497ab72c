/**
 * `GET api/openapi.json`: the OpenAPI 3.1 description of every HTTP route, generated with
 * @asteasolutions/zod-to-openapi from the zod schemas the routes validate with (routes.ts) and the
 * answers' schemas (answers.ts). The list of routes is the process's own registrations (each
 * `httpFunction` call, with its methods and auth level), so the document names every route that
 * exists; a registration without a description in routes.ts still appears, marked
 * `x-undescribed`, and a test fails on it.
 */
import { OpenAPIRegistry, OpenApiGeneratorV31, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { guid } from '../../core/fields';
import { problemSchema } from './answers';
import { ROUTES, routeKey, type RouteDescription } from './routes';

/** One HTTP registration (triggers/http.ts `httpRegistrations()` has this shape). */
export interface RegisteredRoute {
  name: string;
  route: string;
  methods: readonly string[];
  authLevel: 'anonymous' | 'function' | string;
}

const TITLES: Record<number, string> = {
  400: 'Bad request',
  401: 'Unauthorized',
  404: 'Not found',
  405: 'Method not allowed',
  409: 'Conflict',
  500: 'Internal error',
  503: 'Service unavailable',
};

/** Route parameters named like these are GUIDs; others are text (a proposal id, an error id, an asset name). */
const GUID_PARAMS = new Set(['invoiceId', 'contractId', 'detailId', 'actualId']);

function paramsOf(route: string): z.ZodObject | undefined {
  const names = [...route.matchAll(/\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]!);
  if (!names.length) return undefined;
  return z.object(Object.fromEntries(names.map((n) => [n, GUID_PARAMS.has(n) ? guid : z.string().min(1).max(200)])));
}

/** The registrations (method by method) that routes.ts does not describe. */
export function undescribedRoutes(registrations: readonly RegisteredRoute[]): string[] {
  return registrations.flatMap((r) => r.methods.map((m) => routeKey(m, r.route))).filter((key) => ROUTES[key] === undefined);
}

/** The descriptions in routes.ts that no registration has (a renamed or removed route). */
export function describedButNotRegistered(registrations: readonly RegisteredRoute[]): string[] {
  const registered = new Set(registrations.flatMap((r) => r.methods.map((m) => routeKey(m, r.route))));
  return Object.keys(ROUTES).filter((key) => !registered.has(key));
}

function operationOf(registration: RegisteredRoute, method: string, description: RouteDescription | undefined, problemRef: z.ZodType): RouteConfig {
  const lower = method.toLowerCase() as RouteConfig['method'];
  const protectedRoute = registration.authLevel !== 'anonymous';
  const responses: RouteConfig['responses'] = {};
  const d: RouteDescription = description ?? { tag: 'Operations', summary: `${registration.name} (not described yet)`, answers: { 200: { description: 'the answer' } } };
  for (const [status, answer] of Object.entries(d.answers)) {
    const contentType = answer.contentType ?? 'application/json';
    responses[status] = { description: answer.description, content: { [contentType]: answer.schema ? { schema: answer.schema } : { schema: { type: 'string' } } } };
  }
  const errorContent = d.tag === 'Console' ? 'text/html' : 'application/problem+json';
  const problems: Record<number, string> = { ...(d.problems ?? {}), 500: 'unexpected failure (logged with the invocation id; retrying may help)' };
  if (protectedRoute) problems[401] = 'no valid function key (send x-functions-key or ?code=)';
  for (const [status, what] of Object.entries(problems)) {
    const title = TITLES[Number(status)] ?? 'Error';
    responses[status] = {
      description: `${title}: ${what}`,
      ...(Number(status) === 401 ? {} : { content: { [errorContent]: errorContent === 'text/html' ? { schema: { type: 'string' } } : { schema: problemRef } } }),
    };
  }
  const params = paramsOf(registration.route);
  const config: RouteConfig = {
    method: lower,
    path: `/${registration.route}`,
    operationId: registration.methods.length > 1 ? `${registration.name}_${lower}` : registration.name,
    summary: d.summary,
    tags: [d.tag],
    ...(d.description ? { description: d.description } : {}),
    ...(protectedRoute ? { security: [{ functionKeyHeader: [] }, { functionKeyQuery: [] }] } : { security: [] }),
    request: {
      ...(params ? { params } : {}),
      ...(d.query ? { query: d.query } : {}),
      ...(d.body ? { body: { required: d.body.required, ...(d.body.description ? { description: d.body.description } : {}), content: { 'application/json': { schema: d.body.schema } } } } : {}),
    },
    responses,
  };
  if (!description) (config as Record<string, unknown>)['x-undescribed'] = true;
  return config;
}

/** The OpenAPI 3.1 document of these registrations. */
export function openApiDocument(registrations: readonly RegisteredRoute[], options: { version: string; serverUrl?: string }): Record<string, unknown> {
  const registry = new OpenAPIRegistry();
  // problemSchema carries its component id (meta), so every use is a $ref to #/components/schemas/Problem.
  const problemRef = problemSchema;
  registry.registerComponent('securitySchemes', 'functionKeyHeader', { type: 'apiKey', in: 'header', name: 'x-functions-key', description: 'A function key of the app (Azure Functions key management)' });
  registry.registerComponent('securitySchemes', 'functionKeyQuery', { type: 'apiKey', in: 'query', name: 'code', description: 'The same key as the code query parameter (links and forms of the console carry it)' });
  const sorted = [...registrations].sort((a, b) => (a.route === b.route ? (a.name < b.name ? -1 : 1) : a.route < b.route ? -1 : 1));
  for (const registration of sorted) {
    for (const method of registration.methods) {
      registry.registerPath(operationOf(registration, method, ROUTES[routeKey(method, registration.route)], problemRef));
    }
  }
  const generator = new OpenApiGeneratorV31(registry.definitions);
  const document = generator.generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Project invoicing between Dataverse and F&O',
      version: options.version,
      description:
        'The HTTP routes of the Azure Functions app: the two sides\' user actions (Dataverse, F&O), views and operations, and the console\'s pages. Errors are application/problem+json with a detail a person can act on. Routes marked with a security requirement take a function key (x-functions-key header or code query parameter).',
    },
    servers: [{ url: options.serverUrl ?? '/api' }],
    tags: [
      { name: 'Dataverse', description: 'the project manager\'s side: approvals, backlog, proforma invoices, confirmation, corrections' },
      { name: 'F&O', description: 'the accountant\'s side: invoice proposals and posting' },
      { name: 'Operations', description: 'trace, error log, replay, health, dashboard' },
      { name: 'Console', description: 'HTML pages for people' },
    ],
  });
  return document as unknown as Record<string, unknown>;
}
