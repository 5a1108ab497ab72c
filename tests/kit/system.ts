/**
 * The whole system for integration and end-to-end tests: a real Azurite (in memory) and the
 * local Service Bus on free loopback ports, and the local Functions host loading the real app
 * (functions/index.ts) exactly as `npm start` does. Each test file starts its own system.
 */
import path from 'node:path';
import { ServiceBusClient, type ServiceBusMessage } from '@azure/service-bus';
import { startAzurite, type LocalAzurite } from '../../dev/azurite';
import { startFunctionsHost, type FunctionsHost } from '../../dev/host';
import { startServiceBus, type LocalServiceBus, type QueueInput } from '../../dev/servicebus';
import { DataverseStore } from '../../shared/dataverse/dataverseStore';
import { ErrorLog } from '../../shared/operations/errorLog';
import { FinanceStore } from '../../shared/finance/financeStore';
import { Queues } from '../../shared/bridge/messages';

export const APP_ENTRY = path.resolve(__dirname, '../../functions/index.ts');
/** A schedule that never fires during a test (1 January, midnight); tests run the import on demand. */
export const NEVER = '0 0 0 1 1 *';

export interface TestSystem {
  azurite: LocalAzurite;
  broker: LocalServiceBus;
  host: FunctionsHost;
  settings: Record<string, string>;
  serviceBus: ServiceBusClient;
  dataverse: DataverseStore;
  finance: FinanceStore;
  errorLog: ErrorLog;
  send(queue: string, body: unknown, options?: Partial<ServiceBusMessage>): Promise<void>;
  http(method: string, route: string, body?: unknown): Promise<{ status: number; headers: Headers; body: any; text: string }>;
  /** Wait until every contract queue is empty (nothing waiting, nothing locked). */
  drain(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function startSystem(options: { settings?: Record<string, string>; queues?: QueueInput[]; log?: (line: string) => void } = {}): Promise<TestSystem> {
  const azurite = await startAzurite();
  const broker = await startServiceBus({ queues: options.queues });
  const settings: Record<string, string> = {
    AzureWebJobsStorage: azurite.connectionString,
    ServiceBusConnection: broker.connectionString,
    DataverseTables: azurite.connectionString,
    FinanceTables: azurite.connectionString,
    IntegrationTables: azurite.connectionString,
    ImportFromStagingSchedule: NEVER,
    AccountingCurrency: 'USD',
    ...options.settings,
  };
  let host: FunctionsHost;
  try {
    host = await startFunctionsHost({ appEntry: APP_ENTRY, settings, httpPort: 0, log: options.log ?? (() => undefined) });
  } catch (error) {
    await broker.close();
    await azurite.stop();
    throw error;
  }
  const serviceBus = new ServiceBusClient(broker.connectionString, { retryOptions: { maxRetries: 2, timeoutInMs: 10_000 } });
  const system: TestSystem = {
    azurite,
    broker,
    host,
    settings,
    serviceBus,
    dataverse: new DataverseStore(azurite.connectionString),
    finance: new FinanceStore(azurite.connectionString),
    errorLog: new ErrorLog(azurite.connectionString),
    async send(queue, body, extra = {}) {
      const sender = serviceBus.createSender(queue);
      try {
        await sender.sendMessages({ body, contentType: typeof body === 'string' ? 'text/plain' : 'application/json', ...extra });
      } finally {
        await sender.close();
      }
    },
    async http(method, route, body) {
      const response = await fetch(`${host.baseUrl}/api/${route}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: keep the text
      }
      return { status: response.status, headers: response.headers, body: parsed, text };
    },
    async drain(timeoutMs = 60_000) {
      const queues = Object.values(Queues);
      let quietRounds = 0;
      await waitFor(
        'the queues to drain',
        async () => {
          // A fresh client per round: the SDK continues a peek after the last message it peeked
          // on the same client, which would skip a message that is still locked.
          let pending = 0;
          const client = new ServiceBusClient(broker.connectionString, { retryOptions: { maxRetries: 2, timeoutInMs: 10_000 } });
          try {
            for (const queue of queues) {
              const receiver = client.createReceiver(queue);
              pending += (await receiver.peekMessages(1)).length;
              await receiver.close();
            }
          } finally {
            await client.close();
          }
          quietRounds = pending === 0 ? quietRounds + 1 : 0;
          return quietRounds >= 2;
        },
        timeoutMs,
        150,
      );
    },
    async stop() {
      await host.stop().catch(() => undefined);
      await serviceBus.close().catch(() => undefined);
      await broker.close().catch(() => undefined);
      await azurite.stop().catch(() => undefined);
    },
  };
  return system;
}
