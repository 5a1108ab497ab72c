/**
 * The real app (functions/index.ts) loaded by the local host, as `npm start` and Azure load it:
 * every contract function is registered with its trigger, queue, schedule or route, and the
 * health function sees storage and the broker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type TestSystem } from '../kit/system';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startSystem();
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

function triggerOf(name: string): Record<string, unknown> {
  const fn = sys.host.functions.find((f) => f.name === name);
  expect(fn, `function ${name} is registered`).toBeDefined();
  const trigger = Object.values(fn!.bindings).find((b) => /Trigger$/.test(String((b as { type?: string }).type)));
  expect(trigger, `function ${name} has a trigger`).toBeDefined();
  return trigger as Record<string, unknown>;
}

describe('the real app', () => {
  it('registers the six contract functions with their queues and schedule', () => {
    const queues: Record<string, string> = {
      confirmProformaInvoice: 'invoice-confirmations',
      syncInvoiceProposal: 'invoice-proposals',
      syncActuals: 'actuals',
      postInvoiceProposal: 'proposal-postings',
      syncActualsAccounting: 'actuals-accounting',
    };
    for (const [name, queue] of Object.entries(queues)) {
      expect(triggerOf(name)).toMatchObject({ type: 'serviceBusTrigger', queueName: queue, connection: 'ServiceBusConnection' });
    }
    expect(triggerOf('importFromStaging')).toMatchObject({ type: 'timerTrigger', schedule: '%ImportFromStagingSchedule%' });
    expect(triggerOf('reconcile')).toMatchObject({ type: 'timerTrigger' });
    expect(String(triggerOf('reconcile').schedule)).toMatch(/^(%ReconcileSchedule%|0 \*\/15 \* \* \* \*)$/);
    // Every queue's dead-letter queue has a function that turns what lands there into an error row.
    for (const queue of Object.values(queues)) {
      const deadLetter = sys.host.functions.find((f) => Object.values(f.bindings).some((b) => (b as { queueName?: string }).queueName === `${queue}/$DeadLetterQueue`));
      expect(deadLetter, `the dead-letter function of ${queue}`).toBeDefined();
    }
  });

  it('registers every HTTP route of the contract, all but GET health at authLevel function', () => {
    const routes = sys.host.functions
      .map((f) => Object.values(f.bindings).find((b) => (b as { type?: string }).type === 'httpTrigger') as
        | { route: string; methods?: string[]; authLevel?: string }
        | undefined)
      .filter((b): b is { route: string; methods?: string[]; authLevel?: string } => b !== undefined);
    const has = (method: string, route: string) =>
      routes.find((r) => r.route === route && (r.methods ?? ['GET', 'POST']).map((m) => m.toUpperCase()).includes(method));
    const expected: [string, string][] = [
      ['POST', 'dataverse/approvals'],
      ['POST', 'dataverse/actuals/ready'],
      ['POST', 'dataverse/contracts/{contractId}/invoices'],
      ['GET', 'dataverse/invoices/{invoiceId}'],
      ['PATCH', 'dataverse/invoices/{invoiceId}/details/{detailId}'],
      ['DELETE', 'dataverse/invoices/{invoiceId}/details/{detailId}'],
      ['POST', 'dataverse/invoices/{invoiceId}/details'],
      ['POST', 'dataverse/invoices/{invoiceId}/confirm'],
      ['GET', 'finance/proposals'],
      ['GET', 'finance/proposals/{proposalId}'],
      ['POST', 'finance/proposals/{proposalId}/post'],
      ['POST', 'finance/proposals'],
      ['DELETE', 'finance/proposals/{proposalId}'],
      ['GET', 'invoices/{invoiceId}/trace'],
      ['GET', 'errors'],
      ['POST', 'errors/{errorId}/replay'],
      ['POST', 'errors/replay'],
      ['POST', 'dataverse/invoices/{invoiceId}/republish'],
      ['POST', 'dataverse/webhook'],
      ['POST', 'finance/proposals/{proposalId}/republish-accounting'],
      ['GET', 'health'],
      ['GET', 'health/details'],
      ['GET', 'dashboard'],
    ];
    for (const [method, route] of expected) {
      const binding = has(method, route);
      expect(binding, `${method} ${route}`).toBeDefined();
      expect(binding?.authLevel, `${method} ${route} authLevel`).toBe(method === 'GET' && route === 'health' ? 'anonymous' : 'function');
    }
  });

  it('answers GET api/health with up or down only, and GET api/health/details with storage and broker reachable and how each connection authenticates', async () => {
    const summary = await sys.http('GET', 'health');
    expect(summary.status).toBe(200);
    expect(summary.body).toEqual({ status: 'Healthy' });

    const response = await sys.http('GET', 'health/details');
    expect(response.status).toBe(200);
    expect(response.body.status).toBe('Healthy');
    expect(response.body.version).toMatch(/^\d+\.\d+\.\d+/);
    const checks = Object.fromEntries((response.body.checks as { name: string; ok: boolean; auth: string }[]).map((c) => [c.name, [c.ok, c.auth]]));
    expect(checks).toEqual({
      DataverseTables: [true, 'connection string'],
      FinanceTables: [true, 'connection string'],
      IntegrationTables: [true, 'connection string'],
      ServiceBusConnection: [true, 'connection string'],
    });
    const connections = response.body.connections as { name: string; auth: string; target: string }[];
    expect(connections.map((c) => [c.name, c.auth])).toEqual([
      ['AzureWebJobsStorage', 'connection string'],
      ['ServiceBusConnection', 'connection string'],
      ['DataverseTables', 'connection string'],
      ['FinanceTables', 'connection string'],
      ['IntegrationTables', 'connection string'],
    ]);
    // Never a secret: Azurite's well-known key and the broker's key stay out of the report.
    expect(response.text).not.toMatch(/AccountKey|SharedAccessKey|Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/);
  });

  it('reports an unreachable part as 503: anonymous callers see only that, the details name it', async () => {
    await sys.azurite.stop();
    const summary = await sys.http('GET', 'health');
    expect(summary.status).toBe(503);
    expect(summary.body).toEqual({ status: 'Unhealthy' });
    const response = await sys.http('GET', 'health/details');
    expect(response.status).toBe(503);
    expect(response.body.status).toBe('Unhealthy');
    const failed = (response.body.checks as { name: string; ok: boolean }[]).filter((c) => !c.ok).map((c) => c.name);
    expect(failed).toEqual(['DataverseTables', 'FinanceTables', 'IntegrationTables']);
  });
});
