/**
 * A local, Azure Service Bus-compatible AMQP 1.0 broker for development and tests. The real
 * `@azure/service-bus` SDK talks to it with
 * `Endpoint=sb://127.0.0.1:<port>;SharedAccessKeyName=<any>;SharedAccessKey=<any>;UseDevelopmentEmulator=true`.
 * Queues come from an official-emulator `Config.json` (default: ./config.json) plus `queues`.
 */
import { defaultConfigFile, loadEmulatorConfig, mergeQueues, type QueueDefinition, type QueueInput } from './config';
import { Namespace } from './queue';
import { BrokerServer } from './server';

export type { QueueDefinition, QueueInput } from './config';
export { loadEmulatorConfig } from './config';

export interface LocalServiceBus {
  readonly port: number;
  readonly connectionString: string;
  /** Stops listening, closes connections, clears timers. */
  close(): Promise<void>;
}

export interface StartServiceBusOptions {
  host?: string;
  port?: number;
  configFile?: string;
  queues?: QueueInput[];
  log?: (line: string) => void;
}

export async function startServiceBus(options: StartServiceBusOptions = {}): Promise<LocalServiceBus> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => undefined);
  const configFile = options.configFile ?? defaultConfigFile();
  const queues: QueueDefinition[] = mergeQueues(loadEmulatorConfig(configFile), options.queues);
  const namespace = new Namespace(queues, { log });
  const server = new BrokerServer({ host, port: options.port ?? 0, namespace, log });
  let port: number;
  try {
    port = await server.listen();
  } catch (err) {
    await server.close();
    throw err;
  }
  const endpointHost = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  const connectionString = serviceBusConnectionString(endpointHost, port);
  log(`Service Bus broker listening on ${host}:${port} with queues ${queues.map((q) => q.name).join(', ')}`);
  return {
    port,
    connectionString,
    close: () => server.close(),
  };
}

export function serviceBusConnectionString(host: string, port: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `Endpoint=sb://${h}:${port};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;`;
}
