/**
 * Builders that seed the Dataverse side (dvAccounts, dvContracts, dvContractLines, dvActuals,
 * dvMilestones, dvInvoices, dvInvoiceLines, dvInvoiceLineDetails) in Azurite, for integration and
 * end-to-end tests. They write what the real Dataverse would hold at each step of domain.md:
 *
 *   const fx = await seedContract(dataverse);                       // account, contract, T&M + fixed-price line
 *   const actuals = await seedActuals(dataverse, fx, [{ quantity: '8', price: '100.00' }, ...]); // Ready to Invoice
 *   const milestones = await seedMilestones(dataverse, fx, [{ amount: '5000.00' }]);             // Ready
 *   const inv = await seedDraftInvoice(dataverse, fx, { actuals, milestones, edits: { [actuals[1].msdyn_actualid]: { quantity: '6' } } });
 *
 * Every id derives from a `key` (default: random) with deterministicGuid, so seeding the same key
 * twice (after `clearDataverse`) gives byte-identical rows: useful to compare a crashed-and-redelivered
 * run with a clean one. `dataverseState` takes a comparable snapshot.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { DataverseStore } from '../../shared/dataverse/dataverseStore';
import type { StoredMilestone } from '../../shared/dataverse/records';
import type {
  Account,
  Actual,
  Contract,
  ContractLine,
  Invoice,
  InvoiceLine,
  InvoiceLineDetail,
  Milestone,
} from '../../shared/dataverse/records';
import { deterministicGuid } from '../../shared/core/ids';
import { amount, dec, extend, sum } from '../../shared/core/money';
import {
  BillingMethod,
  BillingStatus,
  BillingType,
  InvoiceStatus,
  MilestoneStatus,
  TransactionClass,
  TransactionType,
} from '../../shared/core/options';

export const DEFAULT_DOCUMENT_DATE = '2024-03-10';
export const DEFAULT_INVOICE_DATE = '2024-03-31';

function idsOf(key: string) {
  return (...parts: (string | number)[]) => deterministicGuid('fixture', key, ...parts.map(String));
}

/** A short readable tag from a key, for names and numbers ("INV-1A2B3C"). */
function tag(key: string): string {
  return deterministicGuid('tag', key).replace(/-/g, '').slice(0, 6).toUpperCase();
}

// ---- contract ---------------------------------------------------------------------------------

export interface ContractFixture {
  key: string;
  account: Account;
  contract: Contract;
  /** Every contract line, in the order asked for. */
  lines: ContractLine[];
  /** The first time-and-material line (undefined when none was asked for). */
  tmLine: ContractLine | undefined;
  /** The first fixed-price line (undefined when none was asked for). */
  fixedLine: ContractLine | undefined;
  /** The project every line belongs to. */
  projectId: string;
}

export interface SeedContractOptions {
  /** Namespace of every id (default: random). */
  key?: string;
  /** ISO currency of the contract (default EUR). */
  currency?: string;
  customerName?: string;
  /** The F&O customer account (default "CUST-<tag>"). */
  accountNumber?: string;
  orderNumber?: string;
  /** Contract lines (default: one Time and Material line and one Fixed Price line). */
  lines?: { billingMethod: BillingMethod; description?: string }[];
}

/** Seed an account, a contract and its lines. */
export async function seedContract(dataverse: DataverseStore, options: SeedContractOptions = {}): Promise<ContractFixture> {
  const key = options.key ?? randomUUID();
  const id = idsOf(key);
  const t = tag(key);
  const account: Account = {
    accountid: id('account'),
    name: options.customerName ?? `Customer ${t}`,
    accountnumber: options.accountNumber ?? `CUST-${t}`,
  };
  const contract: Contract = {
    salesorderid: id('contract'),
    name: `Contract ${t}`,
    ordernumber: options.orderNumber ?? `ORD-${t}`,
    customerid: account.accountid,
    transactioncurrencyid: options.currency ?? 'EUR',
  };
  const projectId = id('project');
  const specs = options.lines ?? [
    { billingMethod: BillingMethod.TimeAndMaterial, description: 'Consulting (T&M)' },
    { billingMethod: BillingMethod.FixedPrice, description: 'Implementation (fixed price)' },
  ];
  const lines: ContractLine[] = specs.map((s, i) => ({
    salesorderdetailid: id('contractline', i),
    salesorderid: contract.salesorderid,
    productdescription: s.description ?? `Line ${i + 1}`,
    msdyn_billingmethod: s.billingMethod,
    msdyn_project: projectId,
  }));
  await Promise.all([
    dataverse.accounts.upsert(account),
    dataverse.contracts.upsert(contract),
    dataverse.contractLines.upsertMany(lines),
  ]);
  return {
    key,
    account,
    contract,
    lines,
    tmLine: lines.find((l) => l.msdyn_billingmethod === BillingMethod.TimeAndMaterial),
    fixedLine: lines.find((l) => l.msdyn_billingmethod === BillingMethod.FixedPrice),
    projectId,
  };
}

// ---- actuals ----------------------------------------------------------------------------------

export interface ActualSpec {
  /** Contract line (default: the fixture's T&M line). */
  line?: ContractLine;
  cls?: TransactionClass;
  /** Default "8". */
  quantity?: string;
  /** Default "100.00". */
  price?: string;
  billingType?: BillingType;
  /** Default Ready to Invoice (the billing backlog). */
  billingStatus?: BillingStatus;
  documentDate?: string;
  accountingDate?: string;
  /** Id (default: derived from the fixture key and the actual's position). */
  id?: string;
}

function requireLine(line: ContractLine | undefined, what: string): ContractLine {
  if (!line) throw new Error(`fixture: no ${what} contract line; pass one explicitly`);
  return line;
}

/** A chargeable unbilled sales actual (as approval creates it), not written. */
export function buildUnbilledActual(fx: ContractFixture, spec: ActualSpec, n: number): Actual {
  const line = spec.line ?? requireLine(fx.tmLine, 'time-and-material');
  const qty = spec.quantity ?? '8';
  const price = spec.price ?? '100.00';
  const billingType = spec.billingType ?? BillingType.Chargeable;
  return {
    msdyn_actualid: spec.id ?? idsOf(fx.key)('actual', n),
    msdyn_transactiontypecode: TransactionType.UnbilledSales,
    msdyn_transactionclassification: spec.cls ?? TransactionClass.Time,
    msdyn_billingtype: billingType,
    msdyn_billingstatus: spec.billingStatus ?? BillingStatus.ReadyToInvoice,
    msdyn_quantity: qty,
    msdyn_price: price,
    msdyn_amount: billingType === BillingType.Chargeable ? extend(qty, price) : '0.00',
    transactioncurrencyid: fx.contract.transactioncurrencyid,
    msdyn_documentdate: spec.documentDate ?? DEFAULT_DOCUMENT_DATE,
    msdyn_accountingdate: spec.accountingDate ?? spec.documentDate ?? DEFAULT_DOCUMENT_DATE,
    msdyn_project: line.msdyn_project,
    msdyn_salescontract: fx.contract.salesorderid,
    msdyn_salescontractlineid: line.salesorderdetailid,
    msdyn_accountcustomer: fx.contract.customerid,
    msdyn_skipsync: false,
  };
}

/**
 * Seed unbilled sales actuals (default: Ready to Invoice, chargeable Time, 8 x 100.00). `from`
 * offsets the derived ids, so several calls on one fixture do not collide.
 */
export async function seedActuals(
  dataverse: DataverseStore,
  fx: ContractFixture,
  specs: ActualSpec[],
  from = 0,
): Promise<Actual[]> {
  const actuals = specs.map((s, i) => buildUnbilledActual(fx, s, from + i));
  await dataverse.actuals.upsertMany(actuals);
  return actuals;
}

// ---- milestones -------------------------------------------------------------------------------

export interface MilestoneSpec {
  /** Contract line (default: the fixture's fixed-price line). */
  line?: ContractLine;
  name?: string;
  /** Default "5000.00". */
  amount?: string;
  /** Default Ready. */
  status?: MilestoneStatus;
  date?: string;
  id?: string;
}

/** Seed contract line milestones (dvMilestones, partitioned by contract). */
export async function seedMilestones(
  dataverse: DataverseStore,
  fx: ContractFixture,
  specs: MilestoneSpec[],
  from = 0,
): Promise<StoredMilestone[]> {
  const milestones = specs.map((s, i): StoredMilestone => {
    const line = s.line ?? requireLine(fx.fixedLine, 'fixed-price');
    return {
      msdyn_contractlinescheduleofvalueid: s.id ?? idsOf(fx.key)('milestone', from + i),
      msdyn_contractlineid: line.salesorderdetailid,
      msdyn_name: s.name ?? `Milestone ${from + i + 1}`,
      msdyn_amount: amount(s.amount ?? '5000.00'),
      msdyn_invoicestatus: s.status ?? MilestoneStatus.Ready,
      msdyn_milestonedate: s.date ?? DEFAULT_DOCUMENT_DATE,
      salesorderid: fx.contract.salesorderid,
    };
  });
  await dataverse.milestones.upsertMany(milestones);
  return milestones;
}

// ---- proforma invoice -------------------------------------------------------------------------

export interface DetailEdit {
  quantity?: string;
  price?: string;
  billingType?: BillingType;
}

export interface ManualDetailSpec {
  /** Contract line (default: the fixture's T&M line). */
  line?: ContractLine;
  /** Default Fee. */
  cls?: TransactionClass;
  /** Default "1". */
  quantity?: string;
  /** Default "250.00". */
  price?: string;
  billingType?: BillingType;
  documentDate?: string;
}

export interface DraftInvoiceOptions {
  /** Namespace of the invoice's ids (default: derived from the contract key and the invoice number). */
  key?: string;
  invoiceNumber?: string;
  name?: string;
  invoiceDate?: string;
  /** Default Draft. Use In Review, or Confirmed/Posted to seed an invoice in a later state. */
  status?: InvoiceStatus;
  /** Ready actuals to invoice: one ILD each; they become Customer Invoice Created. */
  actuals?: Actual[];
  /** Ready milestones to invoice: one ILD each; they become Customer invoice created. */
  milestones?: Milestone[];
  /** Changes the project manager made to the ILD of an actual, by actual id. */
  edits?: Record<string, DetailEdit>;
  /** Manual ILDs (no actual behind them). */
  manual?: ManualDetailSpec[];
  /** Sales tax rate applied to every ILD amount (default "0"), e.g. "0.10". */
  taxRate?: string;
}

export interface InvoiceFixture {
  invoice: Invoice;
  lines: InvoiceLine[];
  details: InvoiceLineDetail[];
  /** The ILD of an actual or milestone id. */
  detailOf(sourceOrMilestoneId: string): InvoiceLineDetail;
  /** Manual ILDs in the order asked for. */
  manualDetails: InvoiceLineDetail[];
}

function detailAmount(quantity: string, price: string, billingType: BillingType): string {
  return billingType === BillingType.Chargeable ? extend(quantity, price) : '0.00';
}

/**
 * Seed a proforma invoice as "create invoice" would (domain step 5, plus the manager's edits):
 * one invoice line per contract line used, one ILD per actual, milestone and manual detail,
 * totals summed; the invoiced actuals become Customer Invoice Created and the milestones Customer
 * invoice created.
 */
export async function seedDraftInvoice(
  dataverse: DataverseStore,
  fx: ContractFixture,
  options: DraftInvoiceOptions = {},
): Promise<InvoiceFixture> {
  const invoiceNumber = options.invoiceNumber ?? `INV-${tag(`${fx.key}|${options.key ?? 'invoice'}`)}`;
  const id = idsOf(options.key ?? `${fx.key}|${invoiceNumber}`);
  const invoiceId = id('invoice');
  const currency = fx.contract.transactioncurrencyid;
  const taxRate = options.taxRate ?? '0';
  const edits = options.edits ?? {};
  const actuals = options.actuals ?? [];
  const milestones = options.milestones ?? [];

  const lineOf = new Map<string, InvoiceLine>();
  const invoiceLine = (contractLineId: string): InvoiceLine => {
    let line = lineOf.get(contractLineId);
    if (!line) {
      const cl = fx.lines.find((l) => l.salesorderdetailid === contractLineId);
      if (!cl) throw new Error(`fixture: contract line ${contractLineId} is not on contract ${fx.contract.salesorderid}`);
      line = {
        invoicedetailid: id('invoiceline', contractLineId),
        invoiceid: invoiceId,
        salesorderdetailid: contractLineId,
        msdyn_billingmethod: cl.msdyn_billingmethod,
        extendedamount: '0.00',
        tax: '0.00',
      };
      lineOf.set(contractLineId, line);
    }
    return line;
  };

  const details: InvoiceLineDetail[] = [];
  const bySource = new Map<string, InvoiceLineDetail>();
  const detail = (
    ildId: string,
    contractLineId: string,
    project: string,
    fields: Omit<InvoiceLineDetail, 'msdyn_invoicelinetransactionid' | 'msdyn_invoice' | 'msdyn_invoicelineid' | 'msdyn_salescontractlineid' | 'msdyn_project' | 'msdyn_tax' | 'transactioncurrencyid'>,
  ): InvoiceLineDetail => {
    const d: InvoiceLineDetail = {
      msdyn_invoicelinetransactionid: ildId,
      msdyn_invoice: invoiceId,
      msdyn_invoicelineid: invoiceLine(contractLineId).invoicedetailid,
      msdyn_salescontractlineid: contractLineId,
      msdyn_project: project,
      msdyn_tax: amount(dec(fields.msdyn_amount).times(taxRate)),
      transactioncurrencyid: currency,
      ...fields,
    };
    details.push(d);
    return d;
  };

  for (const a of actuals) {
    const e = edits[a.msdyn_actualid] ?? {};
    const quantity = e.quantity ?? a.msdyn_quantity;
    const price = e.price ?? a.msdyn_price;
    const billingType = e.billingType ?? a.msdyn_billingtype;
    const d = detail(id('ild', a.msdyn_actualid), a.msdyn_salescontractlineid, a.msdyn_project, {
      msdyn_transactionclassification: a.msdyn_transactionclassification,
      msdyn_billingtype: billingType,
      msdyn_quantity: quantity,
      msdyn_price: price,
      msdyn_amount: detailAmount(quantity, price, billingType),
      msdyn_documentdate: a.msdyn_documentdate,
      msdyn_sourceactual: a.msdyn_actualid,
    });
    bySource.set(a.msdyn_actualid, d);
  }
  for (const m of milestones) {
    const cl = fx.lines.find((l) => l.salesorderdetailid === m.msdyn_contractlineid);
    const d = detail(id('ild', m.msdyn_contractlinescheduleofvalueid), m.msdyn_contractlineid, cl?.msdyn_project ?? fx.projectId, {
      msdyn_transactionclassification: TransactionClass.Milestone,
      msdyn_billingtype: BillingType.Chargeable,
      msdyn_quantity: '1',
      msdyn_price: amount(m.msdyn_amount),
      msdyn_amount: amount(m.msdyn_amount),
      msdyn_documentdate: m.msdyn_milestonedate,
      msdyn_milestone: m.msdyn_contractlinescheduleofvalueid,
    });
    bySource.set(m.msdyn_contractlinescheduleofvalueid, d);
  }
  const manualDetails = (options.manual ?? []).map((s, i) => {
    const line = s.line ?? requireLine(fx.tmLine, 'time-and-material');
    const quantity = s.quantity ?? '1';
    const price = s.price ?? '250.00';
    const billingType = s.billingType ?? BillingType.Chargeable;
    return detail(id('ild', 'manual', i), line.salesorderdetailid, line.msdyn_project, {
      msdyn_transactionclassification: s.cls ?? TransactionClass.Fee,
      msdyn_billingtype: billingType,
      msdyn_quantity: quantity,
      msdyn_price: price,
      msdyn_amount: detailAmount(quantity, price, billingType),
      msdyn_documentdate: s.documentDate ?? DEFAULT_DOCUMENT_DATE,
    });
  });

  const lines = [...lineOf.values()].map((l) => {
    const mine = details.filter((d) => d.msdyn_invoicelineid === l.invoicedetailid);
    return { ...l, extendedamount: amount(sum(mine.map((d) => d.msdyn_amount))), tax: amount(sum(mine.map((d) => d.msdyn_tax))) };
  });
  const invoice: Invoice = {
    invoiceid: invoiceId,
    invoicenumber: invoiceNumber,
    name: options.name ?? `Invoice ${invoiceNumber}`,
    customerid: fx.contract.customerid,
    salesorderid: fx.contract.salesorderid,
    transactioncurrencyid: currency,
    msdyn_projectinvoicestatus: options.status ?? InvoiceStatus.Draft,
    msdyn_invoicedate: options.invoiceDate ?? DEFAULT_INVOICE_DATE,
    totalamount: amount(sum(details.map((d) => d.msdyn_amount))),
    totaltax: amount(sum(details.map((d) => d.msdyn_tax))),
  };

  await Promise.all([
    dataverse.invoiceLines.upsertMany(lines),
    dataverse.invoiceLineDetails.upsertMany(details),
    dataverse.actuals.upsertMany(actuals.map((a) => ({ ...a, msdyn_billingstatus: BillingStatus.CustomerInvoiceCreated }))),
    dataverse.milestones.upsertMany(
      milestones.map((m) => ({
        ...m,
        salesorderid: fx.contract.salesorderid,
        msdyn_invoicestatus: MilestoneStatus.CustomerInvoiceCreated,
      })),
    ),
  ]);
  await dataverse.invoices.upsert(invoice);

  return {
    invoice,
    lines,
    details,
    manualDetails,
    detailOf(sourceOrMilestoneId) {
      const d = bySource.get(sourceOrMilestoneId);
      if (!d) throw new Error(`fixture: no ILD for ${sourceOrMilestoneId}`);
      return d;
    },
  };
}

// ---- snapshots --------------------------------------------------------------------------------

export interface DataverseState {
  invoice: Record<string, unknown> | undefined;
  lines: Record<string, unknown>[];
  details: Record<string, unknown>[];
  /** Every actual of the contract, by id. */
  actuals: Record<string, unknown>[];
  milestones: Record<string, unknown>[];
}

function strip(row: Record<string, unknown>, keepEtag: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(row).sort()) {
    if (k === 'etag' && !keepEtag) continue;
    if (row[k] !== undefined) out[k] = row[k];
  }
  return out;
}

function byKey(key: string) {
  return (a: Record<string, unknown>, b: Record<string, unknown>) => String(a[key]).localeCompare(String(b[key]));
}

/**
 * A comparable snapshot of a contract's and an invoice's rows (sorted by id; ETags dropped unless
 * `withEtags`, which shows whether anything was written at all).
 */
export async function dataverseState(
  dataverse: DataverseStore,
  ref: { contractId: string; invoiceId: string },
  options: { withEtags?: boolean } = {},
): Promise<DataverseState> {
  const keep = options.withEtags === true;
  const [invoice, lines, details, actuals, milestones] = await Promise.all([
    dataverse.invoices.get(ref.invoiceId, ref.invoiceId),
    dataverse.invoiceLines.listPartition(ref.invoiceId),
    dataverse.invoiceLineDetails.listPartition(ref.invoiceId),
    dataverse.actuals.listPartition(ref.contractId),
    dataverse.milestones.listPartition(ref.contractId),
  ]);
  return {
    invoice: invoice ? strip(invoice, keep) : undefined,
    lines: lines.map((r) => strip(r, keep)).sort(byKey('invoicedetailid')),
    details: details.map((r) => strip(r, keep)).sort(byKey('msdyn_invoicelinetransactionid')),
    actuals: actuals.map((r) => strip(r, keep)).sort(byKey('msdyn_actualid')),
    milestones: milestones.map((r) => strip(r, keep)).sort(byKey('msdyn_contractlinescheduleofvalueid')),
  };
}

/** Delete every row of every Dataverse table (tables stay), e.g. to seed the same key again. */
export async function clearDataverse(dataverse: DataverseStore): Promise<void> {
  for (const table of dataverse.all()) await table.clear();
}

// ---- Azurite at scale -------------------------------------------------------------------------

