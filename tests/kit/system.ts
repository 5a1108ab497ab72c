/**
 * The whole system on this machine, for tests, the bench and the demo test: a real Azurite (table
 * service, in memory) and the local Service Bus on free loopback ports, and the local Functions
 * host loading the real app. Two ways to run the host, over one core:
 *
 * - `startSystem`: the host in this process on the app's source (functions/index.ts), as the
 *   integration and end-to-end tests run it under vitest. Each test file starts its own system.
 * - `startSystemWithHostProcess`: the host in a child process on the app's build
 *   (dist/functions/index.js), as the bench runs it, so the host's memory and event loop are its
 *   own. Works from the tools' build only (the child is compiled JavaScript).
 */
import { ServiceBusClient, type RetryOptions, type ServiceBusMessage, type ServiceBusSender } from '@azure/service-bus';
import { startAzurite, type LocalAzurite } from '../../tools/azurite';
import { startHostChild, type HostChild } from '../../tools/bench/hostClient';
import { startFunctionsHost, type FunctionsHost } from '../../tools/host';
import { APP_SOURCE_ENTRY } from '../../tools/paths';
import { startServiceBus, type LocalServiceBus, type QueueInput } from '../../tools/servicebus';
import { DataverseStore } from '../../shared/dataverse/dataverseStore';
import { ErrorLog } from '../../shared/operations/errorLogStore';
import { FinanceStore } from '../../shared/finance/financeStore';
import { Queues } from '../../shared/messages';
import { waitFor } from './wait';

export { waitFor } from './wait';

export const APP_ENTRY = APP_SOURCE_ENTRY;
/** A schedule that never fires (1 January, midnight); the import runs on demand. */
export const NEVER = '0 0 0 1 1 *';

/** What both kinds of host offer the system. */
export interface RunningHost {
  readonly baseUrl: string;
  stop(): Promise<void>;
}

export interface OutgoingMessage {
  body: unknown;
  messageId?: string;
}

export interface HttpReply {
  status: number;
  headers: Headers;
  // Tests read replies field by field; each test checks the shape it expects.
  body: any;
  text: string;
}

export interface System<H extends RunningHost> {
  readonly azurite: LocalAzurite;
  readonly broker: LocalServiceBus;
  readonly host: H;
  readonly settings: Record<string, string>;
  /** Azurite's connection string (every table of both sides is there). */
  readonly connectionString: string;
  readonly serviceBus: ServiceBusClient;
  readonly dataverse: DataverseStore;
  readonly finance: FinanceStore;
  readonly errorLog: ErrorLog;
  /** One message; JSON unless the body is a string. */
  send(queue: string, body: unknown, options?: Partial<ServiceBusMessage>): Promise<void>;
  /** Many JSON messages, in as few batches as fit. */
  sendBatch(queue: string, messages: readonly OutgoingMessage[]): Promise<void>;
  /** A route of the app (`api/<route>`); sends the function key when the system has one (`functionKey`). */
  http(method: string, route: string, body?: unknown, options?: { key?: string | null }): Promise<HttpReply>;
  /** The function key the host checks (SystemOptions.functionKey), if any. */
  readonly functionKey: string | undefined;
  /** True when no contract queue holds a message (waiting or locked). */
  queuesEmpty(): Promise<boolean>;
  /** Wait until every contract queue is empty twice in a row. */
  drain(timeoutMs?: number): Promise<void>;
  /**
   * Stop the host and start a new one on the same storage and broker, with these settings over
   * the current ones (a value of `undefined` removes a setting): a fault mended, a function paused
   * or resumed. Messages wait in their queues meanwhile.
   */
  restartHost(overrides?: Record<string, string | undefined>): Promise<void>;
  stop(): Promise<void>;
}

export type TestSystem = System<FunctionsHost>;

export interface SystemOptions {
  /** App settings over the defaults below. */
  settings?: Record<string, string>;
  /** Queues besides those of tools/servicebus/config.json. */
  queues?: QueueInput[];
  /** More `--import=` preloads and environment for the Azurite process (the bench's write counter). */
  azurite?: { preloads?: readonly string[]; env?: Readonly<Record<string, string>> };
  /** Retries of this side's Service Bus client (default: fail within seconds). */
  serviceBusRetry?: RetryOptions;
  /**
   * In-process host only: called before the app is loaded again on `restartHost`, to drop the
   * module cache (`() => vi.resetModules()`), so the app builds a fresh composition root from the
   * new settings; without it a restart reuses the app already loaded (and its closed clients).
   */
  reloadApp?: () => void;
  /**
   * In-process host only: the host checks function keys as Azure does, with this one as its
   * `default` key, and `http()` sends it (x-functions-key). Default: keys are not checked.
   */
  functionKey?: string;
}

/** The host in this process, on the app's source. */
export async function startSystem(options: SystemOptions & { log?: (line: string) => void } = {}): Promise<TestSystem> {
  const log = options.log ?? (() => undefined);
  let loads = 0;
  return startWith(options, (settings) => {
    if (loads++ > 0) options.reloadApp?.();
    return startFunctionsHost({ appEntry: APP_ENTRY, settings, httpPort: 0, log, ...(options.functionKey ? { functionKeys: { default: options.functionKey } } : {}) });
  });
}

/** The host in a child process, on the app's build; its log goes to `logFile`. */
export async function startSystemWithHostProcess(options: SystemOptions & { logFile: string; onHostError?: (line: string) => void }): Promise<System<HostChild>> {
  return startWith(options, (settings) => startHostChild({ settings, logFile: options.logFile, onError: options.onHostError }));
}

/** The core: Azurite, the broker, the settings, the host, and the helpers over them. */
async function startWith<H extends RunningHost>(options: SystemOptions, startHost: (settings: Record<string, string>) => Promise<H>): Promise<System<H>> {
  let azurite: LocalAzurite | undefined;
  let broker: LocalServiceBus | undefined;
  let host: H | undefined;
  let settings: Record<string, string>;
  try {
    azurite = await startAzurite({ services: 'table', preloads: options.azurite?.preloads, env: options.azurite?.env });
    broker = await startServiceBus({ queues: options.queues });
    settings = {
      AzureWebJobsStorage: azurite.connectionString,
      ServiceBusConnection: broker.connectionString,
      DataverseTables: azurite.connectionString,
      FinanceTables: azurite.connectionString,
      IntegrationTables: azurite.connectionString,
      ImportFromStagingSchedule: NEVER,
      ReconcileSchedule: NEVER,
      AccountingCurrency: 'USD',
      // Transient failures retried in their delivery after short pauses, so tests see retries,
      // redeliveries and dead letters within seconds.
      MessageRetryPausesMs: '10,20',
      ...options.settings,
    };
    host = await startHost(settings);
  } catch (error) {
    await host?.stop().catch(() => undefined);
    await broker?.close().catch(() => undefined);
    await azurite?.stop().catch(() => undefined);
    throw error;
  }

  const a = azurite;
  const b = broker;
  let h = host;
  let current = settings;
  const retryOptions = options.serviceBusRetry ?? { maxRetries: 2, timeoutInMs: 10_000 };
  const serviceBus = new ServiceBusClient(b.connectionString, { retryOptions });
  const senders = new Map<string, ServiceBusSender>();
  const senderFor = (queue: string): ServiceBusSender => {
    let sender = senders.get(queue);
    if (!sender) senders.set(queue, (sender = serviceBus.createSender(queue)));
    return sender;
  };

  async function queuesEmpty(): Promise<boolean> {
    // A fresh client each time: the SDK continues a peek after the last message it peeked
    // through the same client, which would skip a message that is still locked.
    const client = new ServiceBusClient(b.connectionString, { retryOptions });
    try {
      for (const queue of Object.values(Queues)) {
        const receiver = client.createReceiver(queue);
        try {
          if ((await receiver.peekMessages(1)).length > 0) return false;
        } finally {
          await receiver.close();
        }
      }
      return true;
    } finally {
      await client.close();
    }
  }

  return {
    azurite: a,
    broker: b,
    get host() {
      return h;
    },
    get settings() {
      return current;
    },
    connectionString: a.connectionString,
    serviceBus,
    dataverse: new DataverseStore(a.connectionString),
    finance: new FinanceStore(a.connectionString),
    errorLog: new ErrorLog(a.connectionString),

    async send(queue, body, extra = {}) {
      await senderFor(queue).sendMessages({ body, contentType: typeof body === 'string' ? 'text/plain' : 'application/json', ...extra });
    },

    async sendBatch(queue, messages) {
      const sender = senderFor(queue);
      let batch = await sender.createMessageBatch();
      for (const m of messages) {
        const message: ServiceBusMessage = { body: m.body, contentType: 'application/json' };
        if (m.messageId !== undefined) message.messageId = m.messageId;
        if (!batch.tryAddMessage(message)) {
          await sender.sendMessages(batch);
          batch = await sender.createMessageBatch();
          if (!batch.tryAddMessage(message)) throw new Error(`a message for ${queue} is too large for one Service Bus message`);
        }
      }
      if (batch.count > 0) await sender.sendMessages(batch);
    },

    functionKey: options.functionKey,

    async http(method, route, body, extra = {}) {
      // The system's key unless the call names another one (or null: no key at all).
      const key = extra.key === undefined ? options.functionKey : extra.key ?? undefined;
      const response = await fetch(`${h.baseUrl}/api/${route}`, {
        method,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(key ? { 'x-functions-key': key } : {}) },
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

    queuesEmpty,

    async drain(timeoutMs = 60_000) {
      let quietRounds = 0;
      await waitFor(
        'the queues to drain',
        async () => {
          quietRounds = (await queuesEmpty()) ? quietRounds + 1 : 0;
          return quietRounds >= 2;
        },
        timeoutMs,
        150,
      );
    },

    async restartHost(overrides = {}) {
      await h.stop();
      const next: Record<string, string> = { ...current };
      for (const [key, value] of Object.entries(overrides)) {
        if (value === undefined) delete next[key];
        else next[key] = value;
      }
      current = next;
      h = await startHost(next);
    },

    async stop() {
      await h.stop().catch(() => undefined);
      for (const sender of senders.values()) await sender.close().catch(() => undefined);
      await serviceBus.close().catch(() => undefined);
      await b.close().catch(() => undefined);
      await a.stop().catch(() => undefined);
    },
  };
}
