/**
 * The benchmark's data: what the Dataverse and F&O sides hold before a scenario's timed phases.
 * Every id derives from the scenario key with deterministicGuid, so a run is repeatable. The
 * records come from the test kit's contract builder and the domain's own rules, so the bench
 * seeds what the app would have written:
 *
 * - `benchContract`: an account, a contract in EUR, four time-and-material lines on one project.
 * - `entrySpecs` / `approvalRequest` / `approvedActuals`: time entries as `POST dataverse/approvals`
 *   takes them, and the Cost + Unbilled Sales actuals approval makes of them (`approvalActuals`),
 *   for when the route is not there.
 * - `postedBacklog`: unbilled actuals as they stand after sync, import and accounting back
 *   (domain steps 1-3): `toStagingRow`, `postTransaction` and `accountingFields` give the
 *   dvActuals rows, the Imported staging rows and the posted project transactions. Ledger entries
 *   of those postings are not written: nothing in the invoice part reads them.
 * - `draftInvoice`: the proforma invoice "create invoice" makes (domain step 5,
 *   `buildDraftInvoice`): one line per contract line, one unchanged ILD per actual, 10 % sales
 *   tax, totals summed.
 */
import type { Actual } from '../../shared/dataverse/records';
import type { ExchangeRate, ProjectTransaction, StagingRow } from '../../shared/finance/records';
import { postTransaction } from '../../shared/finance/rules/import';
import { toStagingRow } from '../../shared/finance/rules/stagingMap';
import { deterministicGuid } from '../../shared/core/ids';
import { BillingMethod, type BillingStatus } from '../../shared/core/options';
import { approvalActuals } from '../../shared/dataverse/rules/approvalRules';
import { buildDraftInvoice, type DraftInvoice } from '../../shared/dataverse/rules/invoiceRules';
import { accountingFields } from '../../shared/bridge/syncActualsAccounting';
import { buildContract, type ContractFixture } from '../../tests/kit/fixtures/dataverse';

export const CURRENCY = 'EUR';
export const ACCOUNTING_CURRENCY = 'USD';
export const EXCHANGE_RATES: ExchangeRate[] = [{ FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.084500', ValidFrom: '2024-01-01' }];
export const INVOICE_DATE = '2024-03-31';
export const POSTING_DATE = '2024-04-05';
/** Sales tax of every ILD, in percent. */
export const TAX_PERCENT = '10';
const CONTRACT_LINES = 4;

export function benchId(...parts: (string | number)[]): string {
  return deterministicGuid('bench', ...parts.map(String));
}

export type BenchContract = ContractFixture;

export function benchContract(key: string, number: number): BenchContract {
  return buildContract({
    key,
    currency: CURRENCY,
    customerName: `Bench customer ${key}`,
    accountNumber: `BENCH-${key}`,
    name: `Bench contract ${key}`,
    orderNumber: `ORD-${String(number).padStart(6, '0')}`,
    lines: Array.from({ length: CONTRACT_LINES }, (_, i) => ({ billingMethod: BillingMethod.TimeAndMaterial, description: `Consulting stream ${i + 1} (T&M)` })),
  });
}

/** One time or expense entry: mostly hours at 95-150 EUR, every seventh an expense. */
export interface EntrySpec {
  entryId: string;
  contractLineId: string;
  classification: 'Time' | 'Expense';
  quantity: string;
  price: string;
  costPrice: string;
  documentDate: string;
}

export function entrySpecs(c: BenchContract, count: number): EntrySpec[] {
  return Array.from({ length: count }, (_, i) => {
    const expense = i % 7 === 6;
    const line = c.lines[i % c.lines.length]!;
    return {
      entryId: benchId(c.key, 'entry', i),
      contractLineId: line.salesorderdetailid,
      classification: expense ? 'Expense' : 'Time',
      quantity: expense ? '1' : String(1 + (i % 8)),
      price: expense ? `${40 + (i % 50)}.35` : ['95.00', '110.00', '125.50', '150.00'][i % 4]!,
      costPrice: expense ? `${40 + (i % 50)}.35` : '62.00',
      documentDate: `2024-03-${String(1 + (i % 28)).padStart(2, '0')}`,
    };
  });
}

/** The body of `POST dataverse/approvals` for some entries. */
export function approvalRequest(entries: readonly EntrySpec[]): { entries: Record<string, string>[] } {
  return { entries: entries.map((e) => ({ ...e })) };
}

/** What approval makes of the entries (domain step 1, T&M lines): a Cost and an Unbilled Sales actual each. */
export function approvedActuals(c: BenchContract, entries: readonly EntrySpec[]): { cost: Actual[]; unbilled: Actual[] } {
  const lines = new Map(c.lines.map((l) => [l.salesorderdetailid, l]));
  const cost: Actual[] = [];
  const unbilled: Actual[] = [];
  for (const e of entries) {
    const line = lines.get(e.contractLineId);
    if (!line) throw new Error(`bench seed: contract line ${e.contractLineId} is not on contract ${c.contract.salesorderid}`);
    const made = approvalActuals(e, line, c.contract);
    if (!made.unbilled) throw new Error(`bench seed: line ${e.contractLineId} is not time and material`);
    cost.push(made.cost);
    unbilled.push(made.unbilled);
  }
  return { cost, unbilled };
}

export interface PostedBacklog {
  /** The unbilled actuals with their accounting details, in the given billing status. */
  actuals: Actual[];
  staging: StagingRow[];
  transactions: ProjectTransaction[];
}

/** Unbilled actuals as sync, import and accounting back leave them (domain steps 2-3). */
export function postedBacklog(unbilled: readonly Actual[], billingStatus: BillingStatus, importedOn: string): PostedBacklog {
  const out: PostedBacklog = { actuals: [], staging: [], transactions: [] };
  for (const actual of unbilled) {
    const mapped = toStagingRow(actual);
    if (!mapped.ok) throw new Error(`bench seed: ${mapped.reason}`);
    const posted = postTransaction(mapped.row, { accountingCurrency: ACCOUNTING_CURRENCY, rates: EXCHANGE_RATES, importedOn });
    if (posted.kind !== 'posted') throw new Error(`bench seed: ${posted.reason}`);
    out.staging.push({ ...mapped.row, ...posted.rowUpdate });
    out.transactions.push(posted.transaction);
    out.actuals.push({ ...actual, ...accountingFields(posted.accounting), msdyn_billingstatus: billingStatus });
  }
  return out;
}

/** A Draft proforma invoice over `actuals` (one unchanged ILD each). The actuals must be Customer Invoice Created. */
export function draftInvoice(c: BenchContract, invoiceNumber: string, actuals: readonly Actual[]): DraftInvoice {
  return buildDraftInvoice({
    invoiceId: benchId(c.key, 'invoice', invoiceNumber),
    invoicenumber: invoiceNumber,
    contract: c.contract,
    contractLines: new Map(c.lines.map((l) => [l.salesorderdetailid, l])),
    readyActuals: actuals,
    readyMilestones: [],
    invoiceDate: INVOICE_DATE,
    name: `Bench invoice ${invoiceNumber}`,
    taxPercent: TAX_PERCENT,
  });
}
