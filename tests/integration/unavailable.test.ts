/**
 * A route whose storage does not answer says so: 503 problem+json with Retry-After, not 500
 * (issue 14, "never a 500"); once storage is back the same request goes through.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startSystem, type TestSystem } from '../kit/system';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startSystem({ reloadApp: () => vi.resetModules() });
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('storage down', () => {
  it('answers 503 with Retry-After and a reason, then works again once storage is back', async () => {
    const port = await closedPort();
    const down = sys.connectionString.replace(/TableEndpoint=[^;]+/, `TableEndpoint=http://127.0.0.1:${port}/devstoreaccount1`);
    await sys.restartHost({ FinanceTables: down });
    const answer = await sys.http('GET', 'finance/proposals/PI-000001');
    expect(answer.status).toBe(503);
    expect(answer.headers.get('content-type')).toContain('application/problem+json');
    expect(answer.headers.get('retry-after')).toBe('5');
    expect(answer.body.detail).toContain('did not answer');
    await sys.restartHost({ FinanceTables: sys.connectionString });
    expect((await sys.http('GET', 'finance/proposals/PI-000001')).status).toBe(404);
  }, 90_000);
});
