/**
 * One benchmark system: Azurite (table service, in memory) and the local Service Bus broker on
 * free loopback ports, and the local Functions host in a child process loading the compiled app
 * with every function registered. The import timer never fires on its own (`NEVER`); the
 * benchmark runs it on demand through the host's admin API (`POST /admin/functions/importFromStaging`),
 * the way an operator triggers a timer function in Azure, so it runs inside the host process.
 *
 * Each scenario (and each size of scenario C) gets a fresh system: a clean store and a fresh host
 * process, so the figures and the host's peak memory of one do not carry over to the next.
 */
import { ServiceBusClient, type ServiceBusMessage, type ServiceBusSender } from '@azure/service-bus';
import { startAzurite, type LocalAzurite } from '../azurite';
import { startServiceBus, type LocalServiceBus } from '../servicebus';
import { DataverseStore } from '../../shared/dataverse/dataverseStore';
import { ErrorLog, type ErrorRow } from '../../shared/operations/errorLog';
import { FinanceStore } from '../../shared/finance/financeStore';
import { Queues, type QueueName } from '../../shared/bridge/messages';
import { startHostChild, type HostChild, type HostStats } from './hostClient';
import { countWritten as countByQuery, BASELINE_TABLE_PREFIX, type Window, type WrittenCount } from './storage';
import { countWrittenInAzurite, WRITE_COUNTER_PORT_ENV, writeCounterPreload } from './writeCounter';
import { freePort } from '../ports';
import { ACCOUNTING_CURRENCY } from './seed';

/** A schedule that never fires during the benchmark (1 January, midnight). */
export const NEVER = '0 0 0 1 1 *';
export const IMPORT_FUNCTION = 'importFromStaging';
/** Azurite's one storage account. */
const ACCOUNT_NAME = 'devstoreaccount1';

export interface OutgoingMessage {
  body: unknown;
  messageId?: string;
}

export interface HttpReply {
  status: number;
  contentType: string;
  body: unknown;
  text: string;
}

export class StallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StallError';
  }
}

export interface BenchSystem {
  readonly connectionString: string;
  readonly host: HostChild;
  readonly dataverse: DataverseStore;
  readonly finance: FinanceStore;
  readonly errorLog: ErrorLog;
  send(queue: QueueName, messages: readonly OutgoingMessage[]): Promise<void>;
  http(method: string, route: string, body?: unknown): Promise<HttpReply>;
  /** True when no contract queue holds a message and the host runs no invocation. */
  quiet(): Promise<boolean>;
  stats(): Promise<HostStats>;
  /** Fire the import timer function now (admin API); resolves when that invocation has finished. */
  runImport(options: { timeoutMs: number; onPoll?: () => void }): Promise<'Succeeded' | 'Failed'>;
  integrationErrors(): Promise<ErrorRow[]>;
  /**
   * Entities of every pipeline table last written inside each window: asked of Azurite's write
   * counter (writeCounter.ts), or by Timestamp queries when the counter does not answer.
   */
  countWritten(windows: readonly Window[]): Promise<WrittenCount[]>;
  stop(): Promise<void>;
}

export async function startBenchSystem(options: { logFile: string; onHostError?: (line: string) => void; onNote?: (line: string) => void }): Promise<BenchSystem> {
  let azurite: LocalAzurite | undefined;
  let broker: LocalServiceBus | undefined;
  let host: HostChild | undefined;
  let client: ServiceBusClient | undefined;
  let counterPort = 0;
  try {
    counterPort = await freePort();
    azurite = await startAzurite({ services: 'table', preloads: [writeCounterPreload()], env: { [WRITE_COUNTER_PORT_ENV]: String(counterPort) } });
    broker = await startServiceBus();
    const settings: Record<string, string> = {
      AzureWebJobsStorage: azurite.connectionString,
      ServiceBusConnection: broker.connectionString,
      DataverseTables: azurite.connectionString,
      FinanceTables: azurite.connectionString,
      IntegrationTables: azurite.connectionString,
      ImportFromStagingSchedule: NEVER,
      AccountingCurrency: ACCOUNTING_CURRENCY,
    };
    host = await startHostChild({ settings, logFile: options.logFile, onError: options.onHostError });
    client = new ServiceBusClient(broker.connectionString, { retryOptions: { maxRetries: 3, timeoutInMs: 30_000 } });
  } catch (error) {
    await host?.stop().catch(() => undefined);
    await client?.close().catch(() => undefined);
    await broker?.close().catch(() => undefined);
    await azurite?.stop().catch(() => undefined);
    throw error;
  }

  const cs = azurite.connectionString;
  const sb = client;
  const h = host;
  const b = broker;
  const a = azurite;
  const senders = new Map<string, ServiceBusSender>();
  const senderFor = (queue: string): ServiceBusSender => {
    let s = senders.get(queue);
    if (!s) senders.set(queue, (s = sb.createSender(queue)));
    return s;
  };
  const errorLog = new ErrorLog(cs);

  async function queueEmpty(queue: string): Promise<boolean> {
    // A fresh receiver each time: a receiver's peek continues after the last message it peeked.
    const receiver = sb.createReceiver(queue);
    try {
      return (await receiver.peekMessages(1)).length === 0;
    } finally {
      await receiver.close();
    }
  }

  const system: BenchSystem = {
    connectionString: cs,
    async countWritten(windows) {
      try {
        return await countWrittenInAzurite(counterPort, ACCOUNT_NAME, windows, BASELINE_TABLE_PREFIX);
      } catch (error) {
        options.onNote?.(`the Azurite write counter failed (${error instanceof Error ? error.message : String(error)}); counting by Timestamp queries`);
        return countByQuery(cs, windows);
      }
    },
    host: h,
    dataverse: new DataverseStore(cs),
    finance: new FinanceStore(cs),
    errorLog,

    async send(queue, messages) {
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

    async http(method, route, body) {
      const response = await fetch(`${h.baseUrl}/api/${route}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: keep the text
      }
      return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: parsed, text };
    },

    async quiet() {
      const stats = await h.stats();
      if (stats.inFlight > 0) return false;
      for (const queue of Object.values(Queues)) if (!(await queueEmpty(queue))) return false;
      return (await h.stats()).inFlight === 0;
    },

    stats: () => h.stats(),

    async runImport({ timeoutMs, onPoll }) {
      const doneCount = (s: HostStats) => {
        const c = s.executions[IMPORT_FUNCTION];
        return { ok: c?.succeeded ?? 0, failed: c?.failed ?? 0 };
      };
      const before = doneCount(await h.stats());
      const response = await fetch(`${h.baseUrl}/admin/functions/${IMPORT_FUNCTION}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      await response.arrayBuffer();
      if (response.status !== 202) throw new Error(`POST /admin/functions/${IMPORT_FUNCTION} answered ${response.status}; is the function registered?`);
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const now = doneCount(await h.stats());
        if (now.ok > before.ok) return 'Succeeded';
        if (now.failed > before.failed) return 'Failed';
        if (Date.now() > deadline) throw new StallError(`the import run did not finish within ${Math.round(timeoutMs / 1000)} s`);
        onPoll?.();
        await sleep(100);
      }
    },

    integrationErrors: () => errorLog.list({ top: 50 }),

    async stop() {
      await h.stop().catch(() => undefined);
      for (const s of senders.values()) await s.close().catch(() => undefined);
      await sb.close().catch(() => undefined);
      await b.close().catch(() => undefined);
      await a.stop().catch(() => undefined);
    },
  };
  return system;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
