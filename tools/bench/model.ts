/**
 * Past one machine: a model of the Azure limits that bind this design, fed with what the
 * benchmark measured per phase (entities written per table, invocations per function, invoice
 * sizes), predicting each phase's time in Azure and the largest workload one deployment serves.
 * Pure: no I/O, unit-tested (tests/unit/bench/model.test.ts). docs/scaling.md explains the model,
 * cites the published limits and lists every assumption; `npm run bench -- --model azure` prints it.
 *
 * The model in one paragraph. A phase's work is its table operations: the entities it wrote
 * (measured) plus the reads and deletes the code does that the benchmark cannot see (PHASE_PROFILES,
 * from reading the code), each placed in its table's partitions by the table's PartitionKey
 * (TABLE_KEYS, from contract.md and the stores). Its messages are the queue-triggered invocations
 * measured. The phase cannot finish faster than the slowest of: its hottest partition at the
 * partition target, each storage account at the account target, Service Bus at its tier's rate,
 * the number sequence (one ETag-guarded counter, serial), and its largest single invocation (its
 * tables one after another, each at the partition target, plus its serial round trips), in waves
 * of `instances x maxConcurrentCalls`. The predicted time is that maximum: a lower bound that the
 * design reaches when the resource it names is the only one saturated.
 */
import type { BenchResults, PhaseResult } from './results';
import { actualsListingLimit } from '../../shared/dataverse/dataverseStore';

// ---- limits, the deployment, assumptions ------------------------------------------------------------

/** Published Azure limits (docs/scaling.md cites each). */
export interface AzureLimits {
  /** Table storage: target throughput of one table partition, entities/s (1 KiB entities). */
  partitionEntitiesPerSecond: number;
  /** Table storage: maximum request rate of one storage account, entities/s (1 KiB entities). */
  accountEntitiesPerSecond: number;
  /** Service Bus Standard: credits per second per namespace (1 credit per data operation). */
  standardCreditsPerSecond: number;
  /** Longest time an HTTP-triggered function may take to answer (Azure Load Balancer idle timeout). */
  httpResponseSeconds: number;
}

export const AZURE_LIMITS: AzureLimits = {
  partitionEntitiesPerSecond: 2_000,
  accountEntitiesPerSecond: 20_000,
  standardCreditsPerSecond: 1_000,
  httpResponseSeconds: 230,
};

export type ServiceBusTier = { tier: 'Standard' } | { tier: 'Premium'; messagingUnits: number };

/** What one deployment has (defaults: infra/ and host.json of this repository). */
export interface Deployment {
  serviceBus: ServiceBusTier;
  /** infra/ `separateSideStorage`: one account for every table, or one per side (Dataverse, F&O, integration). */
  storageAccounts: 'one' | 'perSide';
  /** Flex Consumption `maximumInstanceCount` (infra default 100; the plan allows up to 1,000). */
  maxInstances: number;
  /** host.json extensions.serviceBus.maxConcurrentCalls: messages one instance runs at once (also used for HTTP). */
  maxConcurrentCalls: number;
  /** host.json functionTimeout. */
  functionTimeoutSeconds: number;
  /** host.json extensions.serviceBus.maxAutoLockRenewalDuration: past it the message lock lapses and it is delivered again. */
  lockRenewalSeconds: number;
  /** Flex Consumption instanceMemoryMB (infra default 2,048). */
  instanceMemoryMb: number;
  /** ImportFromStagingSchedule period (every minute). */
  importPeriodSeconds: number;
  /** functions/importFromStaging.ts MAX_ROWS_PER_RUN: index entries one import run takes on. */
  importMaxRowsPerRun: number;
}

export const DEFAULT_DEPLOYMENT: Deployment = {
  serviceBus: { tier: 'Standard' },
  storageAccounts: 'one',
  maxInstances: 100,
  maxConcurrentCalls: 16,
  functionTimeoutSeconds: 600,
  lockRenewalSeconds: 600,
  instanceMemoryMb: 2_048,
  importPeriodSeconds: 60,
  importMaxRowsPerRun: 50_000,
};

/** What is not published or not measured: stated, and settable from the command line. */
export interface Assumptions {
  /** One storage request in the region (point read, single write, one page of a query). */
  roundTripSeconds: number;
  /** One 100-entity transaction. */
  transactionSeconds: number;
  /** Transactions one invocation keeps in flight (shared/storage/tableStore.ts WRITE_CONCURRENCY). */
  writeConcurrency: number;
  /** Entities per transaction (Table storage's limit, the stores' MAX_BATCH). */
  batchSize: number;
  /** Reads count against the partition and account targets like writes (1) or not at all (0). */
  readWeight: number;
  /** Service Bus Premium: data operations per second one messaging unit sustains (not published). */
  premiumOpsPerSecondPerUnit: number;
  /** Service Bus operations per message: send, receive, complete. */
  serviceBusOpsPerMessage: number;
  /** One number reservation: read the counter, write counter and reservation (one transaction). */
  sequenceReservationSeconds: number;
  /**
   * Numbers reserved per counter write when callers queue up: the calls waiting in one process
   * share a transaction (shared/storage/sequences.ts), and a process has at most
   * maxConcurrentCalls (16) invocations in flight; a lone caller takes 1.
   */
  sequenceBlock: number;
  /**
   * Actuals in a contract's partition per ILD of its invoice: cost + unbilled. The confirmation
   * lists them up to its bound (actualsListingLimit) and reads what its plan needs beyond by key.
   */
  contractRowsPerIld: number;
}

export const DEFAULT_ASSUMPTIONS: Assumptions = {
  roundTripSeconds: 0.01,
  transactionSeconds: 0.05,
  writeConcurrency: 8,
  batchSize: 100,
  readWeight: 1,
  premiumOpsPerSecondPerUnit: 2_000,
  serviceBusOpsPerMessage: 3,
  sequenceReservationSeconds: 0.02,
  sequenceBlock: 16,
  contractRowsPerIld: 2,
};

export interface ModelParams {
  limits: AzureLimits;
  deployment: Deployment;
  assumptions: Assumptions;
}

export const DEFAULT_PARAMS: ModelParams = { limits: AZURE_LIMITS, deployment: DEFAULT_DEPLOYMENT, assumptions: DEFAULT_ASSUMPTIONS };

// ---- where the tables keep their rows ------------------------------------------------------------------

export type AccountName = 'dataverse' | 'finance' | 'integration';

export type PartitionScheme =
  /** One partition per contract / invoice (= proposal) / project of the phase. */
  | { by: 'contract' | 'invoice' | 'project' }
  /** Each entity its own partition (headers: an invoice, a proposal, a customer invoice). */
  | { by: 'row' }
  /** At most this many entities per partition (ledger entries of one voucher). */
  | { by: 'capped'; perPartition: number }
  /** A fixed number of partitions whatever the workload (shards, one counter, one lease). */
  | { by: 'fixed'; partitions: number }
  /** A fixed number of shards, each contract's rows in `perContract` of them (a hash of the contract): fewer when fewer contracts. */
  | { by: 'contractShards'; partitions: number; perContract: number };

export interface TableKeys {
  account: AccountName;
  scheme: PartitionScheme;
  /** The PartitionKey, in words. */
  key: string;
}

/** Every table the pipeline writes, with its PartitionKey (contract.md; shared/**\/*Store.ts). */
export const TABLE_KEYS: Readonly<Record<string, TableKeys>> = {
  dvAccounts: { account: 'dataverse', scheme: { by: 'row' }, key: 'accountid' },
  dvContracts: { account: 'dataverse', scheme: { by: 'row' }, key: 'salesorderid' },
  dvContractLines: { account: 'dataverse', scheme: { by: 'contract' }, key: 'salesorderid (the contract)' },
  dvMilestones: { account: 'dataverse', scheme: { by: 'contract' }, key: 'salesorderid (the contract)' },
  dvActuals: { account: 'dataverse', scheme: { by: 'contract' }, key: 'msdyn_salescontract (the contract)' },
  dvInvoices: { account: 'dataverse', scheme: { by: 'row' }, key: 'invoiceid' },
  dvInvoiceLines: { account: 'dataverse', scheme: { by: 'invoice' }, key: 'invoiceid (the invoice)' },
  dvInvoiceLineDetails: { account: 'dataverse', scheme: { by: 'invoice' }, key: 'msdyn_invoice (the invoice)' },
  dvInvoiceClaims: { account: 'dataverse', scheme: { by: 'contract' }, key: 'ContractId (the contract)' },
  dvCurrencies: { account: 'dataverse', scheme: { by: 'row' }, key: 'transactioncurrencyid' },
  dvApprovalIndex: { account: 'dataverse', scheme: { by: 'fixed', partitions: 16 }, key: 'Bucket (the first hex digit of the actual id)' },
  foProposals: { account: 'finance', scheme: { by: 'row' }, key: 'ProposalId' },
  foProposalLines: { account: 'finance', scheme: { by: 'invoice' }, key: 'ProposalId (the invoice)' },
  foActualsStaging: { account: 'finance', scheme: { by: 'contract' }, key: 'ContractId (the contract)' },
  foProjectTransactions: { account: 'finance', scheme: { by: 'project' }, key: 'ProjectId (the project)' },
  foCustomerInvoices: { account: 'finance', scheme: { by: 'row' }, key: 'InvoiceId' },
  foLedgerEntries: { account: 'finance', scheme: { by: 'capped', perPartition: 100 }, key: 'Voucher (at most 100 entries)' },
  foExchangeRates: { account: 'finance', scheme: { by: 'fixed', partitions: 1 }, key: 'FROM-TO currency pair' },
  foStagingWork: { account: 'finance', scheme: { by: 'contractShards', partitions: 8, perContract: 2 }, key: 'Shard S0..S7 (two per contract, by a hash of the contract)' },
  foVoucherReservations: { account: 'finance', scheme: { by: 'fixed', partitions: 8 }, key: 'Shard S0..S7 (hash of the actual)' },
  integrationSequences: { account: 'integration', scheme: { by: 'fixed', partitions: 1 }, key: 'Sequence (one counter per sequence)' },
  integrationErrors: { account: 'integration', scheme: { by: 'fixed', partitions: 1 }, key: 'Source (the function)' },
  integrationLeases: { account: 'integration', scheme: { by: 'fixed', partitions: 1 }, key: 'Name (the lease)' },
  integrationJobRuns: { account: 'integration', scheme: { by: 'fixed', partitions: 1 }, key: 'Job' },
};

/** A table the catalogue does not know: assumed spread over many partitions, in the integration account. */
const UNKNOWN_TABLE: TableKeys = { account: 'integration', scheme: { by: 'row' }, key: '(not in the model: assumed spread)' };

export function tableKeysOf(table: string): TableKeys {
  return TABLE_KEYS[table] ?? UNKNOWN_TABLE;
}

// ---- what each phase does that the benchmark does not count ------------------------------------------

export type Trigger = 'http' | 'queue' | 'timer';

/** Functions on a Service Bus queue (contract.md): each invocation is one message sent, received and completed. */
export const QUEUE_FUNCTIONS: ReadonlySet<string> = new Set(['confirmProformaInvoice', 'syncInvoiceProposal', 'syncActuals', 'postInvoiceProposal', 'syncActualsAccounting']);

export interface HiddenOps {
  table: string;
  kind: 'read' | 'delete' | 'write';
  /** Operations per ILD of the phase; 'contractRows' = the contract's whole partition (Assumptions.contractRowsPerIld per ILD). */
  perIld: number | 'contractRows';
  /**
   * 'point': point reads, one entity each. Results that carry the requests Azurite served
   * (`usage.requests`) have them counted per table, and the count replaces this estimate.
   */
  via?: 'point';
}

export interface PhaseProfile {
  /** The function whose invocations carry the phase (its largest one is the critical path). */
  main: string;
  trigger: Trigger;
  /** How many invocations of `main`: one per invoice, one run for everything, or one per `unit` ILDs. */
  per: 'invoice' | 'run' | { unit: number };
  /** Storage requests one invocation makes one after another (besides its batched work). */
  serialRoundTrips: number;
  /** Tables the main invocation works on (the others belong to functions downstream in the same phase); all when absent. */
  mainTables?: readonly string[];
  /** Reads, deletes and writes the code makes that the benchmark cannot count (reads; rows deleted again, unless counted). */
  hidden: readonly HiddenOps[];
  /** Timer phases: staging rows the import takes on per ILD (a cost and an unbilled row; or the billed one). */
  importRowsPerIld?: number;
}

const CONFIRMATION_TABLES = ['dvActuals', 'dvInvoices', 'dvInvoiceLines', 'dvInvoiceLineDetails', 'dvInvoiceClaims', 'dvMilestones'];
const SYNC_TABLES = ['foActualsStaging', 'foStagingWork'];
const POSTING_TABLES = ['foProjectTransactions', 'foActualsStaging', 'foLedgerEntries', 'foCustomerInvoices', 'foProposals', 'foProposalLines', 'integrationSequences'];

const confirmation: PhaseProfile = {
  main: 'confirmProformaInvoice',
  trigger: 'queue',
  per: 'invoice',
  serialRoundTrips: 8,
  mainTables: CONFIRMATION_TABLES,
  hidden: [
    // actualsOfContractUpTo: the contract's dvActuals partition up to the listing bound, and by key
    // what the plan needs beyond it (shared/bridge/confirmProformaInvoice.ts)
    { table: 'dvActuals', kind: 'read', perIld: 'contractRows' },
    // the invoice's ILDs (listPartition)
    { table: 'dvInvoiceLineDetails', kind: 'read', perIld: 1 },
    // and again after the fence, RowKeys only, for details added meanwhile (detailsOfInvoiceNotIn):
    // Table storage reads every entity of a query whatever it returns
    { table: 'dvInvoiceLineDetails', kind: 'read', perIld: 1 },
    // releaseClaimsOfInvoice: the invoice's claims read by one query and deleted 100 per
    // transaction (each still one entity read and one delete against the partition's target)
    { table: 'dvInvoiceClaims', kind: 'read', perIld: 1 },
    { table: 'dvInvoiceClaims', kind: 'delete', perIld: 1 },
  ],
};
const posting: PhaseProfile = {
  main: 'postInvoiceProposal',
  trigger: 'queue',
  per: 'invoice',
  serialRoundTrips: 10,
  mainTables: POSTING_TABLES,
  hidden: [
    // the proposal's lines (listPartition) and the transactions they bill (one query per project)
    { table: 'foProposalLines', kind: 'read', perIld: 1 },
    { table: 'foProjectTransactions', kind: 'read', perIld: 1 },
  ],
};
const billedSync: readonly HiddenOps[] = [];
const accountingBack: readonly HiddenOps[] = [
  // mergeIntoActuals: one point read per 100-actual group
  { table: 'dvActuals', kind: 'read', perIld: 0.01, via: 'point' },
];

/** The benchmark's phases (tools/bench/scenarios.ts), profiled from the code. */
export const PHASE_PROFILES: Readonly<Record<string, PhaseProfile>> = {
  // The approval index is written create-if-absent before the actuals (counted); an entry approved
  // before is read by key in the contract its index row names (none in the benchmark).
  'approvals + actuals sync': { main: 'approveEntries', trigger: 'http', per: { unit: 1_000 }, serialRoundTrips: 4, mainTables: ['dvApprovalIndex', 'dvActuals'], hidden: [] },
  'actuals sync': { main: 'syncActuals', trigger: 'queue', per: { unit: 100 }, serialRoundTrips: 3, mainTables: SYNC_TABLES, hidden: [] },
  'import + accounting back': {
    main: 'importFromStaging',
    trigger: 'timer',
    per: 'run',
    serialRoundTrips: 20,
    importRowsPerIld: 2,
    mainTables: ['foActualsStaging', 'foStagingWork', 'foVoucherReservations', 'foLedgerEntries', 'foProjectTransactions'],
    hidden: [
      // the pending index: listed (8 shards) and its entries deleted; a cost and an unbilled row per ILD
      { table: 'foStagingWork', kind: 'read', perIld: 2 },
      { table: 'foStagingWork', kind: 'delete', perIld: 2 },
      { table: 'dvActuals', kind: 'read', perIld: 0.02, via: 'point' },
    ],
  },
  'backlog ready': {
    main: 'markActualsReady',
    trigger: 'http',
    per: { unit: 1_000 },
    serialRoundTrips: 4,
    // actualsByIds with the contract: one point read per actual
    hidden: [{ table: 'dvActuals', kind: 'read', perIld: 1, via: 'point' }],
  },
  'invoice creation': {
    main: 'createProformaInvoice',
    trigger: 'http',
    per: 'invoice',
    serialRoundTrips: 10,
    hidden: [
      // readyBacklog (a partition query) and the claims it makes, deleted again by the confirmation
      { table: 'dvActuals', kind: 'read', perIld: 1 },
      { table: 'dvInvoiceClaims', kind: 'write', perIld: 1 },
    ],
  },
  confirmation,
  'proposal + billed sync': { main: 'syncActuals', trigger: 'queue', per: { unit: 100 }, serialRoundTrips: 3, mainTables: SYNC_TABLES, hidden: billedSync },
  'confirmation + sync': { ...confirmation, hidden: [...confirmation.hidden, ...billedSync] },
  'import (proposal lines)': {
    main: 'importFromStaging',
    trigger: 'timer',
    per: 'run',
    serialRoundTrips: 20,
    importRowsPerIld: 1,
    hidden: [
      { table: 'foStagingWork', kind: 'read', perIld: 1 },
      { table: 'foStagingWork', kind: 'delete', perIld: 1 },
      // resolveBilled lists the project's unbilled transactions; the recount lists the proposal's lines
      { table: 'foProjectTransactions', kind: 'read', perIld: 1 },
      { table: 'foProposalLines', kind: 'read', perIld: 1 },
    ],
  },
  posting,
  'accounting back': { main: 'syncActualsAccounting', trigger: 'queue', per: { unit: 100 }, serialRoundTrips: 3, mainTables: ['dvActuals', 'dvInvoices'], hidden: accountingBack },
  'posting + accounting back': { ...posting, hidden: [...posting.hidden, ...accountingBack] },
};

// ---- the load of a phase --------------------------------------------------------------------------------

export interface Shape {
  contracts: number;
  invoices: number;
  projects: number;
}

export interface PhaseLoad {
  scenario: string;
  phase: string;
  /** ILDs (or time entries, before the invoice) the phase works for, over all its invoices. */
  ilds: number;
  measuredSeconds: number;
  shape: Shape;
  /** Entities written per table (measured). */
  tables: Readonly<Record<string, number>>;
  /** Invocations per function that finished in the phase (measured). */
  invocations: Readonly<Record<string, number>>;
  peakRssBytes?: number;
  /** Point reads per table that Azurite served in the phase (measured; absent in older results). */
  pointReads?: Readonly<Record<string, number>>;
}

const POINT_READ = 'point read ';

/** Point reads per table from the requests Azurite served (`usage.requests`, tools/bench/writeCounter.ts). */
export function pointReadsOf(requests: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [kind, n] of Object.entries(requests)) if (kind.startsWith(POINT_READ)) out[kind.slice(POINT_READ.length)] = n;
  return out;
}

/** Contracts, invoices and projects of a scenario: A and C one of each; B one contract (and project) per invoice. */
export function shapeOf(scenario: string, sizes: BenchResults['options']['sizes']): Shape {
  if (scenario === 'B') {
    const n = Math.max(1, sizes.bInvoices);
    return { contracts: n, invoices: n, projects: n };
  }
  return { contracts: 1, invoices: 1, projects: 1 };
}

export function loadOf(phase: PhaseResult, shape: Shape): PhaseLoad {
  const invocations: Record<string, number> = {};
  for (const [fn, stats] of Object.entries(phase.functions ?? {})) invocations[fn] = stats.invocations;
  const load: PhaseLoad = { scenario: phase.scenario, phase: phase.phase, ilds: phase.ilds, measuredSeconds: phase.seconds, shape, tables: { ...phase.tables }, invocations };
  if (phase.peakRssBytes !== undefined) load.peakRssBytes = phase.peakRssBytes;
  if (phase.usage?.requests !== undefined) load.pointReads = pointReadsOf(phase.usage.requests);
  return load;
}

export function loadsOf(results: BenchResults): PhaseLoad[] {
  return results.phases.map((p) => loadOf(p, shapeOf(p.scenario, results.options.sizes)));
}

// ---- one phase in Azure ------------------------------------------------------------------------------

export interface TableOps {
  table: string;
  account: AccountName;
  key: string;
  scheme: PartitionScheme;
  writes: number;
  reads: number;
  deletes: number;
  /** Operations counted against the targets (reads weighted by Assumptions.readWeight). */
  ops: number;
  partitions: number;
  /** Operations in the busiest partition (work assumed even over the partitions). */
  hottest: number;
}

export type Resource = 'partition' | 'account' | 'serviceBus' | 'sequence' | 'invocation' | 'scaleOut';

export interface Bound {
  resource: Resource;
  seconds: number;
  /** What it is, e.g. "dvActuals partition (msdyn_salescontract): 50,000 ops". */
  detail: string;
}

export interface InvocationEstimate {
  fn: string;
  trigger: Trigger;
  /** Invocations of `fn` the phase needs. */
  count: number;
  /** ILDs one (the largest) invocation handles. */
  ilds: number;
  /** Operations of one invocation. */
  ops: number;
  seconds: number;
  /** The part of `seconds` that does not grow with the invoice (serial round trips, its number reservation). */
  fixedSeconds: number;
  /** Its limit in the deployment and which one. */
  limitSeconds: number;
  limitName: string;
}

export interface PhasePrediction {
  scenario: string;
  phase: string;
  ilds: number;
  measuredSeconds: number;
  tables: TableOps[];
  /** The table with the busiest partition. */
  hottest: TableOps | undefined;
  messages: number;
  bounds: Bound[];
  binding: Bound;
  /** Predicted time in Azure (the largest bound), the import run on demand as in the benchmark. */
  seconds: number;
  /** On the timer: mean wait for the next tick before an import phase starts (half the period). */
  timerWaitSeconds: number;
  invocation: InvocationEstimate | undefined;
  profiled: boolean;
}

function partitionsOf(scheme: PartitionScheme, shape: Shape, entities: number): number {
  switch (scheme.by) {
    case 'contract':
      return Math.max(1, shape.contracts);
    case 'invoice':
      return Math.max(1, shape.invoices);
    case 'project':
      return Math.max(1, shape.projects);
    case 'row':
      return Math.max(1, entities);
    case 'capped':
      // at most perPartition entities in one, and one voucher per invoice at least
      return Math.max(1, shape.invoices, Math.ceil(entities / scheme.perPartition));
    case 'fixed':
      return scheme.partitions;
    case 'contractShards':
      return Math.min(scheme.partitions, scheme.perContract * Math.max(1, shape.contracts));
  }
}

/** Actuals a confirmation reads by key per ILD when its contract is longer than the listing bound: the source, the billed actual and the reversal it creates. */
export const CONFIRMATION_READS_BY_KEY_PER_ILD = 3;

/** Reads of a contract's actuals by a confirmation of `ilds` ILDs whose contract holds `rows`: listed up to the bound, then by key. */
export function confirmationActualReads(ilds: number, rows: number): number {
  const bound = actualsListingLimit(ilds);
  return rows <= bound ? rows : bound + CONFIRMATION_READS_BY_KEY_PER_ILD * ilds;
}

function hiddenCount(h: HiddenOps, ilds: number, a: Assumptions): number {
  return h.perIld === 'contractRows' ? confirmationActualReads(ilds, ilds * a.contractRowsPerIld) : ilds * h.perIld;
}

/** Per table: measured writes plus the profile's hidden operations, placed in partitions. */
export function tableOpsOf(load: PhaseLoad, profile: PhaseProfile | undefined, a: Assumptions): TableOps[] {
  const acc = new Map<string, { writes: number; reads: number; deletes: number }>();
  const at = (table: string) => {
    let t = acc.get(table);
    if (!t) acc.set(table, (t = { writes: 0, reads: 0, deletes: 0 }));
    return t;
  };
  for (const [table, n] of Object.entries(load.tables)) at(table).writes += n;
  // Measured point reads replace the profile's estimates of them.
  for (const [table, n] of Object.entries(load.pointReads ?? {})) at(table).reads += n;
  for (const h of profile?.hidden ?? []) {
    if (h.via === 'point' && load.pointReads !== undefined) continue;
    const n = hiddenCount(h, load.ilds, a);
    // Rows written and deleted again are hidden only while the benchmark cannot see them.
    if (n <= 0 || (h.kind === 'write' && (load.tables[h.table] ?? 0) > 0)) continue;
    const t = at(h.table);
    if (h.kind === 'read') t.reads += n;
    else if (h.kind === 'delete') t.deletes += n;
    else t.writes += n;
  }
  const out: TableOps[] = [];
  for (const [table, t] of acc) {
    const keys = tableKeysOf(table);
    const ops = t.writes + t.deletes + t.reads * a.readWeight;
    // Headers ('row') get one partition per entity written; reads of them land on the same rows.
    const partitions = partitionsOf(keys.scheme, load.shape, keys.scheme.by === 'row' ? t.writes + t.deletes : ops);
    const hottest = ops / partitions;
    out.push({ table, account: keys.account, key: keys.key, scheme: keys.scheme, writes: t.writes, reads: t.reads, deletes: t.deletes, ops, partitions, hottest });
  }
  return out.sort((x, y) => y.hottest - x.hottest || (x.table < y.table ? -1 : 1));
}

function accountOf(t: TableOps, d: Deployment): string {
  return d.storageAccounts === 'one' ? 'the storage account' : `the ${t.account} account`;
}

export function serviceBusOpsPerSecond(tier: ServiceBusTier, limits: AzureLimits, a: Assumptions): number {
  return tier.tier === 'Standard' ? limits.standardCreditsPerSecond : tier.messagingUnits * a.premiumOpsPerSecondPerUnit;
}

export function tierName(tier: ServiceBusTier): string {
  return tier.tier === 'Standard' ? 'Standard' : `Premium ${tier.messagingUnits} MU`;
}

/** Entities one invocation moves per second on its own (its transactions in flight). */
export function clientEntitiesPerSecond(a: Assumptions): number {
  return (a.writeConcurrency * a.batchSize) / a.transactionSeconds;
}

function invocationCount(profile: PhaseProfile, load: PhaseLoad): number {
  if (profile.per === 'run') return 1;
  if (profile.per === 'invoice') return Math.max(1, load.shape.invoices);
  return Math.max(1, Math.ceil(load.ilds / profile.per.unit));
}

function limitOf(trigger: Trigger, p: ModelParams): { seconds: number; name: string } {
  const d = p.deployment;
  if (trigger === 'http') return { seconds: Math.min(p.limits.httpResponseSeconds, d.functionTimeoutSeconds), name: 'HTTP response limit' };
  if (trigger === 'timer') return { seconds: d.functionTimeoutSeconds, name: 'functionTimeout' };
  return d.lockRenewalSeconds < d.functionTimeoutSeconds
    ? { seconds: d.lockRenewalSeconds, name: 'message lock renewal' }
    : { seconds: d.functionTimeoutSeconds, name: 'functionTimeout' };
}

/**
 * Operations of one invocation in its busiest partition of a table: its own contract, invoice or
 * project holds all its rows of such a table (a run over everything: the phase's busiest one);
 * headers are one row each; vouchers hold at most their cap; shards and counters take their share.
 */
function hotOfInvocation(t: TableOps, myOps: number, profile: PhaseProfile): number {
  switch (t.scheme.by) {
    case 'contract':
    case 'invoice':
    case 'project':
      return profile.per === 'run' ? t.hottest : myOps;
    case 'row':
      return Math.min(myOps, 1);
    case 'capped':
      return Math.min(myOps, t.scheme.perPartition);
    case 'fixed':
      return myOps / t.scheme.partitions;
    case 'contractShards':
      // an invocation's rows are of one contract, in its shards
      return profile.per === 'run' ? t.hottest : myOps / t.scheme.perContract;
  }
}

/**
 * The largest invocation of the phase's main function: its share of the work on its tables, the
 * tables one after another at the partition target (or its own transaction rate when that is
 * slower), plus its serial round trips and its number reservation.
 */
export function invocationOf(load: PhaseLoad, profile: PhaseProfile, tables: readonly TableOps[], p: ModelParams): InvocationEstimate {
  const a = p.assumptions;
  const count = invocationCount(profile, load);
  const share = 1 / count;
  const mine = profile.mainTables ? tables.filter((t) => profile.mainTables!.includes(t.table)) : tables;
  let partitionSeconds = 0;
  let ops = 0;
  for (const t of mine) {
    const myOps = t.ops * share;
    ops += myOps;
    partitionSeconds += hotOfInvocation(t, myOps, profile) / p.limits.partitionEntitiesPerSecond;
  }
  const clientSeconds = ops / clientEntitiesPerSecond(a);
  const reservations = sequenceReservations(load) * share;
  const fixedSeconds = profile.serialRoundTrips * a.roundTripSeconds + reservations * a.sequenceReservationSeconds;
  const seconds = Math.max(partitionSeconds, clientSeconds) + fixedSeconds;
  const limit = limitOf(profile.trigger, p);
  return { fn: profile.main, trigger: profile.trigger, count, ilds: load.ilds * share, ops, seconds, fixedSeconds, limitSeconds: limit.seconds, limitName: limit.name };
}

/** Number reservations of the phase: integrationSequences rows written less the counter. */
export function sequenceReservations(load: PhaseLoad): number {
  const n = load.tables.integrationSequences ?? 0;
  return Math.max(0, n - 1);
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

export function predictPhase(load: PhaseLoad, p: ModelParams = DEFAULT_PARAMS): PhasePrediction {
  const { limits, deployment: d, assumptions: a } = p;
  const profile = PHASE_PROFILES[load.phase];
  const tables = tableOpsOf(load, profile, a);
  const bounds: Bound[] = [];

  const hottest = tables[0];
  if (hottest && hottest.hottest > 0) {
    bounds.push({
      resource: 'partition',
      seconds: hottest.hottest / limits.partitionEntitiesPerSecond,
      detail: `${hottest.table} partition (${hottest.key}): ${fmt(hottest.hottest)} ops`,
    });
  }

  const perAccount = new Map<string, number>();
  for (const t of tables) perAccount.set(accountOf(t, d), (perAccount.get(accountOf(t, d)) ?? 0) + t.ops);
  let busiestAccount: [string, number] | undefined;
  for (const entry of perAccount) if (!busiestAccount || entry[1] > busiestAccount[1]) busiestAccount = entry;
  if (busiestAccount && busiestAccount[1] > 0) {
    bounds.push({ resource: 'account', seconds: busiestAccount[1] / limits.accountEntitiesPerSecond, detail: `${busiestAccount[0]}: ${fmt(busiestAccount[1])} ops` });
  }

  let messages = 0;
  for (const [fn, n] of Object.entries(load.invocations)) if (QUEUE_FUNCTIONS.has(fn)) messages += n;
  if (messages > 0) {
    const ops = messages * a.serviceBusOpsPerMessage;
    bounds.push({ resource: 'serviceBus', seconds: ops / serviceBusOpsPerSecond(d.serviceBus, limits, a), detail: `${fmt(messages)} messages, ${fmt(ops)} operations on ${tierName(d.serviceBus)}` });
  }

  const reservations = sequenceReservations(load);
  if (reservations > 0) {
    const writes = Math.ceil(reservations / Math.max(1, a.sequenceBlock));
    bounds.push({ resource: 'sequence', seconds: writes * a.sequenceReservationSeconds, detail: `${fmt(reservations)} numbers, ${fmt(writes)} counter writes one after another` });
  }

  let invocation: InvocationEstimate | undefined;
  if (profile) {
    invocation = invocationOf(load, profile, tables, p);
    bounds.push({ resource: 'invocation', seconds: invocation.seconds, detail: `one ${invocation.fn} (${fmt(invocation.ilds)} ILDs, ${fmt(invocation.ops)} ops)` });
    if (invocation.count > 1 && profile.trigger !== 'timer') {
      const slots = Math.max(1, d.maxInstances * d.maxConcurrentCalls);
      const waves = Math.ceil(invocation.count / slots);
      if (waves > 1) bounds.push({ resource: 'scaleOut', seconds: waves * invocation.seconds, detail: `${fmt(invocation.count)} ${invocation.fn} in ${waves} waves of ${fmt(slots)}` });
    }
  }

  const zero: Bound = { resource: 'invocation', seconds: 0, detail: 'nothing to do' };
  const binding = bounds.reduce((best, b) => (b.seconds > best.seconds ? b : best), bounds[0] ?? zero);
  return {
    scenario: load.scenario,
    phase: load.phase,
    ilds: load.ilds,
    measuredSeconds: load.measuredSeconds,
    tables,
    hottest,
    messages,
    bounds,
    binding,
    seconds: binding.seconds,
    timerWaitSeconds: profile?.trigger === 'timer' ? d.importPeriodSeconds / 2 : 0,
    invocation,
    profiled: profile !== undefined,
  };
}

// ---- scenarios -----------------------------------------------------------------------------------------

export interface ScenarioPrediction {
  scenario: string;
  measuredSeconds: number;
  seconds: number;
  timerWaitSeconds: number;
  phases: PhasePrediction[];
  /** The resource that binds the most predicted time. */
  binding: Resource;
}

export function predictScenarios(loads: readonly PhaseLoad[], p: ModelParams = DEFAULT_PARAMS): ScenarioPrediction[] {
  const order: string[] = [];
  const byScenario = new Map<string, PhasePrediction[]>();
  for (const load of loads) {
    let list = byScenario.get(load.scenario);
    if (!list) {
      byScenario.set(load.scenario, (list = []));
      order.push(load.scenario);
    }
    list.push(predictPhase(load, p));
  }
  return order.map((scenario) => {
    const phases = byScenario.get(scenario) ?? [];
    const time = new Map<Resource, number>();
    for (const ph of phases) time.set(ph.binding.resource, (time.get(ph.binding.resource) ?? 0) + ph.seconds);
    let binding: Resource = 'partition';
    let most = -1;
    for (const [r, s] of time) if (s > most) [binding, most] = [r, s];
    return {
      scenario,
      measuredSeconds: phases.reduce((s, ph) => s + ph.measuredSeconds, 0),
      seconds: phases.reduce((s, ph) => s + ph.seconds, 0),
      timerWaitSeconds: phases.reduce((s, ph) => s + ph.timerWaitSeconds, 0),
      phases,
      binding,
    };
  });
}

// ---- the largest workload ------------------------------------------------------------------------------

export interface LineLimit {
  /** What limits, e.g. "confirmation: one confirmProformaInvoice within the functionTimeout (600 s)". */
  what: string;
  maxIlds: number;
}

export interface Capacity {
  /** The resource, e.g. "the storage account (258 ops per invoice)". */
  what: string;
  perHour: number;
}

export interface Throughput {
  /** Invoices (or lines) per hour: the smallest capacity. */
  perHour: number;
  binding: string;
  capacities: Capacity[];
}

export interface WorkloadLimits {
  /** Lines of one invoice: each invocation that grows with the invoice against its limit, and memory. */
  lineLimits: LineLimit[];
  maxLinesPerInvoice: LineLimit | undefined;
  /** One import run of importMaxRowsPerRun rows against the functionTimeout. */
  importRun: { rows: number; seconds: number; limitSeconds: number } | undefined;
  /** Many invoices at once (scenario B's shape): invoices per hour. */
  invoices: (Throughput & { linesPerInvoice: number }) | undefined;
  /** The whole story (scenario A's shape): lines per hour through the deployment, and through one contract. */
  lines: (Throughput & { perContract: number; contractOpsPerLine: number }) | undefined;
  /**
   * What a confirmation of `ilds` lines reads of its contract's actuals at most, whatever the
   * contract's history: `listed` rows, then `byKey` point reads.
   */
  contractHistory: { ilds: number; listed: number; byKey: number } | undefined;
  memory: { bytesPerIld: number; baseBytes: number } | undefined;
}

/** Least-squares line through (ILDs, peak RSS) of single-invoice sizes; undefined with fewer than two sizes. */
export function memoryPerIld(points: readonly { ilds: number; bytes: number }[]): { bytesPerIld: number; baseBytes: number } | undefined {
  const pts = points.filter((q) => q.ilds > 0 && q.bytes > 0);
  if (new Set(pts.map((q) => q.ilds)).size < 2) return undefined;
  const n = pts.length;
  const mx = pts.reduce((s, q) => s + q.ilds, 0) / n;
  const my = pts.reduce((s, q) => s + q.bytes, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const q of pts) {
    sxy += (q.ilds - mx) * (q.bytes - my);
    sxx += (q.ilds - mx) ** 2;
  }
  const slope = sxy / sxx;
  if (!(slope > 0)) return undefined;
  return { bytesPerIld: slope, baseBytes: Math.max(0, my - slope * mx) };
}

/** Phases with one invocation per invoice whose work grows with the invoice (the import is capped per run instead). */
const INVOICE_SIZED_PHASES = ['invoice creation', 'confirmation', 'posting'];

/** The largest single-invoice phase measured, per phase. */
function largestSingle(predictions: readonly ScenarioPrediction[], phaseName: string): PhasePrediction | undefined {
  let largest: PhasePrediction | undefined;
  for (const s of predictions) {
    if (s.scenario === 'B') continue;
    for (const ph of s.phases) if (ph.phase === phaseName && ph.invocation && (!largest || ph.ilds > largest.ilds)) largest = ph;
  }
  return largest;
}

/** Each invoice-sized invocation's time per ILD at the largest size measured, extrapolated to its limit; and memory. */
function lineLimits(predictions: readonly ScenarioPrediction[], p: ModelParams, memory: WorkloadLimits['memory']): LineLimit[] {
  const out: LineLimit[] = [];
  for (const phaseName of INVOICE_SIZED_PHASES) {
    const inv = largestSingle(predictions, phaseName)?.invocation;
    if (!inv || inv.ilds <= 0) continue;
    const fixed = inv.fixedSeconds;
    const perIld = Math.max(1e-9, (inv.seconds - fixed) / inv.ilds);
    out.push({ what: `${phaseName}: one ${inv.fn} within the ${inv.limitName} (${fmt(inv.limitSeconds)} s)`, maxIlds: Math.max(0, Math.floor((inv.limitSeconds - fixed) / perIld)) });
  }
  if (memory) {
    const budget = p.deployment.instanceMemoryMb * 1024 * 1024;
    out.push({
      what: `memory: host peak ${fmt(memory.baseBytes / 1048576)} MB + ${(memory.bytesPerIld / 1024).toFixed(1)} KB per ILD (measured) within instanceMemoryMB ${fmt(p.deployment.instanceMemoryMb)}`,
      maxIlds: Math.max(0, Math.floor((budget - memory.baseBytes) / memory.bytesPerIld)),
    });
  }
  return out;
}

/** Import seconds per staging row, from the timer phases of some scenarios (run on demand). */
function importSecondsPerRow(phases: readonly PhasePrediction[]): { perRow: number; rows: number } | undefined {
  let seconds = 0;
  let rows = 0;
  for (const ph of phases) {
    const profile = PHASE_PROFILES[ph.phase];
    if (profile?.trigger !== 'timer' || !ph.invocation) continue;
    seconds += ph.invocation.seconds;
    rows += ph.ilds * (profile.importRowsPerIld ?? 1);
  }
  return rows > 0 ? { perRow: seconds / rows, rows } : undefined;
}

/** Staging rows imported per hour: one run at a time (timer and lease), importMaxRowsPerRun a run, a run per period at most. */
function importRowsPerHour(perRow: number, d: Deployment): number {
  // A tick that finds the previous run still going is skipped: a run occupies whole periods.
  const cycle = Math.max(1, Math.ceil((perRow * d.importMaxRowsPerRun) / d.importPeriodSeconds)) * d.importPeriodSeconds;
  return (3600 * d.importMaxRowsPerRun) / cycle;
}

/** Capacities per hour of some phases, for `units` units of work (invoices or lines) they did together. */
function throughputOf(phases: readonly PhasePrediction[], units: number, unitName: string, importRowsPerUnit: number, p: ModelParams): Throughput | undefined {
  if (phases.length === 0 || units <= 0) return undefined;
  const { limits, deployment: d, assumptions: a } = p;
  const perHour = (secondsForAll: number) => (secondsForAll > 0 ? (3600 * units) / secondsForAll : Number.POSITIVE_INFINITY);
  const perAccount = new Map<string, number>();
  let shared: { seconds: number; what: string } | undefined;
  let messages = 0;
  let sequenceSeconds = 0;
  let invocationSeconds = 0;
  for (const ph of phases) {
    for (const t of ph.tables) {
      perAccount.set(accountOf(t, d), (perAccount.get(accountOf(t, d)) ?? 0) + t.ops);
      // Partitions every contract shares (index shards, counters): their rate is divided among all.
      if (t.scheme.by === 'fixed') {
        const seconds = t.hottest / limits.partitionEntitiesPerSecond;
        if (!shared || seconds > shared.seconds) shared = { seconds, what: `${t.table} partitions (${t.key})` };
      }
    }
    messages += ph.messages;
    for (const bound of ph.bounds) if (bound.resource === 'sequence') sequenceSeconds = Math.max(sequenceSeconds, bound.seconds);
    const inv = ph.invocation;
    if (inv && inv.trigger !== 'timer') invocationSeconds += inv.seconds * inv.count;
  }
  const out: Capacity[] = [];
  for (const [account, ops] of perAccount) out.push({ what: `${account} (${(ops / units).toFixed(1)} ops per ${unitName})`, perHour: perHour(ops / limits.accountEntitiesPerSecond) });
  if (shared) out.push({ what: shared.what, perHour: perHour(shared.seconds) });
  if (messages > 0) {
    out.push({
      what: `Service Bus ${tierName(d.serviceBus)} (${(messages / units).toFixed(2)} messages per ${unitName})`,
      perHour: perHour((messages * a.serviceBusOpsPerMessage) / serviceBusOpsPerSecond(d.serviceBus, limits, a)),
    });
  }
  if (sequenceSeconds > 0) out.push({ what: `number sequences (one counter each, ${a.sequenceBlock} number${a.sequenceBlock === 1 ? '' : 's'} per counter write)`, perHour: perHour(sequenceSeconds) });
  const imp = importSecondsPerRow(phases);
  if (imp && importRowsPerUnit > 0) {
    out.push({
      what: `import runs (one at a time, ${fmt(d.importMaxRowsPerRun)} rows a run, at most one every ${d.importPeriodSeconds} s; ${importRowsPerUnit.toFixed(0)} row${importRowsPerUnit === 1 ? '' : 's'} per ${unitName})`,
      perHour: importRowsPerHour(imp.perRow, d) / importRowsPerUnit,
    });
  }
  if (invocationSeconds > 0) out.push({ what: `function instances (${d.maxInstances} x ${d.maxConcurrentCalls} at once)`, perHour: perHour(invocationSeconds / (d.maxInstances * d.maxConcurrentCalls)) });
  out.sort((x, y) => x.perHour - y.perHour);
  const first = out[0];
  return first ? { perHour: first.perHour, binding: first.what, capacities: out } : undefined;
}

export function workloadLimits(results: BenchResults, p: ModelParams = DEFAULT_PARAMS): WorkloadLimits {
  const predictions = predictScenarios(loadsOf(results), p);
  const sizes = results.options.sizes;
  const memory = memoryPerIld(results.scaling.filter((s) => s.peakRssBytes !== undefined).map((s) => ({ ilds: s.ilds, bytes: s.peakRssBytes ?? 0 })));
  const limits = lineLimits(predictions, p, memory);
  let maxLinesPerInvoice: LineLimit | undefined;
  for (const l of limits) if (!maxLinesPerInvoice || l.maxIlds < maxLinesPerInvoice.maxIlds) maxLinesPerInvoice = l;

  const all = predictions.flatMap((s) => s.phases);
  const imp = importSecondsPerRow(all);
  const importRun = imp ? { rows: p.deployment.importMaxRowsPerRun, seconds: imp.perRow * p.deployment.importMaxRowsPerRun, limitSeconds: p.deployment.functionTimeoutSeconds } : undefined;

  const a = predictions.find((s) => s.scenario === 'A');
  const b = predictions.find((s) => s.scenario === 'B');
  const invoicesThroughput = b ? throughputOf(b.phases, sizes.bInvoices, 'invoice', sizes.bIldsPerInvoice, p) : undefined;
  let lines: WorkloadLimits['lines'];
  if (a && sizes.aIlds > 0) {
    // A imports a cost and an unbilled row per line, then the billed one: three rows per line.
    const story = throughputOf(a.phases, sizes.aIlds, 'line', importRowsPerLine(a.phases, sizes.aIlds), p);
    let contractOps = 0;
    for (const ph of a.phases) for (const t of ph.tables) if (t.table === 'dvActuals') contractOps += t.hottest;
    if (story && contractOps > 0) {
      const contractOpsPerLine = contractOps / sizes.aIlds;
      lines = { ...story, perContract: (3600 * p.limits.partitionEntitiesPerSecond) / contractOpsPerLine, contractOpsPerLine };
    }
  }

  // The confirmation lists its contract's actuals up to a bound set by the invoice's size: how much
  // it reads at most for an invoice of A's size, however long the contract's history.
  let contractHistory: WorkloadLimits['contractHistory'];
  const conf = a?.phases.find((ph) => ph.phase === 'confirmation');
  if (conf) contractHistory = { ilds: conf.ilds, listed: actualsListingLimit(conf.ilds), byKey: CONFIRMATION_READS_BY_KEY_PER_ILD * conf.ilds };
  return { lineLimits: limits, maxLinesPerInvoice, importRun, invoices: invoicesThroughput && { ...invoicesThroughput, linesPerInvoice: sizes.bIldsPerInvoice }, lines, contractHistory, memory };
}

function importRowsPerLine(phases: readonly PhasePrediction[], lines: number): number {
  let rows = 0;
  for (const ph of phases) {
    const profile = PHASE_PROFILES[ph.phase];
    if (profile?.trigger === 'timer') rows += ph.ilds * (profile.importRowsPerIld ?? 1);
  }
  return rows / lines;
}

/** The same model under another Service Bus tier. */
export function withTier(p: ModelParams, serviceBus: ServiceBusTier): ModelParams {
  return { ...p, deployment: { ...p.deployment, serviceBus } };
}

export const TIERS: readonly ServiceBusTier[] = [{ tier: 'Standard' }, { tier: 'Premium', messagingUnits: 1 }, { tier: 'Premium', messagingUnits: 4 }];
