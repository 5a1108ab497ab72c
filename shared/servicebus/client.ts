/**
 * The process's Service Bus client, built from the settings, and a reachability probe for the
 * health route.
 */
import { ServiceBusClient } from '@azure/service-bus';
import { ConfigError, type Settings } from '../config';

export function createServiceBusClient(settings: Settings): ServiceBusClient {
  if (settings.ServiceBusConnection) {
    return new ServiceBusClient(settings.ServiceBusConnection, { retryOptions: { maxRetries: 3, timeoutInMs: 30_000 } });
  }
  throw new ConfigError(
    'Configuration error: ServiceBusConnection__fullyQualifiedNamespace (managed identity) is not supported by this build yet; set ServiceBusConnection to a connection string',
  );
}

/** Peek one message of a queue: proves the namespace answers and the queue exists. */
export async function pingQueue(client: ServiceBusClient, queue: string): Promise<string> {
  const receiver = client.createReceiver(queue, { receiveMode: 'peekLock' });
  try {
    await receiver.peekMessages(1);
    return `reachable (${queue})`;
  } finally {
    await receiver.close();
  }
}
