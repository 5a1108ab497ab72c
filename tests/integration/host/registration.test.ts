import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startFunctionsHost, type FunctionsHost } from '../../../tools/host';
import { recorded } from '../../fixtures/host-app/probe';

const appEntry = path.join(__dirname, '../../fixtures/host-app/registrationApp.ts');

// Never contacted: the Service Bus functions are disabled and the output binding is not used here.
const settings = {
  ServiceBusConnection: 'Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=local;SharedAccessKey=local;UseDevelopmentEmulator=true',
  ActualsQueue: 'actuals',
  'AzureWebJobs.syncActuals.Disabled': 'true',
  'AzureWebJobs.onTopic.Disabled': 'True',
  'AzureWebJobs.importFromStaging.Disabled': '1',
};

describe('local Functions host: loading an app', () => {
  let host: FunctionsHost | undefined;
  const logs: string[] = [];

  afterAll(async () => {
    await host?.stop();
  });

  it('rejects a schedule whose %Setting% is missing, naming the setting', async () => {
    await expect(
      startFunctionsHost({
        appEntry,
        settings: { ...settings, 'AzureWebJobs.importFromStaging.Disabled': 'false' },
        httpPort: 0,
        log: () => undefined,
      }),
    ).rejects.toThrow(/RegistrationSchedule/);
  });

  it('captures every function with its binding metadata (also when the app module was loaded before)', async () => {
    host = await startFunctionsHost({ appEntry, settings, httpPort: 0, log: (line) => logs.push(line) });
    const byName = Object.fromEntries(host.functions.map((f) => [f.name, f]));
    expect(Object.keys(byName).sort()).toEqual(['confirmInvoice', 'health', 'importFromStaging', 'onTopic', 'syncActuals']);

    const confirm = byName.confirmInvoice;
    expect(confirm?.triggerType).toBe('httpTrigger');
    const confirmTrigger = Object.values(confirm?.bindings ?? {}).find((b) => (b as { type: string }).type === 'httpTrigger');
    expect(confirmTrigger).toMatchObject({
      direction: 'in',
      route: 'dataverse/invoices/{invoiceId}/confirm',
      methods: ['POST'],
      authLevel: 'function',
    });
    expect(confirm?.bindings.$return).toMatchObject({ type: 'http', direction: 'out' });
    const outputs = Object.values(confirm?.bindings ?? {}).filter((b) => (b as { type: string }).type === 'serviceBus');
    expect(outputs).toEqual([expect.objectContaining({ direction: 'out', queueName: 'invoice-proposals', connection: 'ServiceBusConnection' })]);

    expect(byName.health?.bindings).toMatchObject({ $return: { type: 'http' } });
    const timer = Object.values(byName.importFromStaging?.bindings ?? {})[0];
    expect(byName.importFromStaging?.triggerType).toBe('timerTrigger');
    expect(timer).toMatchObject({ type: 'timerTrigger', schedule: '%RegistrationSchedule%' });
    expect(byName.syncActuals?.triggerType).toBe('serviceBusTrigger');
    expect(Object.values(byName.syncActuals?.bindings ?? {})[0]).toMatchObject({ queueName: '%ActualsQueue%', connection: 'ServiceBusConnection' });
    expect(Object.values(byName.onTopic?.bindings ?? {})[0]).toMatchObject({ type: 'serviceBusTrigger', topicName: 'events', subscriptionName: 'integration' });
    expect(byName.syncActuals?.disabled).toBe(true);
    expect(byName.onTopic?.disabled).toBe(true);
    expect(byName.confirmInvoice?.disabled).toBe(false);
    expect((host.functions[0]?.metadata as { name: string }).name).toBe(host.functions[0]?.name);

    // the start-up listing names every function
    for (const name of Object.keys(byName)) expect(logs.some((l) => l.includes(`${name}:`))).toBe(true);
    expect(logs.some((l) => l.includes('/api/dataverse/invoices/{invoiceId}/confirm'))).toBe(true);
  });

  it('runs app and invocation hooks around the handler', async () => {
    expect(recorded('appStart').length).toBeGreaterThanOrEqual(1);
    const res = await fetch(`${host!.baseUrl}/api/dataverse/invoices/abc/confirm`, { method: 'POST' });
    expect(res.status).toBe(202);
    expect(recorded('confirmInvoice').at(-1)?.data).toEqual({ invoiceId: 'abc', functionName: 'confirmInvoice' });
    expect(recorded('preInvocation').at(-1)?.data).toEqual({ functionName: 'confirmInvoice' });
    expect(recorded('postInvocation').at(-1)?.data).toEqual({
      functionName: 'confirmInvoice',
      hadStart: true,
      result: { status: 202 },
    });
  });

  it('runs appTerminate hooks on stop', async () => {
    await host!.stop();
    expect(recorded('appTerminate')).toHaveLength(1);
    expect(recorded('syncActuals')).toHaveLength(0);
    expect(recorded('onTopic')).toHaveLength(0);
    expect(recorded('importFromStaging')).toHaveLength(0);
  });
});
