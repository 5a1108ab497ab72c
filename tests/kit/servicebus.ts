/**
 * Test helpers for Service Bus: a target (the local broker on a free port, or a real namespace /
 * the official emulator when SERVICEBUS_CONFORMANCE_CONNECTION_STRING is set), an SDK client with
 * retry settings that keep failing tests fast, and small receive helpers.
 */
import {
  ServiceBusClient,
  type ServiceBusReceivedMessage,
  type ServiceBusReceiver,
  type ServiceBusClientOptions,
} from '@azure/service-bus';
import { startServiceBus, type LocalServiceBus, type QueueInput } from '../../tools/servicebus';

export const EXTERNAL_CONNECTION_STRING_ENV = 'SERVICEBUS_CONFORMANCE_CONNECTION_STRING';

export interface ServiceBusTarget {
  readonly connectionString: string;
  /** True when the local broker runs in this process. */
  readonly local: boolean;
  readonly broker?: LocalServiceBus;
  close(): Promise<void>;
}

/** The local broker with `queues`, or the external namespace named by the environment. */
export async function startServiceBusTarget(queues: QueueInput[], log?: (line: string) => void): Promise<ServiceBusTarget> {
  const external = process.env[EXTERNAL_CONNECTION_STRING_ENV];
  if (external) {
    return { connectionString: external, local: false, close: async () => undefined };
  }
  const broker = await startServiceBus({ queues, log });
  return { connectionString: broker.connectionString, local: true, broker, close: () => broker.close() };
}

/**
 * The SDK's defaults retry 3 times with 30 s between attempts and wait 60 s per operation;
 * tests want a failure to surface in seconds.
 */
export const fastClientOptions: ServiceBusClientOptions = {
  retryOptions: { maxRetries: 2, retryDelayInMs: 200, maxRetryDelayInMs: 1000, timeoutInMs: 15_000 },
};

export function createTestClient(connectionString: string): ServiceBusClient {
  return new ServiceBusClient(connectionString, fastClientOptions);
}

export function uniqueId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

export { sleep } from './wait';

/** Receives until `count` messages arrived or `timeoutMs` passed. */
export async function receiveCount(receiver: ServiceBusReceiver, count: number, timeoutMs = 10_000): Promise<ServiceBusReceivedMessage[]> {
  const got: ServiceBusReceivedMessage[] = [];
  const deadline = Date.now() + timeoutMs;
  while (got.length < count && Date.now() < deadline) {
    const wait = Math.max(100, Math.min(2_000, deadline - Date.now()));
    got.push(...(await receiver.receiveMessages(count - got.length, { maxWaitTimeInMs: wait })));
  }
  return got;
}

/** Removes whatever is left in a queue (or its dead-letter queue); needed on shared namespaces. */
export async function purge(client: ServiceBusClient, queue: string, subQueueType?: 'deadLetter'): Promise<number> {
  const receiver = client.createReceiver(queue, { receiveMode: 'receiveAndDelete', subQueueType });
  let total = 0;
  try {
    for (;;) {
      const batch = await receiver.receiveMessages(100, { maxWaitTimeInMs: 500 });
      total += batch.length;
      if (!batch.length) return total;
    }
  } finally {
    await receiver.close();
  }
}
