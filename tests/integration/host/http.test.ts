import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFunctionsHost, type FunctionsHost } from '../../../tools/host';
import { recorded } from '../../fixtures/host-app/probe';
import { waitFor } from '../../kit/wait';

const appEntry = path.join(__dirname, '../../fixtures/host-app/httpApp.ts');

describe('local Functions host: HTTP triggers', () => {
  let host: FunctionsHost;
  const logs: string[] = [];

  beforeAll(async () => {
    host = await startFunctionsHost({
      appEntry,
      settings: { 'AzureWebJobs.disabledHttp.Disabled': 'true', SOME_SETTING: 'x' },
      httpPort: 0,
      log: (line) => logs.push(line),
    });
  });

  afterAll(async () => {
    await host?.stop();
  });

  it('copies the settings into process.env', () => {
    expect(process.env.SOME_SETTING).toBe('x');
  });

  it('answers with route parameters, query, headers and trigger info', async () => {
    const res = await fetch(
      `${host.baseUrl}/api/dataverse/invoices/8a1f3c2e-0000-4000-8000-000000000001/details/d%201?top=5&tag=a&tag=b`,
      { headers: { 'x-custom': 'hello' } },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      function: 'getInvoiceDetail',
      method: 'GET',
      params: { invoiceId: '8a1f3c2e-0000-4000-8000-000000000001', detailId: 'd 1' },
      query: { top: '5', tag: 'b' },
      tags: ['a', 'b'],
      header: 'hello',
      trigger: 'httpTrigger',
      body: null,
    });
    expect(String(body.url)).toContain('/api/dataverse/invoices/');
    expect(body.invocationId).toMatch(/^[0-9a-f-]{36}$/);
    // the handler's context.log line carries function name and invocation id
    expect(logs.some((l) => l.includes(`getInvoiceDetail (${String(body.invocationId)})`) && l.includes('detail d 1'))).toBe(true);
    expect(logs.some((l) => l.includes(`Executed 'Functions.getInvoiceDetail' (Succeeded, Id=${String(body.invocationId)}`))).toBe(true);
  });

  it('reads a JSON body (PATCH) on the same route', async () => {
    const res = await fetch(`${host.baseUrl}/api/dataverse/invoices/inv1/details/det2`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ quantity: '7.5', price: '100.00' }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.body).toEqual({ quantity: '7.5', price: '100.00' });
    expect(body.method).toBe('PATCH');
  });

  it('prefers a literal segment over a parameter', async () => {
    const res = await fetch(`${host.baseUrl}/api/dataverse/invoices/special/details/9`);
    expect(await res.json()).toEqual({ special: true, detailId: '9' });
  });

  it('matches literal segments case-insensitively', async () => {
    const res = await fetch(`${host.baseUrl}/API/Dataverse/Invoices/abc/Details/def`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { params: unknown }).params).toEqual({ invoiceId: 'abc', detailId: 'def' });
  });

  it('handles optional parameters, text and JSON bodies, status, headers and cookies', async () => {
    const json = await fetch(`${host.baseUrl}/api/echo/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: 1 }),
    });
    expect(json.status).toBe(201);
    expect(json.headers.get('x-echo')).toBe('yes');
    expect(json.headers.get('set-cookie')).toContain('session=abc');
    expect(await json.json()).toEqual({ body: { a: 1 }, contentType: 'application/json', kind: 'orders' });

    const text = await fetch(`${host.baseUrl}/api/echo`, {
      method: 'PUT',
      headers: { 'content-type': 'text/plain' },
      body: 'plain words',
    });
    expect(text.status).toBe(201);
    expect(await text.json()).toEqual({ body: 'plain words', contentType: 'text/plain', kind: null });
  });

  it('returns Buffer bodies byte for byte', async () => {
    const res = await fetch(`${host.baseUrl}/api/files/x.bin`);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect([...new Uint8Array(await res.arrayBuffer())]).toEqual([0, 1, 2, 255]);
  });

  it('checks route constraints', async () => {
    const ok = await fetch(`${host.baseUrl}/api/items/3f2504e0-4f89-11d3-9a0c-0305e82c3301`);
    expect(ok.status).toBe(200);
    const bad = await fetch(`${host.baseUrl}/api/items/not-a-guid`);
    expect(bad.status).toBe(404);
  });

  it('uses the function name as the default route (the library defaults methods to GET and POST)', async () => {
    const res = await fetch(`${host.baseUrl}/api/defaultRouteFunction`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('default route, POST');
    expect((await fetch(`${host.baseUrl}/api/defaultRouteFunction`, { method: 'DELETE' })).status).toBe(404);
  });

  it('answers 404 for unknown routes, wrong methods and routes outside the prefix', async () => {
    expect((await fetch(`${host.baseUrl}/api/does/not/exist`)).status).toBe(404);
    expect((await fetch(`${host.baseUrl}/api/files/x.bin`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${host.baseUrl}/files/x.bin`)).status).toBe(404);
  });

  it('answers 204 when the handler returns nothing, 500 when it throws, and passes other statuses through', async () => {
    expect((await fetch(`${host.baseUrl}/api/nothing`)).status).toBe(204);
    const boom = await fetch(`${host.baseUrl}/api/boom`);
    expect(boom.status).toBe(500);
    expect(logs.some((l) => l.includes('boom from the handler'))).toBe(true);
    expect(logs.some((l) => l.includes("Executed 'Functions.throwing' (Failed"))).toBe(true);
    const problem = await fetch(`${host.baseUrl}/api/problem`);
    expect(problem.status).toBe(405);
    expect(problem.headers.get('content-type')).toBe('application/problem+json');
    expect(await problem.json()).toEqual({ title: 'Method Not Allowed', detail: 'read only' });
  });

  it('registers a disabled function but never runs it (404 like Core Tools)', async () => {
    const fn = host.functions.find((f) => f.name === 'disabledHttp');
    expect(fn).toBeDefined();
    const res = await fetch(`${host.baseUrl}/api/disabled`);
    expect(res.status).toBe(404);
    expect(recorded('disabledHttp')).toHaveLength(0);
  });

  it('is reachable through localhost as well', async () => {
    const res = await fetch(`http://localhost:${host.httpPort}/api/files/y`);
    expect(res.status).toBe(200);
  });

  it('counts completed invocations', async () => {
    const before = host.invocations();
    await fetch(`${host.baseUrl}/api/files/z`);
    expect(host.invocations()).toBe(before + 1);
  });

  it('waits for in-flight invocations on stop and then refuses connections', async () => {
    const pending = fetch(`${host.baseUrl}/api/slow`);
    await waitFor('the slow invocation to start', () => logs.some((l) => l.includes("Executing 'Functions.slow'")));
    await host.stop();
    expect(recorded('slowDone')).toHaveLength(1);
    const res = await pending;
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('slow done');
    await expect(fetch(`${host.baseUrl}/api/files/z`)).rejects.toThrow();
  });
});
