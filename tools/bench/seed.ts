/**
 * The benchmark's data: what the Dataverse and F&O sides hold before a scenario's timed phases.
 * Every id derives from the scenario key with deterministicGuid, so a run is repeatable.
 *
 * - `benchContract`: an account, a contract in EUR, four time-and-material lines on one project.
 * - `approvalEntries` / `approvedActuals`: time entries as `POST dataverse/approvals` takes them,
 *   and the Cost + Unbilled Sales actuals that approval makes of them (same ids and fields as
 *   shared/usecases/dataverseApprovals.ts), for when the route is not there.
 * - `postedBacklog`: unbilled actuals as they stand after sync, import and accounting back
 *   (domain steps 1-3), built with the project's own pure mappings (toStagingRow,
 *   postTransaction, accountingFields): the dvActuals rows, the Imported staging rows and the
 *   posted project transactions. Ledger entries of those postings are not written: nothing in
 *   the invoice part reads them.
 * - `draftInvoice`: the proforma invoice "create invoice" makes (domain step 5): one line per
 *   contract line, one unchanged ILD per actual, 10 % sales tax, totals summed.
 */
import type { Account, Actual, Contract, ContractLine, Invoice, InvoiceLine, InvoiceLineDetail } from '../../shared/dataverse/records';
import type { ExchangeRate, ProjectTransaction, StagingRow } from '../../shared/finance/records';
import { postTransaction } from '../../shared/finance/rules/import';
import { toStagingRow } from '../../shared/finance/rules/stagingMap';
import { deterministicGuid } from '../../shared/core/ids';
import { amount, dec, extend, sum } from '../../shared/core/money';
import { BillingMethod, BillingStatus, BillingType, InvoiceStatus, TransactionClass, TransactionType } from '../../shared/core/options';
import { approvalActualId } from '../../shared/dataverse/approvals';
import { accountingFields } from '../../shared/bridge/syncActualsAccounting';

export const CURRENCY = 'EUR';
export const ACCOUNTING_CURRENCY = 'USD';
export const EXCHANGE_RATES: ExchangeRate[] = [{ FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.084500', ValidFrom: '2024-01-01' }];
export const INVOICE_DATE = '2024-03-31';
export const POSTING_DATE = '2024-04-05';
export const TAX_RATE = '0.10';
const CONTRACT_LINES = 4;

export function benchId(...parts: (string | number)[]): string {
  return deterministicGuid('bench', ...parts.map(String));
}

export interface BenchContract {
  key: string;
  account: Account;
  contract: Contract;
  lines: ContractLine[];
  projectId: string;
}

export function benchContract(key: string, number: number): BenchContract {
  const tag = String(number).padStart(6, '0');
  const account: Account = { accountid: benchId(key, 'account'), name: `Bench customer ${key}`, accountnumber: `BENCH-${key}` };
  const contract: Contract = {
    salesorderid: benchId(key, 'contract'),
    name: `Bench contract ${key}`,
    ordernumber: `ORD-${tag}`,
    customerid: account.accountid,
    transactioncurrencyid: CURRENCY,
  };
  const projectId = benchId(key, 'project');
  const lines: ContractLine[] = Array.from({ length: CONTRACT_LINES }, (_, i) => ({
    salesorderdetailid: benchId(key, 'line', i),
    salesorderid: contract.salesorderid,
    productdescription: `Consulting stream ${i + 1} (T&M)`,
    msdyn_billingmethod: BillingMethod.TimeAndMaterial,
    msdyn_project: projectId,
  }));
  return { key, account, contract, lines, projectId };
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
  const cost: Actual[] = [];
  const unbilled: Actual[] = [];
  for (const e of entries) {
    const common = {
      msdyn_transactionclassification: e.classification === 'Time' ? TransactionClass.Time : TransactionClass.Expense,
      msdyn_quantity: e.quantity,
      transactioncurrencyid: c.contract.transactioncurrencyid,
      msdyn_documentdate: e.documentDate,
      msdyn_accountingdate: e.documentDate,
      msdyn_project: c.projectId,
      msdyn_salescontract: c.contract.salesorderid,
      msdyn_salescontractlineid: e.contractLineId,
      msdyn_accountcustomer: c.contract.customerid,
      msdyn_skipsync: false,
    };
    cost.push({
      ...common,
      msdyn_actualid: approvalActualId(e.entryId, 'cost'),
      msdyn_transactiontypecode: TransactionType.Cost,
      msdyn_billingtype: BillingType.Chargeable,
      msdyn_price: e.costPrice,
      msdyn_amount: extend(e.quantity, e.costPrice),
    });
    unbilled.push({
      ...common,
      msdyn_actualid: approvalActualId(e.entryId, 'unbilled'),
      msdyn_transactiontypecode: TransactionType.UnbilledSales,
      msdyn_billingtype: BillingType.Chargeable,
      msdyn_billingstatus: BillingStatus.UnbilledSalesCreated,
      msdyn_price: e.price,
      msdyn_amount: extend(e.quantity, e.price),
    });
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

export interface DraftInvoice {
  invoice: Invoice;
  lines: InvoiceLine[];
  details: InvoiceLineDetail[];
}

/** A Draft proforma invoice over `actuals` (one unchanged ILD each). The actuals must be Customer Invoice Created. */
export function draftInvoice(c: BenchContract, invoiceNumber: string, actuals: readonly Actual[]): DraftInvoice {
  const invoiceId = benchId(c.key, 'invoice', invoiceNumber);
  const lineIdOf = (contractLineId: string) => benchId(c.key, 'invoiceline', invoiceNumber, contractLineId);
  const details: InvoiceLineDetail[] = actuals.map((a) => ({
    msdyn_invoicelinetransactionid: benchId(c.key, 'ild', invoiceNumber, a.msdyn_actualid),
    msdyn_invoice: invoiceId,
    msdyn_invoicelineid: lineIdOf(a.msdyn_salescontractlineid),
    msdyn_salescontractlineid: a.msdyn_salescontractlineid,
    msdyn_project: a.msdyn_project,
    msdyn_transactionclassification: a.msdyn_transactionclassification,
    msdyn_billingtype: a.msdyn_billingtype,
    msdyn_quantity: a.msdyn_quantity,
    msdyn_price: a.msdyn_price,
    msdyn_amount: a.msdyn_amount,
    msdyn_tax: amount(dec(a.msdyn_amount).times(TAX_RATE)),
    transactioncurrencyid: a.transactioncurrencyid,
    msdyn_documentdate: a.msdyn_documentdate,
    msdyn_sourceactual: a.msdyn_actualid,
  }));
  const byLine = new Map<string, InvoiceLineDetail[]>();
  for (const d of details) {
    const list = byLine.get(d.msdyn_salescontractlineid) ?? [];
    list.push(d);
    byLine.set(d.msdyn_salescontractlineid, list);
  }
  const lines: InvoiceLine[] = [...byLine.entries()].map(([contractLineId, mine]) => ({
    invoicedetailid: lineIdOf(contractLineId),
    invoiceid: invoiceId,
    salesorderdetailid: contractLineId,
    msdyn_billingmethod: BillingMethod.TimeAndMaterial,
    extendedamount: amount(sum(mine.map((d) => d.msdyn_amount))),
    tax: amount(sum(mine.map((d) => d.msdyn_tax))),
  }));
  const invoice: Invoice = {
    invoiceid: invoiceId,
    invoicenumber: invoiceNumber,
    name: `Bench invoice ${invoiceNumber}`,
    customerid: c.contract.customerid,
    salesorderid: c.contract.salesorderid,
    transactioncurrencyid: c.contract.transactioncurrencyid,
    msdyn_projectinvoicestatus: InvoiceStatus.Draft,
    msdyn_invoicedate: INVOICE_DATE,
    totalamount: amount(sum(details.map((d) => d.msdyn_amount))),
    totaltax: amount(sum(details.map((d) => d.msdyn_tax))),
  };
  return { invoice, lines, details };
}
