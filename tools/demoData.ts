/**
 * Demo data for `npm start` (and the demo test): two customers, a EUR and a USD contract, each
 * with a time-and-material line and a fixed-price line with milestones, approved time and
 * expenses as actuals, exchange rates for the accounting currency USD, and the Dataverse
 * currencies (dvCurrencies: EUR, USD, GBP) that resolve a RemoteExecutionContext's currency GUIDs.
 *
 * - Seeds an EMPTY store only: when dvAccounts has any row, nothing is done. Accounts are written
 *   last, so a seed interrupted half-way runs again completely on the next start (every write is
 *   create-if-absent or leaves records already in the asked state as they are).
 * - Ids are deterministicGuid('demo', ...), so they are the same in every installation (the demo
 *   script finds the contract by `DEMO_IDS`).
 * - Actuals are made by the approval use case itself (cost + chargeable unbilled sales on T&M
 *   lines, cost only on fixed-price lines), and some are marked Ready to Invoice by the backlog
 *   use case; one milestone per contract is Ready.
 * - The seeded actuals count as already synchronized to F&O: the syncActuals use case writes
 *   their foActualsStaging rows (ImportStatus Pending) and the import's pending index, so the
 *   first Import from staging posts them and sends their accounting details back, and the billed
 *   actuals of an invoice over them can become proposal lines.
 */
import type { ExchangeRate } from '../shared/finance/records';
import { deterministicGuid } from '../shared/core/ids';
import { BillingMethod, MilestoneStatus } from '../shared/core/options';
import type { DataverseStore } from '../shared/dataverse/dataverseStore';
import type { Currency, StoredMilestone } from '../shared/dataverse/records';
import type { FinanceStore } from '../shared/finance/financeStore';
import { StagingWork } from '../shared/finance/import/stagingIndexStore';
import type { ErrorLogPort } from '../shared/operations/errorLogStore';
import { syncActuals } from '../shared/finance/syncActuals';
import type { Publisher } from '../shared/messages';
import { approveEntries, type ApprovalEntry } from '../shared/dataverse/approvals';
import { setReadyToInvoice } from '../shared/dataverse/backlog';

const id = (...parts: string[]) => deterministicGuid('demo', ...parts);

export const DEMO_IDS = {
  contoso: id('account', 'contoso'),
  fabrikam: id('account', 'fabrikam'),
  contosoContract: id('contract', 'contoso'),
  fabrikamContract: id('contract', 'fabrikam'),
  contosoProject: id('project', 'contoso'),
  fabrikamProject: id('project', 'fabrikam'),
  contosoConsulting: id('line', 'contoso', 'consulting'),
  contosoFixedFee: id('line', 'contoso', 'fixed-fee'),
  fabrikamEngineering: id('line', 'fabrikam', 'engineering'),
  fabrikamFixedFee: id('line', 'fabrikam', 'fixed-fee'),
  contosoKickoff: id('milestone', 'contoso', 'kick-off'),
  contosoGoLive: id('milestone', 'contoso', 'go-live'),
  fabrikamDesign: id('milestone', 'fabrikam', 'design'),
  fabrikamHandover: id('milestone', 'fabrikam', 'handover'),
} as const;

/**
 * Dataverse's currencies (dvCurrencies): a RemoteExecutionContext names a currency by its
 * transactioncurrency GUID, which these resolve to the ISO code the tables hold (docs/dataverse.md).
 */
export const DEMO_CURRENCIES: Currency[] = [
  { transactioncurrencyid: id('transactioncurrency', 'EUR'), isocurrencycode: 'EUR', currencyname: 'Euro' },
  { transactioncurrencyid: id('transactioncurrency', 'USD'), isocurrencycode: 'USD', currencyname: 'US Dollar' },
  { transactioncurrencyid: id('transactioncurrency', 'GBP'), isocurrencycode: 'GBP', currencyname: 'Pound Sterling' },
];

export const DEMO_EXCHANGE_RATES: ExchangeRate[] = [
  { FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.084500', ValidFrom: '2020-01-01' },
  { FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.091200', ValidFrom: '2026-11-01' },
  { FromCurrency: 'GBP', ToCurrency: 'USD', Rate: '1.270000', ValidFrom: '2020-01-01' },
  { FromCurrency: 'USD', ToCurrency: 'EUR', Rate: '0.921000', ValidFrom: '2020-01-01' },
];

interface SeedEntry extends ApprovalEntry {
  ready: boolean;
}

function entry(key: string, e: Omit<ApprovalEntry, 'entryId'>, ready: boolean): SeedEntry {
  return { ...e, entryId: id('entry', key), ready };
}

const ENTRIES: SeedEntry[] = [
  // Contoso, EUR, consulting on time and material
  entry('contoso-1', { contractLineId: DEMO_IDS.contosoConsulting, classification: 'Time', quantity: '8', price: '150.00', costPrice: '90.00', documentDate: '2026-11-02', description: 'Workshop: finance processes' }, true),
  entry('contoso-2', { contractLineId: DEMO_IDS.contosoConsulting, classification: 'Time', quantity: '6', price: '150.00', costPrice: '90.00', documentDate: '2026-11-03', description: 'Fit-gap analysis' }, true),
  entry('contoso-3', { contractLineId: DEMO_IDS.contosoConsulting, classification: 'Expense', quantity: '1', price: '245.50', documentDate: '2026-11-04', description: 'Train Munich - Hamburg' }, true),
  entry('contoso-4', { contractLineId: DEMO_IDS.contosoConsulting, classification: 'Time', quantity: '7.5', price: '150.00', costPrice: '90.00', documentDate: '2026-11-05', description: 'Data migration design' }, false),
  // Contoso, fixed price: cost only
  entry('contoso-5', { contractLineId: DEMO_IDS.contosoFixedFee, classification: 'Time', quantity: '10', price: '0', costPrice: '80.00', documentDate: '2026-11-06', description: 'Project management' }, false),
  // Fabrikam, USD
  entry('fabrikam-1', { contractLineId: DEMO_IDS.fabrikamEngineering, classification: 'Time', quantity: '8', price: '180.00', costPrice: '110.00', documentDate: '2026-11-09', description: 'Pipeline build' }, true),
  entry('fabrikam-2', { contractLineId: DEMO_IDS.fabrikamEngineering, classification: 'Material', quantity: '2', price: '350.00', costPrice: '300.00', documentDate: '2026-11-10', description: 'Edge gateway' }, true),
  entry('fabrikam-3', { contractLineId: DEMO_IDS.fabrikamEngineering, classification: 'Time', quantity: '4', price: '180.00', costPrice: '110.00', documentDate: '2026-11-11', description: 'Code review' }, false),
  entry('fabrikam-4', { contractLineId: DEMO_IDS.fabrikamEngineering, classification: 'Expense', quantity: '1', price: '412.80', documentDate: '2026-11-12', description: 'Hotel Seattle' }, false),
];

/** A publisher that sends nothing: seeded actuals reach F&O through syncActuals called directly. */
const noPublisher: Publisher = { publish: async () => undefined };

/** Seeded actuals are valid by construction; a refusal is a bug in this file, so it stops the seed. */
const refuseErrors: ErrorLogPort = {
  record: async (report) => {
    throw new Error(`demo data: ${report.message}`);
  },
};

export interface DemoSeedResult {
  seeded: boolean;
  actuals: number;
  stagingRows: number;
}

export async function seedDemoData(dataverse: DataverseStore, finance: FinanceStore, log: (line: string) => void = () => undefined): Promise<DemoSeedResult> {
  const existing = await dataverse.accounts.query(undefined, { top: 1 });
  if (existing.length) {
    log('demo data: dvAccounts is not empty, nothing seeded');
    return { seeded: false, actuals: 0, stagingRows: 0 };
  }
  const I = DEMO_IDS;

  await dataverse.currencies.createManyIfAbsent(DEMO_CURRENCIES);
  await dataverse.contracts.createManyIfAbsent([
    { salesorderid: I.contosoContract, name: 'Contoso ERP rollout', ordernumber: 'PRJ-1001', customerid: I.contoso, transactioncurrencyid: 'EUR' },
    { salesorderid: I.fabrikamContract, name: 'Fabrikam data platform', ordernumber: 'PRJ-1002', customerid: I.fabrikam, transactioncurrencyid: 'USD' },
  ]);
  await dataverse.contractLines.createManyIfAbsent([
    { salesorderdetailid: I.contosoConsulting, salesorderid: I.contosoContract, productdescription: 'Consulting (time and material)', msdyn_billingmethod: BillingMethod.TimeAndMaterial, msdyn_project: I.contosoProject },
    { salesorderdetailid: I.contosoFixedFee, salesorderid: I.contosoContract, productdescription: 'Project management (fixed fee)', msdyn_billingmethod: BillingMethod.FixedPrice, msdyn_project: I.contosoProject, extendedamount: '20000.00' },
    { salesorderdetailid: I.fabrikamEngineering, salesorderid: I.fabrikamContract, productdescription: 'Data engineering (time and material)', msdyn_billingmethod: BillingMethod.TimeAndMaterial, msdyn_project: I.fabrikamProject },
    { salesorderdetailid: I.fabrikamFixedFee, salesorderid: I.fabrikamContract, productdescription: 'Architecture (fixed fee)', msdyn_billingmethod: BillingMethod.FixedPrice, msdyn_project: I.fabrikamProject, extendedamount: '12000.00' },
  ]);
  const milestones: StoredMilestone[] = [
    { msdyn_contractlinescheduleofvalueid: I.contosoKickoff, msdyn_contractlineid: I.contosoFixedFee, salesorderid: I.contosoContract, msdyn_name: 'Kick-off', msdyn_amount: '5000.00', msdyn_invoicestatus: MilestoneStatus.Ready, msdyn_milestonedate: '2026-10-15' },
    { msdyn_contractlinescheduleofvalueid: I.contosoGoLive, msdyn_contractlineid: I.contosoFixedFee, salesorderid: I.contosoContract, msdyn_name: 'Go-live', msdyn_amount: '15000.00', msdyn_invoicestatus: MilestoneStatus.NotReady, msdyn_milestonedate: '2027-02-15' },
    { msdyn_contractlinescheduleofvalueid: I.fabrikamDesign, msdyn_contractlineid: I.fabrikamFixedFee, salesorderid: I.fabrikamContract, msdyn_name: 'Design sign-off', msdyn_amount: '6000.00', msdyn_invoicestatus: MilestoneStatus.Ready, msdyn_milestonedate: '2026-11-01' },
    { msdyn_contractlinescheduleofvalueid: I.fabrikamHandover, msdyn_contractlineid: I.fabrikamFixedFee, salesorderid: I.fabrikamContract, msdyn_name: 'Handover', msdyn_amount: '6000.00', msdyn_invoicestatus: MilestoneStatus.NotReady, msdyn_milestonedate: '2027-01-31' },
  ];
  await dataverse.milestones.createManyIfAbsent(milestones);

  // Approved time and expenses: the approval use case makes the actuals (no messages: see above).
  const approval = await approveEntries({ dataverse, publisher: noPublisher }, { entries: ENTRIES.map(({ ready: _ready, ...e }) => e) });
  const readyIds = ENTRIES.filter((e) => e.ready).map((e) => approval.entries.find((a) => a.entryId === e.entryId)?.unbilledActualId).filter((x): x is string => x !== undefined);
  await setReadyToInvoice({ dataverse }, { actualIds: readyIds, ready: true });

  // Their staging rows (and the import's pending index), written by the syncActuals use case
  // itself, as if their `actuals` message had been delivered.
  const synced = await syncActuals(
    { invoices: dataverse, staging: finance.staging, work: new StagingWork(finance.connectionString), errorLog: refuseErrors },
    approval.actuals,
  );
  await finance.exchangeRates.createManyIfAbsent(DEMO_EXCHANGE_RATES);

  // Accounts last: their presence marks the seed as complete.
  await dataverse.accounts.createManyIfAbsent([
    { accountid: I.contoso, name: 'Contoso Pharmaceuticals GmbH', accountnumber: 'DE-001' },
    { accountid: I.fabrikam, name: 'Fabrikam, Inc.', accountnumber: 'US-001' },
  ]);
  log(
    `demo data: ${DEMO_CURRENCIES.length} currencies, 2 customers, 2 contracts (EUR, USD), 4 contract lines, 4 milestones (2 Ready), ${approval.actuals.length} actuals (${readyIds.length} Ready to Invoice), ${synced.accepted} staging rows, ${DEMO_EXCHANGE_RATES.length} exchange rates`,
  );
  return { seeded: true, actuals: approval.actuals.length, stagingRows: synced.accepted };
}
