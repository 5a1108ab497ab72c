/**
 * The local host checks function keys as Azure does once keys are configured: a route above
 * `anonymous` answers 401 (empty body) without a valid key, and takes one from the
 * `x-functions-key` header or the `code` query parameter; anonymous routes need none.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFunctionsHost, type FunctionsHost } from '../../../tools/host';
import { FunctionKeys } from '../../../tools/host/httpServer';

const appEntry = path.join(__dirname, '../../fixtures/host-app/httpApp.ts');
const detail = '/api/dataverse/invoices/8a1f3c2e-0000-4000-8000-000000000001/details/d1';

describe('local Functions host: function keys', () => {
  let host: FunctionsHost;
  const logs: string[] = [];

  beforeAll(async () => {
    host = await startFunctionsHost({
      appEntry,
      settings: { 'AzureWebJobs.disabledHttp.Disabled': 'true' },
      httpPort: 0,
      functionKeys: { default: 'key-one', scripts: 'key-two' },
      log: (line) => logs.push(line),
    });
  });

  afterAll(async () => {
    await host?.stop();
  });

  it('answers 401 with an empty body to a function-level route without a key, or with a wrong one', async () => {
    for (const init of [{}, { headers: { 'x-functions-key': 'nope' } }]) {
      const res = await fetch(`${host.baseUrl}${detail}`, init);
      expect(res.status).toBe(401);
      expect(await res.text()).toBe('');
    }
    expect((await fetch(`${host.baseUrl}${detail}?code=nope`)).status).toBe(401);
  });

  it('takes any configured key from the x-functions-key header or the code query parameter', async () => {
    const byHeader = await fetch(`${host.baseUrl}${detail}`, { headers: { 'x-functions-key': 'key-one' } });
    expect(byHeader.status).toBe(200);
    expect(((await byHeader.json()) as { function: string }).function).toBe('getInvoiceDetail');
    const byQuery = await fetch(`${host.baseUrl}${detail}?code=key-two`);
    expect(byQuery.status).toBe(200);
    await byQuery.arrayBuffer();
  });

  it('lets anonymous routes through without a key', async () => {
    const res = await fetch(`${host.baseUrl}/api/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    expect(res.status).toBe(201);
    await res.arrayBuffer();
  });

  it('says at start-up that keys are checked, naming them but not their values', () => {
    const line = logs.find((l) => l.startsWith('Function keys checked'));
    expect(line).toContain('default, scripts');
    expect(line).not.toContain('key-one');
  });
});

describe('FunctionKeys', () => {
  it('checks nothing without keys, and an admin route needs the master key when there is one', () => {
    expect(new FunctionKeys({}).allows('function', undefined)).toBe(true);
    expect(new FunctionKeys({ default: '' }).enabled).toBe(false);
    const keys = new FunctionKeys({ default: 'a', master: 'm' });
    expect(keys.allows('anonymous', undefined)).toBe(true);
    expect(keys.allows('function', 'a')).toBe(true);
    expect(keys.allows('function', 'm')).toBe(true);
    expect(keys.allows('admin', 'a')).toBe(false);
    expect(keys.allows('admin', 'm')).toBe(true);
    expect(keys.allows(undefined, undefined)).toBe(false);
  });
});
