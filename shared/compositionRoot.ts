/**
 * The composition root: settings parsed once, the Table and Service Bus clients built once per
 * process, repositories and use cases wired from them. Function files take what they need from
 * here; nothing else builds a client.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ServiceBusClient } from '@azure/service-bus';
import { TableServiceClient } from '@azure/data-tables';
import { ConfigError, loadSettings, type Settings } from './config';
import { DataverseTables } from './dataverse/dataverseStore';
import { ErrorLog } from './operations/errorLog';
import { StagingWork } from './finance/import/stagingIndexStore';
import { FinanceTables } from './finance/financeStore';
import { TableLeases } from './storage/leases';
import { TableSequenceStore } from './storage/sequences';
import { ServiceBusPublisher } from './servicebus/publisher';
import { Queues } from './bridge/messages';
import { clientOptionsFor } from './storage/tableStore';

export interface HealthReport {
  status: 'Healthy' | 'Unhealthy';
  version: string;
  checks: { name: string; ok: boolean; detail: string; ms: number }[];
}

export interface Container {
  readonly settings: Settings;
  readonly serviceBus: ServiceBusClient;
  readonly publisher: ServiceBusPublisher;
  readonly errorLog: ErrorLog;
  readonly dataverse: DataverseTables;
  readonly finance: FinanceTables;
  /** The import's pending index of unfinished staging rows (FinanceTables). */
  readonly work: StagingWork;
  /** Leases that keep import runs apart (IntegrationTables). */
  readonly leases: TableLeases;
  /** Number sequences: proforma invoice and customer invoice numbers (IntegrationTables). */
  readonly sequences: TableSequenceStore;
  health(): Promise<HealthReport>;
  close(): Promise<void>;
}

/** The project's version, from package.json (found beside the sources or beside dist/). */
function packageVersion(): string {
  for (const candidate of [path.join(__dirname, '..', 'package.json'), path.join(__dirname, '..', '..', 'package.json')]) {
    try {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'project-invoicing-integration' && pkg.version) return pkg.version;
    } catch {
      // not this one
    }
  }
  return 'unknown';
}

function serviceBusClient(settings: Settings): ServiceBusClient {
  if (settings.ServiceBusConnection) {
    return new ServiceBusClient(settings.ServiceBusConnection, { retryOptions: { maxRetries: 3, timeoutInMs: 30_000 } });
  }
  throw new ConfigError(
    'Configuration error: ServiceBusConnection__fullyQualifiedNamespace (managed identity) is not supported by this build yet; set ServiceBusConnection to a connection string',
  );
}

async function timed(name: string, check: () => Promise<string>, timeoutMs = 5_000): Promise<HealthReport['checks'][number]> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const detail = await Promise.race([
      check(),
      new Promise<string>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { name, ok: true, detail, ms: Date.now() - started };
  } catch (error) {
    return { name, ok: false, detail: error instanceof Error ? error.message : String(error), ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

export function buildContainer(settings: Settings): Container {
  const serviceBus = serviceBusClient(settings);
  const publisher = new ServiceBusPublisher(serviceBus);
  const errorLog = new ErrorLog(settings.IntegrationTables);
  const dataverse = new DataverseTables(settings.DataverseTables);
  const finance = new FinanceTables(settings.FinanceTables);
  const work = new StagingWork(settings.FinanceTables);
  const leases = new TableLeases(settings.IntegrationTables);
  const sequences = new TableSequenceStore(settings.IntegrationTables);
  const version = packageVersion();

  // One service client per storage setting, built once like every other client.
  const storageClients = new Map<string, TableServiceClient>();
  const storageCheck = (name: string, connectionString: string) =>
    timed(name, async () => {
      let client = storageClients.get(name);
      if (!client) storageClients.set(name, (client = TableServiceClient.fromConnectionString(connectionString, clientOptionsFor(connectionString))));
      const page = client.listTables().byPage({ maxPageSize: 1 });
      await page.next();
      return 'reachable';
    });

  return {
    settings,
    serviceBus,
    publisher,
    errorLog,
    dataverse,
    finance,
    work,
    leases,
    sequences,
    async health() {
      const checks = await Promise.all([
        storageCheck('DataverseTables', settings.DataverseTables),
        storageCheck('FinanceTables', settings.FinanceTables),
        storageCheck('IntegrationTables', settings.IntegrationTables),
        timed('ServiceBusConnection', async () => {
          const receiver = serviceBus.createReceiver(Queues.invoiceConfirmations, { receiveMode: 'peekLock' });
          try {
            await receiver.peekMessages(1);
            return `reachable (${Queues.invoiceConfirmations})`;
          } finally {
            await receiver.close();
          }
        }),
      ]);
      return { status: checks.every((c) => c.ok) ? 'Healthy' : 'Unhealthy', version, checks };
    },
    async close() {
      await publisher.close();
      await serviceBus.close();
    },
  };
}

let current: Container | undefined;

/** The process's container, built on first use from the process's settings. */
export function getContainer(): Container {
  current ??= buildContainer(loadSettings());
  return current;
}
