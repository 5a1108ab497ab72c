/**
 * The composition root: settings parsed once, the Table and Service Bus clients and the stores
 * built once per process, and every use case bound to what it needs. Function files take their
 * use case from here and nothing else builds a client.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { approveEntries, type ApprovalRequest } from './dataverse/approvals';
import { setReadyToInvoice, type ReadyRequest } from './dataverse/backlog';
import { DataverseStore } from './dataverse/dataverseStore';
import { createProformaInvoice, requestedInvoiceId } from './dataverse/invoices/createInvoice';
import { addInvoiceLineDetail, deleteInvoiceLineDetail, updateInvoiceLineDetail } from './dataverse/invoices/editInvoice';
import { getProformaInvoice } from './dataverse/invoices/invoiceView';
import { sequenceInvoiceNumbers } from './dataverse/invoices/numbers';
import { createCorrection, type CorrectionRequest } from './dataverse/invoices/corrections';
import { requestInvoiceConfirmation } from './dataverse/invoices/requestConfirmation';
import type { AddDetailRequest, ConfirmRequest, CreateInvoiceRequest, UpdateDetailRequest } from './dataverse/invoices/requests';
import { confirmProformaInvoice, type ConfirmationMeta } from './bridge/confirmProformaInvoice';
import { Queues, type ActualsAccountingMessage, type InvoiceConfirmationMessage, type InvoiceProposalMessage, type ProposalPostingMessage } from './messages';
import { syncActualsAccounting } from './bridge/syncActualsAccounting';
import { CONNECTION_NAMES, DEFAULT_RECONCILE_SCHEDULE, describeAuth, describeTarget, loadSettings, retryPausesOf, type Settings } from './config';
// Identity-based connections and telemetry (issue 18; docs/decisions/azure.md).
import { serviceBusAccess, tableAccess } from './identity/credentials';
import { recordImportRun } from './telemetry/metrics';
import { startTelemetry, type Telemetry } from './telemetry/setup';
import { retryOnConflict } from './core/errors';
import { FinanceStore } from './finance/financeStore';
import { runImportFromStaging, type ImportFromStagingOptions } from './finance/import/importFromStaging';
import { StagingWork } from './finance/import/stagingIndexStore';
import { postInvoiceProposal, type PostingRequest } from './finance/posting/postInvoiceProposal';
import { requestProposalPosting } from './finance/posting/requestPosting';
import { getProposal, listProposals } from './finance/proposals';
import { syncActuals, type SyncActualsMeta } from './finance/syncActuals';
import { syncInvoiceProposal } from './finance/syncInvoiceProposal';
import { dashboard } from './operations/dashboard';
// The console, the confirmation preview and the OpenAPI description (issue 19).
import { consolePages } from './operations/console/console';
import { previewConfirmation } from './dataverse/invoices/confirmationPreview';
import { JobRuns } from './operations/jobRunStore';
import { recordedImportRun } from './operations/importRuns';
import { openApiDocument, type RegisteredRoute } from './operations/openapi/document';
import { ErrorLog } from './operations/errorLogStore';
import { listErrors, type ErrorsQuery } from './operations/errorList';
import { replayError, replayErrors, type ReplayManyRequest } from './operations/replay';
import { healthReport, type HealthReport } from './operations/health';
import { traceInvoice } from './operations/trace';
import { createServiceBusClient, pingQueue } from './servicebus/client';
import { ServiceBusPublisher } from './servicebus/publisher';
import { TableLeases } from './storage/leases';
import { TableSequenceStore } from './storage/sequences';
import { pingTableService } from './storage/tableStore';
import { republishConfirmation } from './bridge/republishConfirmation';
import { republishAccounting } from './finance/posting/republishAccounting';
import { reconcile, type ReconcileOptions } from './operations/reconcile';
// Dataverse's own messages: the RemoteExecutionContext on the queues and the webhook (issue 17; docs/dataverse.md).
import { actualsToSync, confirmationToRun, receiveWebhook, type InboundBody, type InboundMeta } from './dataverse/inbound/dataverseMessages';
import type { RemoteExecutionContext } from './dataverse/inbound/remoteExecutionContext';

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

/** Everything the functions need, built once per process. */
export function buildCompositionRoot(settings: Settings) {
  // Each connection as a connection string or an identity's endpoint and credential.
  const tablesOf = {
    DataverseTables: tableAccess(settings.connections.DataverseTables),
    FinanceTables: tableAccess(settings.connections.FinanceTables),
    IntegrationTables: tableAccess(settings.connections.IntegrationTables),
  };
  const serviceBus = createServiceBusClient(serviceBusAccess(settings.connections.ServiceBusConnection));
  const publisher = new ServiceBusPublisher(serviceBus);
  const errorLog = new ErrorLog(tablesOf.IntegrationTables);
  const dataverse = new DataverseStore(tablesOf.DataverseTables);
  const finance = new FinanceStore(tablesOf.FinanceTables);
  const work = new StagingWork(tablesOf.FinanceTables);
  const leases = new TableLeases(tablesOf.IntegrationTables);
  const sequences = new TableSequenceStore(tablesOf.IntegrationTables);
  const jobRuns = new JobRuns(tablesOf.IntegrationTables);
  const accountingCurrency = settings.AccountingCurrency;
  const version = packageVersion();
  const retryPauses = retryPausesOf(settings);
  const tables = (name: 'DataverseTables' | 'FinanceTables' | 'IntegrationTables') => ({
    name,
    auth: describeAuth(settings.connections[name]),
    check: async () => {
      await pingTableService(tablesOf[name]);
      return 'reachable';
    },
  });
  /** How every connection authenticates and where it points (the health details; never a key). */
  const connectionInfo = CONNECTION_NAMES.map((name) => ({ name, auth: describeAuth(settings.connections[name]), target: describeTarget(settings.connections[name]) }));

  return {
    settings,
    /** How each connection authenticates and where it points (what GET health/details reports). */
    connections: connectionInfo,
    errorLog,
    /** What every queue function's adapter takes: the error log, and the pauses before a transient failure is retried in its delivery. */
    queueHandling: { errorLog, ...(retryPauses !== undefined ? { retryPausesMs: retryPauses } : {}) },
    dataverse: {
      approve: (request: ApprovalRequest) => approveEntries({ dataverse, publisher }, request),
      markReady: (request: ReadyRequest) => retryOnConflict(() => setReadyToInvoice({ dataverse }, request)),
      createInvoice: (contractId: string, request: CreateInvoiceRequest, idempotencyKey?: string) => {
        const invoiceId = requestedInvoiceId(contractId, idempotencyKey);
        // A new random id names nothing written yet, on the first attempt; a retry looks first.
        let attempts = 0;
        return retryOnConflict(() =>
          createProformaInvoice({ dataverse, numbers: sequenceInvoiceNumbers(sequences) }, contractId, request, invoiceId, { fresh: idempotencyKey === undefined && attempts++ === 0 }),
        );
      },
      getInvoice: (invoiceId: string) => getProformaInvoice({ dataverse }, invoiceId),
      updateDetail: (invoiceId: string, detailId: string, patch: UpdateDetailRequest) => updateInvoiceLineDetail({ dataverse }, invoiceId, detailId, patch),
      deleteDetail: (invoiceId: string, detailId: string) => retryOnConflict(() => deleteInvoiceLineDetail({ dataverse }, invoiceId, detailId)),
      addDetail: (invoiceId: string, request: AddDetailRequest) => addInvoiceLineDetail({ dataverse }, invoiceId, request),
      requestConfirmation: (invoiceId: string, request: ConfirmRequest) => retryOnConflict(() => requestInvoiceConfirmation({ dataverse, publisher }, invoiceId, request)),
      previewConfirmation: (invoiceId: string) => previewConfirmation({ dataverse }, invoiceId),
      createCorrection: (invoiceId: string, request: CorrectionRequest) => createCorrection({ dataverse, numbers: sequenceInvoiceNumbers(sequences) }, invoiceId, request),
    },
    bridge: {
      confirm: (message: InvoiceConfirmationMessage, meta: ConfirmationMeta, log: (line: string) => void) =>
        confirmProformaInvoice({ dataverse, publisher, log }, message, meta),
      accountingBack: (message: ActualsAccountingMessage, log: (line: string) => void) => syncActualsAccounting({ dataverse, log }, message),
    },
    finance: {
      syncActuals: (records: readonly unknown[], meta: SyncActualsMeta) => syncActuals({ invoices: dataverse, staging: finance.staging, work, errorLog }, records, meta),
      syncProposal: (message: InvoiceProposalMessage, log: (line: string) => void) => syncInvoiceProposal({ finance }, message, log),
      runImport: (options: ImportFromStagingOptions) =>
        recordedImportRun({ jobRuns, ...(options.log ? { log: options.log } : {}) }, options.now ?? new Date(), () =>
          runImportFromStaging({ finance, work, leases, publisher, accountingCurrency }, options).then((result) => {
            // integration.import.rows and integration.import.duration (shared/telemetry/metrics.ts).
            if (result.ran) recordImportRun({ postedTransaction: result.posted, importedLine: result.linesImported, waiting: result.waiting, error: result.errors, conflict: result.conflicts }, result.durationMs, { leaseLost: result.leaseLost });
            return result;
          }),
        ),
      requestPosting: (request: ProposalPostingMessage) => requestProposalPosting({ finance, publisher }, request),
      post: (request: PostingRequest, log: (line: string) => void) => postInvoiceProposal({ finance, sequences, publisher, accountingCurrency, log }, request),
      listProposals: (status: string | null) => listProposals({ finance }, status),
      getProposal: (proposalId: string) => getProposal({ finance }, proposalId),
    },
    operations: {
      /** The OpenAPI 3.1 description of the registered HTTP routes (GET api/openapi.json). */
      openApi: (registrations: readonly RegisteredRoute[]) => openApiDocument(registrations, { version }),
      trace: (invoiceId: string) => traceInvoice({ dataverse, finance, errorLog }, invoiceId),
      dashboard: () => dashboard({ dataverse, finance, errorLog }),
      listErrors: (query: ErrorsQuery) => listErrors({ errorLog }, query),
      replayError: (errorId: string, by: string) => retryOnConflict(() => replayError({ errorLog, publisher }, errorId, by)),
      replayErrors: (request: ReplayManyRequest, by: string) => replayErrors({ errorLog, publisher }, request, by),
      health: (): Promise<HealthReport> =>
        healthReport(
          [
            tables('DataverseTables'),
            tables('FinanceTables'),
            tables('IntegrationTables'),
            { name: 'ServiceBusConnection', auth: describeAuth(settings.connections.ServiceBusConnection), check: () => pingQueue(serviceBus, Queues.invoiceConfirmations) },
          ],
          version,
          undefined,
          connectionInfo,
        ),
    },
    // ---- the console: HTML pages for people (issue 19; docs/console.md) --------------------------
    console: consolePages({ dataverse, finance, errorLog, jobRuns }),
    // ---- repair: republish and the sweep (docs/decisions/repair.md) ----------------------------
    repair: {
      republishConfirmation: (invoiceId: string, log: (line: string) => void) => republishConfirmation({ dataverse, publisher, log }, invoiceId),
      republishAccounting: (proposalId: string, log: (line: string) => void) => republishAccounting({ finance, sequences, publisher, log }, proposalId),
      reconcile: (options: ReconcileOptions) => reconcile({ dataverse, finance, work, sequences, leases, publisher, errorLog }, options),
      /** The sweep's timer schedule: the ReconcileSchedule setting when it is set, else its default. */
      reconcileSchedule: settings.ReconcileSchedule !== undefined ? '%ReconcileSchedule%' : DEFAULT_RECONCILE_SCHEDULE,
    },
    // ---- Dataverse's own messages (issue 17; docs/dataverse.md) --------------------------------
    dataverseInbound: {
      /** The records an `actuals` body asks to sync (the own message's, or a RemoteExecutionContext's actual). */
      actualsToSync: (body: InboundBody<{ actuals: unknown[] }>, meta: InboundMeta) => actualsToSync({ dataverse }, body, meta),
      /** The confirmation an `invoice-confirmations` body asks for; undefined when a context asks for none. */
      confirmationToRun: (body: InboundBody<InvoiceConfirmationMessage>, meta: InboundMeta) => confirmationToRun(body, meta),
      /** `POST api/dataverse/webhook`: the context published as the project's own message on the queue that takes it. */
      receiveWebhook: (context: RemoteExecutionContext, meta: InboundMeta) => receiveWebhook({ dataverse, publisher }, context, meta),
    },
    // ---- end of Dataverse's own messages ---------------------------------------------------------
    async close(): Promise<void> {
      await publisher.close();
      await serviceBus.close();
    },
  };
}

export type CompositionRoot = ReturnType<typeof buildCompositionRoot>;

let current: CompositionRoot | undefined;
let telemetry: Telemetry | undefined;

/**
 * The process's composition root, built on first use from the process's settings; telemetry
 * (Application Insights, or the console) is started first when the settings ask for it, and
 * flushed when the root closes.
 */
export function getCompositionRoot(): CompositionRoot {
  if (!current) {
    const settings = loadSettings();
    telemetry = startTelemetry(settings, packageVersion());
    const root = buildCompositionRoot(settings);
    const close = root.close;
    current = {
      ...root,
      async close() {
        await close();
        await telemetry?.shutdown();
      },
    };
  }
  return current;
}
