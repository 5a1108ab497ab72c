/**
 * GET api/openapi.json from the real app in the local Functions host: an OpenAPI 3.1 document that
 * lists every HTTP function the host registered (route and method), with the bodies the routes
 * validate, their answers and problem+json refusals, and the function key on the routes that want
 * one. A registered route missing from the document, or without a description, fails here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describedButNotRegistered, undescribedRoutes, type RegisteredRoute } from '../../../shared/operations/openapi/document';
import { startSystem, type TestSystem } from '../../kit/system';

let system: TestSystem;
let registered: RegisteredRoute[];
// The document is JSON; tests read it field by field.
let doc: any;

/** The HTTP registrations as the host holds them (its bindings, as Azure would see them). */
function httpRegistrationsOfHost(): RegisteredRoute[] {
  return system.host.functions.flatMap((fn) => {
    const bindings = (Array.isArray(fn.bindings) ? fn.bindings : Object.values(fn.bindings)) as { type?: string; route?: string; methods?: string[]; authLevel?: string }[];
    const trigger = bindings.find((b) => b.type?.toLowerCase() === 'httptrigger');
    if (!trigger) return [];
    return [{ name: fn.name, route: trigger.route ?? fn.name, methods: (trigger.methods ?? []).map((m) => m.toUpperCase()), authLevel: trigger.authLevel ?? 'function' }];
  });
}

beforeAll(async () => {
  system = await startSystem();
  registered = httpRegistrationsOfHost();
  const reply = await system.http('GET', 'openapi.json');
  expect(reply.status).toBe(200);
  expect(reply.headers.get('content-type')).toContain('application/json');
  doc = reply.body;
}, 120_000);
afterAll(async () => {
  await system?.stop();
});

describe('GET api/openapi.json', () => {
  it('is OpenAPI 3.1 with the app version and the /api server', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(doc.servers).toEqual([{ url: '/api' }]);
    expect(doc.components.schemas.Problem.properties.detail).toBeDefined();
  });

  it('lists every HTTP function the host registered, method by method', () => {
    expect(registered.length).toBeGreaterThan(30);
    const missing = registered.flatMap((r) => r.methods.filter((m) => doc.paths[`/${r.route}`]?.[m.toLowerCase()] === undefined).map((m) => `${m} ${r.route}`));
    expect(missing).toEqual([]);
    // The document has nothing else: every operation is a registration.
    const operations = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item as object).map((m) => `${m.toUpperCase()} ${path.slice(1)}`));
    const registeredKeys = new Set(registered.flatMap((r) => r.methods.map((m) => `${m} ${r.route}`)));
    expect(operations.filter((o) => !registeredKeys.has(o))).toEqual([]);
  });

  it('describes every registered route (a new route without a description fails here), and describes no route that is not registered', () => {
    expect(undescribedRoutes(registered)).toEqual([]);
    expect(describedButNotRegistered(registered)).toEqual([]);
    const undescribed = Object.values(doc.paths).flatMap((item) => Object.values(item as Record<string, { 'x-undescribed'?: boolean; operationId: string }>).filter((op) => op['x-undescribed']).map((op) => op.operationId));
    expect(undescribed).toEqual([]);
  });

  it('carries the bodies the routes validate, their answers and problem+json refusals', () => {
    const approvals = doc.paths['/dataverse/approvals'].post;
    expect(approvals.requestBody.required).toBe(true);
    const body = approvals.requestBody.content['application/json'].schema;
    expect(body.properties.entries.type).toBe('array');
    expect(body.properties.entries.items.properties.classification.enum).toEqual(['Time', 'Expense', 'Material']);
    expect(approvals.responses['201'].content['application/json'].schema.properties.actuals.type).toBe('array');
    expect(approvals.responses['400'].content['application/problem+json'].schema).toEqual({ $ref: '#/components/schemas/Problem' });

    const preview = doc.paths['/dataverse/invoices/{invoiceId}/confirmation-preview'].get;
    expect(preview.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'invoiceId', in: 'path', required: true })]));
    expect(preview.responses['200'].content['application/json'].schema.properties.outcome.enum).toEqual(['Confirmable', 'Refused', 'AlreadyConfirmed', 'NotConfirmable']);
    expect(preview.responses['404'].content['application/problem+json']).toBeDefined();

    const errors = doc.paths['/errors'].get;
    expect(errors.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['source', 'category', 'status', 'since', 'top', 'continuationToken']));
    expect(doc.paths['/finance/proposals'].post.responses['405']).toBeDefined();
    expect(doc.paths['/console/invoices/{invoiceId}'].get.responses['200'].content['text/html']).toBeDefined();
  });

  it('asks for a function key exactly on the routes registered with authLevel function', () => {
    expect(doc.components.securitySchemes.functionKeyHeader).toEqual(expect.objectContaining({ type: 'apiKey', in: 'header', name: 'x-functions-key' }));
    expect(doc.components.securitySchemes.functionKeyQuery).toEqual(expect.objectContaining({ type: 'apiKey', in: 'query', name: 'code' }));
    for (const r of registered) {
      for (const m of r.methods) {
        const op = doc.paths[`/${r.route}`][m.toLowerCase()];
        expect(op.security, `${m} ${r.route}`).toEqual(r.authLevel === 'anonymous' ? [] : [{ functionKeyHeader: [] }, { functionKeyQuery: [] }]);
      }
    }
  });
});
