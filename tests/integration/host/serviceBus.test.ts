import path from 'node:path';
import { ServiceBusClient, type ServiceBusReceivedMessage } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFunctionsHost, type FunctionsHost } from '../../../tools/host';
import { startServiceBus } from '../../../tools/servicebus';
import { recorded } from '../../fixtures/host-app/probe';
import { waitFor } from '../../kit/wait';

const appEntry = path.join(__dirname, '../../fixtures/host-app/serviceBusApp.ts');

type Broker = Awaited<ReturnType<typeof startServiceBus>>;

interface OrderSeen {
  message: unknown;
  triggerMetadata: Record<string, unknown>;
  invocationId: string;
  trigger: Record<string, unknown>;
  traceParent?: string;
}

describe('local Functions host: Service Bus triggers and outputs', () => {
  let broker: Broker;
  let host: FunctionsHost;
  let client: ServiceBusClient;
  const logs: string[] = [];

  beforeAll(async () => {
    broker = await startServiceBus({
      port: 0,
      queues: [
        { name: 'host-orders' },
        { name: 'host-poison', maxDeliveryCount: 3, lockDurationMs: 5_000 },
        { name: 'host-forward' },
        { name: 'host-forwarded' },
        { name: 'host-returned' },
        { name: 'host-published' },
        { name: 'host-text' },
        { name: 'host-batch' },
        { name: 'host-disabled' },
        { name: 'host-slow', lockDurationMs: 1_500 },
        { name: 'host-mixed', maxDeliveryCount: 1 },
      ],
    });
    client = new ServiceBusClient(broker.connectionString, { retryOptions: { maxRetries: 2, timeoutInMs: 10_000 } });
    try {
      host = await startFunctionsHost({
        appEntry,
        settings: {
          ServiceBusConnection: broker.connectionString,
          OrdersQueue: 'host-orders',
          ReturnedQueue: 'host-returned',
          'AzureWebJobs.disabledReceiver.Disabled': 'true',
        },
        httpPort: 0,
        log: (line) => logs.push(line),
      });
    } catch (error) {
      await client.close();
      await broker.close();
      throw error;
    }
  });

  afterAll(async () => {
    await host?.stop();
    await client?.close();
    await broker?.close();
    if (process.env.HOST_TEST_LOGS) console.log(logs.join('\n'));
  });

  async function send(queue: string, ...messages: Parameters<ReturnType<ServiceBusClient['createSender']>['sendMessages']>[0][]): Promise<void> {
    const sender = client.createSender(queue);
    try {
      for (const m of messages) await sender.sendMessages(m);
    } finally {
      await sender.close();
    }
  }

  async function receiveAll(queue: string, count: number, options: { deadLetter?: boolean; timeoutMs?: number } = {}): Promise<ServiceBusReceivedMessage[]> {
    const receiver = client.createReceiver(queue, options.deadLetter ? { subQueueType: 'deadLetter' } : {});
    const received: ServiceBusReceivedMessage[] = [];
    const deadline = Date.now() + (options.timeoutMs ?? 20_000);
    try {
      while (received.length < count && Date.now() < deadline) {
        const batch = await receiver.receiveMessages(count - received.length, { maxWaitTimeInMs: 2_000 });
        for (const m of batch) {
          received.push(m);
          await receiver.completeMessage(m);
        }
      }
    } finally {
      await receiver.close();
    }
    return received;
  }

  async function queueIsEmpty(queue: string): Promise<boolean> {
    const receiver = client.createReceiver(queue);
    try {
      return (await receiver.peekMessages(1)).length === 0;
    } finally {
      await receiver.close();
    }
  }

  /** Polls an async condition until it holds or the time is up; returns its last value. */
  async function eventually(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await condition()) return true;
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('hands a message to the handler with the argument and trigger metadata shapes of Azure', async () => {
    await send('host-orders', {
      body: { invoiceId: '8a1f3c2e-0000-4000-8000-000000000001', confirmedBy: 'ann' },
      messageId: 'order-msg-1',
      correlationId: 'corr-1',
      contentType: 'application/json',
      subject: 'confirm',
      applicationProperties: { Source: 'dataverse', attempt: 1 },
    });
    const event = await waitFor('receiveOrder', () => recorded('receiveOrder')[0]);
    const seen = event.data as OrderSeen;
    expect(seen.message).toEqual({ invoiceId: '8a1f3c2e-0000-4000-8000-000000000001', confirmedBy: 'ann' });
    const md = seen.triggerMetadata;
    expect(md).toMatchObject({
      messageId: 'order-msg-1',
      deliveryCount: 1,
      correlationId: 'corr-1',
      contentType: 'application/json',
      subject: 'confirm',
      // the library camelCases nested keys as well, as it does in Azure
      applicationProperties: { source: 'dataverse', attempt: 1 },
    });
    expect(typeof md.sequenceNumber).toBe('number');
    expect(typeof md.lockToken).toBe('string');
    expect(Number.isNaN(Date.parse(String(md.enqueuedTimeUtc)))).toBe(false);
    expect(Number.isNaN(Date.parse(String(md.expiresAtUtc)))).toBe(false);
    expect(md).toHaveProperty('sys');
    expect((md.sys as Record<string, unknown>).methodName).toBe('receiveOrder');
    // plain data only: no receiver or settlement objects
    expect(md).not.toHaveProperty('messageReceiver');
    expect(md).not.toHaveProperty('messageActions');
    expect(JSON.parse(JSON.stringify(md))).toEqual(md);
    expect(seen.trigger).toMatchObject({ type: 'serviceBusTrigger', queueName: '%OrdersQueue%', connection: 'ServiceBusConnection' });
    expect(seen.traceParent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(logs.some((l) => l.includes(`Executed 'Functions.receiveOrder' (Succeeded, Id=${seen.invocationId}`))).toBe(true);

    // completed on success: nothing is left in the queue
    expect(await eventually(() => queueIsEmpty('host-orders'))).toBe(true);
  });

  it('redelivers a failing message with deliveryCount 2, 3 and then dead-letters it', async () => {
    await send('host-poison', { body: { poison: true }, messageId: 'poison-1' });
    const dead = await receiveAll('host-poison', 1, { deadLetter: true, timeoutMs: 30_000 });
    expect(dead).toHaveLength(1);
    expect(dead[0]?.messageId).toBe('poison-1');
    expect(dead[0]?.body).toEqual({ poison: true });
    const deliveries = recorded('alwaysFails').map((e) => (e.data as { deliveryCount: number }).deliveryCount);
    expect(deliveries).toEqual([1, 2, 3]);
    expect(logs.filter((l) => l.includes("Executed 'Functions.alwaysFails' (Failed"))).toHaveLength(3);
    expect(logs.some((l) => l.includes('transient failure on delivery 2'))).toBe(true);
  });

  it('keeps each outcome with its own message when concurrent handlers succeed and fail together', async () => {
    const sender = client.createSender('host-mixed');
    await sender.sendMessages(Array.from({ length: 60 }, (_, n) => ({ body: { n }, messageId: `mixed-${n}` })));
    await sender.close();
    // With max delivery count 1 every failed message goes straight to the dead-letter queue.
    const dead = await receiveAll('host-mixed', 30, { deadLetter: true, timeoutMs: 30_000 });
    expect(dead.map((m) => (m.body as { n: number }).n).sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => 2 * i + 1));
    expect(await eventually(() => queueIsEmpty('host-mixed'))).toBe(true);
    const handled = recorded('mixedOutcomes').map((e) => (e.data as { n: number }).n);
    expect(handled.sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, n) => n));
  });

  it('sends what the handler set on Service Bus output bindings (extraOutputs array and return)', async () => {
    await send('host-forward', { body: { orderId: 'o-42' } });
    const forwarded = await receiveAll('host-forwarded', 2);
    expect(forwarded.map((m) => m.body)).toEqual([
      { orderId: 'o-42', part: 1 },
      { orderId: 'o-42', part: 2 },
    ]);
    const returned = await receiveAll('host-returned', 1);
    expect(returned.map((m) => m.body)).toEqual([{ orderId: 'o-42', returned: true }]);
    expect(returned[0]?.contentType).toBe('application/json');
  });

  it('sends an HTTP function output binding message before answering', async () => {
    const res = await fetch(`${host.baseUrl}/api/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ proposalId: 'P-1' }),
    });
    expect(res.status).toBe(202);
    const published = await receiveAll('host-published', 1);
    expect(published.map((m) => m.body)).toEqual([{ proposalId: 'P-1', via: 'http' }]);
  });

  it('passes a non-JSON body as a string (and completes a message that has no MessageId)', async () => {
    await send('host-text', { body: Buffer.from('plain text, not JSON', 'utf8'), contentType: 'text/plain' });
    const event = await waitFor('textMessages', () => recorded('textMessages')[0]);
    expect(event.data).toEqual({ message: 'plain text, not JSON', type: 'string', contentType: 'text/plain' });
    expect(await eventually(() => queueIsEmpty('host-text'))).toBe(true);
    expect(logs.some((l) => l.includes('Could not complete'))).toBe(false);
  });

  it('renews the lock while a handler runs longer than the lock duration', async () => {
    await send('host-slow', { body: { slow: true } });
    await waitFor('the slow handler to finish', () => recorded('slowHandlerEnd').length === 1, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // a lost lock would redeliver by now
    expect(recorded('slowHandlerStart').map((e) => (e.data as { deliveryCount: number }).deliveryCount)).toEqual([1]);
    expect(await queueIsEmpty('host-slow')).toBe(true);
    expect(logs.some((l) => l.includes('Could not renew'))).toBe(false);
  });

  it("delivers batches to cardinality 'many' functions", async () => {
    const sender = client.createSender('host-batch');
    try {
      await sender.sendMessages([
        { body: { n: 1 }, messageId: 'b1' },
        { body: { n: 2 }, messageId: 'b2' },
        { body: { n: 3 }, messageId: 'b3' },
      ]);
    } finally {
      await sender.close();
    }
    await waitFor('all batch messages', () => {
      const all = recorded('receiveBatch').flatMap((e) => (e.data as { messages: unknown[] }).messages);
      return all.length >= 3 ? all : undefined;
    });
    const first = recorded('receiveBatch')[0]?.data as { messages: unknown[]; deliveryCounts: unknown[]; messageIds: unknown[] };
    expect(Array.isArray(first.messages)).toBe(true);
    expect(first.deliveryCounts.every((c) => c === 1)).toBe(true);
    expect(first.messageIds[0]).toBe('b1');
  });

  it('never runs a disabled Service Bus function (its messages stay in the queue)', async () => {
    await send('host-disabled', { body: { ignored: true } });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(recorded('disabledReceiver')).toHaveLength(0);
    const receiver = client.createReceiver('host-disabled');
    try {
      expect(await receiver.peekMessages(5)).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });
});
