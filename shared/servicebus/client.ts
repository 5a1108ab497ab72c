/**
 * The process's Service Bus client, built from the ServiceBusConnection setting (a connection
 * string, or the namespace and an identity: shared/identity/credentials.ts), and a reachability
 * probe for the health route.
 */
import { ServiceBusClient, type ServiceBusClientOptions } from '@azure/service-bus';
import type { TokenCredential } from '@azure/identity';
import { inSpan, SpanKind } from '../telemetry/tracing';

/** How the app reaches the namespace: a connection string, or the namespace and a token credential. */
export type ServiceBusAccess = string | { fullyQualifiedNamespace: string; credential: TokenCredential };

const OPTIONS: ServiceBusClientOptions = { retryOptions: { maxRetries: 3, timeoutInMs: 30_000 } };

export function createServiceBusClient(access: ServiceBusAccess): ServiceBusClient {
  return typeof access === 'string' ? new ServiceBusClient(access, OPTIONS) : new ServiceBusClient(access.fullyQualifiedNamespace, access.credential, OPTIONS);
}

/** Peek one message of a queue: proves the namespace answers and the queue exists. */
export async function pingQueue(client: ServiceBusClient, queue: string): Promise<string> {
  return inSpan(`servicebus peek ${queue}`, { kind: SpanKind.CLIENT, attributes: { 'messaging.system': 'servicebus', 'messaging.operation.name': 'peek', 'messaging.destination.name': queue } }, async () => {
    const receiver = client.createReceiver(queue, { receiveMode: 'peekLock' });
    try {
      await receiver.peekMessages(1);
      return `reachable (${queue})`;
    } finally {
      await receiver.close();
    }
  });
}
