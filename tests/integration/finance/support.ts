/**
 * Builders for the F&O import tests: Dataverse-shaped actuals, their staging rows, proposal
 * header messages, a recording Publisher, and the F&O tables on one Azurite.
 */
import { randomUUID } from 'node:crypto';
import type { Actual } from '../../../shared/dataverse/records';
import type { StagingRow } from '../../../shared/finance/records';
import { toStagingRow } from '../../../shared/finance/rules/stagingMap';
import { deterministicGuid } from '../../../shared/core/ids';
import { isBalanced } from '../../../shared/finance/rules/ledger';
import { JOURNAL_MAX_ROWS } from '../../../shared/finance/rules/import';
import { amount, dec, sum } from '../../../shared/core/money';
import { BillingStatus, BillingType, TransactionClass, TransactionType } from '../../../shared/core/options';
import { ErrorLog } from '../../../shared/operations/errorLog';
import { StagingWork } from '../../../shared/finance/import/stagingIndexStore';
import { FinanceStore } from '../../../shared/finance/financeStore';
import { TableLeases, type LeaseHandle, type LeasePort } from '../../../shared/storage/leases';
import type { InvoiceProposalMessage, OutboundMessage, Publisher, QueueName } from '../../../shared/bridge/messages';
import type { ImportFromStagingDeps } from '../../../shared/finance/import/importFromStaging';

export const id = (...parts: (string | number)[]) => deterministicGuid('finance-test', ...parts.map(String));

export interface Scenario {
  contractId: string;
  contractLineId: string;
  projectId: string;
  customerId: string;
  invoiceId: string;
  proposalId: string;
  currency: string;
}

export function scenario(key: string = randomUUID(), currency = 'USD'): Scenario {
  return {
    contractId: id(key, 'contract'),
    contractLineId: id(key, 'line'),
    projectId: id(key, 'project'),
    customerId: id(key, 'customer'),
    invoiceId: id(key, 'invoice'),
    proposalId: `INV-${key.replace(/[^A-Za-z0-9]/g, '').slice(0, 12).toUpperCase()}`,
    currency,
  };
}

export function actual(s: Scenario, overrides: Partial<Actual> & { msdyn_actualid: string }): Actual {
  return {
    msdyn_transactiontypecode: TransactionType.UnbilledSales,
    msdyn_transactionclassification: TransactionClass.Time,
    msdyn_billingtype: BillingType.Chargeable,
    msdyn_billingstatus: BillingStatus.UnbilledSalesCreated,
    msdyn_quantity: '8',
    msdyn_price: '100.00',
    msdyn_amount: '800.00',
    transactioncurrencyid: s.currency,
    msdyn_documentdate: '2024-03-10',
    msdyn_accountingdate: '2024-03-10',
    msdyn_project: s.projectId,
    msdyn_salescontract: s.contractId,
    msdyn_salescontractlineid: s.contractLineId,
    msdyn_accountcustomer: s.customerId,
    msdyn_skipsync: false,
    ...overrides,
  };
}

export function costActual(s: Scenario, actualId: string, amountValue = '400.00'): Actual {
  return actual(s, { msdyn_actualid: actualId, msdyn_transactiontypecode: TransactionType.Cost, msdyn_billingstatus: undefined, msdyn_price: '50.00', msdyn_amount: amountValue });
}

export function unbilledActual(s: Scenario, actualId: string, amountValue = '800.00'): Actual {
  return actual(s, { msdyn_actualid: actualId, msdyn_amount: amountValue });
}

export function billedActual(s: Scenario, actualId: string, unbilledId: string | undefined, amountValue = '800.00'): Actual {
  const a = actual(s, {
    msdyn_actualid: actualId,
    msdyn_transactiontypecode: TransactionType.BilledSales,
    msdyn_billingstatus: BillingStatus.CustomerInvoicePosted,
    msdyn_amount: amountValue,
    msdyn_invoice: s.invoiceId,
    msdyn_salestaxamount: '0.00',
  });
  if (unbilledId !== undefined) a.msdyn_unbilledactual = unbilledId;
  return a;
}

export function staging(a: Actual): StagingRow {
  const mapped = toStagingRow(a);
  if (!mapped.ok) throw new Error(mapped.reason);
  return mapped.row;
}

export function proposalMessage(s: Scenario, billedAmounts: readonly string[]): InvoiceProposalMessage {
  return {
    proposalId: s.proposalId,
    invoiceId: s.invoiceId,
    contractId: s.contractId,
    customerId: s.customerId,
    customerAccount: 'CUST-001',
    currencyCode: s.currency,
    invoiceDate: '2024-03-31',
    expectedLineCount: billedAmounts.length,
    expectedAmount: amount(sum(billedAmounts)),
    expectedTax: '0.00',
    confirmedOn: '2024-03-31T10:00:00.000Z',
  };
}

export class RecordingPublisher implements Publisher {
  readonly sent: { queue: QueueName; message: OutboundMessage }[] = [];
  async publish(queue: QueueName, messages: OutboundMessage[]): Promise<void> {
    for (const message of messages) this.sent.push({ queue, message });
  }
}

/** A lease port that always grants: two runs using it behave as if each had lost track of the other. */
export const alwaysGranted: LeasePort = {
  async acquire(name): Promise<LeaseHandle> {
    return { name, owner: randomUUID(), held: () => true, release: async () => undefined };
  },
};

export interface FinanceSide {
  finance: FinanceStore;
  work: StagingWork;
  leases: TableLeases;
  errorLog: ErrorLog;
  publisher: RecordingPublisher;
  deps(overrides?: Partial<ImportFromStagingDeps>): ImportFromStagingDeps;
  /** Write staging rows the way syncActuals does: index first, then the rows, create-if-absent. */
  stage(rows: readonly StagingRow[]): Promise<void>;
}

export function financeSide(connectionString: string): FinanceSide {
  const finance = new FinanceStore(connectionString);
  const work = new StagingWork(connectionString);
  const leases = new TableLeases(connectionString);
  const publisher = new RecordingPublisher();
  return {
    finance,
    work,
    leases,
    errorLog: new ErrorLog(connectionString),
    publisher,
    deps: (overrides = {}) => ({ finance, work, leases, publisher, accountingCurrency: 'USD', ...overrides }),
    async stage(rows) {
      await work.add(rows, new Date());
      await finance.staging.createManyIfAbsent(rows);
    },
  };
}

/** Delete every row of the F&O tables, the index and the leases (between tests on one Azurite). */
export async function resetFinanceSide(side: FinanceSide): Promise<void> {
  const stores: { clear(): Promise<void> }[] = [...side.finance.all(), side.work.store, side.work.journals.store, side.leases.store];
  for (const store of stores) await store.clear();
}

export interface JournalCheck {
  vouchers: number;
  entries: number;
  transactions: number;
}

/**
 * The import's journal invariants over everything stored: every voucher balances and holds at most
 * 50 rows; every entry has a project transaction (no orphan), and every transaction with a
 * non-zero accounting amount has exactly its debit/credit pair (no duplicate), in the voucher the
 * transaction names, summing to zero and matching its accounting amount. Throws with the first
 * violation; answers the counts.
 */
export async function checkJournals(finance: FinanceStore, voucherPattern = /^PJV-\d{14}-[0-9A-F]{8}-\d{4,}$/): Promise<JournalCheck> {
  const ledger = (await finance.ledgerEntries.query()).filter((e) => e.Voucher.startsWith('PJV-'));
  const transactions = await finance.projectTransactions.query();
  const byVoucher = new Map<string, typeof ledger>();
  const byRow = new Map<string, typeof ledger>();
  for (const e of ledger) {
    byVoucher.set(e.Voucher, [...(byVoucher.get(e.Voucher) ?? []), e]);
    byRow.set(e.Reference ?? '?', [...(byRow.get(e.Reference ?? '?') ?? []), e]);
  }
  for (const [voucher, entries] of byVoucher) {
    if (!voucherPattern.test(voucher)) throw new Error(`voucher ${voucher} does not have the journal format`);
    if (!isBalanced(entries)) throw new Error(`voucher ${voucher} does not balance`);
    const rows = new Set(entries.map((e) => e.Reference));
    if (rows.size > JOURNAL_MAX_ROWS || entries.length > 2 * JOURNAL_MAX_ROWS) throw new Error(`voucher ${voucher} holds ${rows.size} rows, ${entries.length} entries`);
  }
  const txIds = new Set(transactions.map((t) => t.TransId));
  for (const reference of byRow.keys()) if (!txIds.has(reference)) throw new Error(`ledger entries of ${reference} have no project transaction (orphans)`);
  for (const t of transactions) {
    const entries = byRow.get(t.TransId) ?? [];
    const expected = dec(t.AccountingAmount).isZero() ? 0 : 2;
    if (entries.length !== expected) throw new Error(`transaction ${t.TransId} has ${entries.length} ledger entries, not ${expected}`);
    if (entries.some((e) => e.Voucher !== t.Voucher || e.ProjectId !== t.ProjectId)) throw new Error(`entries of ${t.TransId} are not (all) in its voucher ${t.Voucher}`);
    const debit = [...entries].sort((a, b) => a.LineNumber - b.LineNumber)[0];
    if (debit && (!isBalanced(entries) || amount(debit.Amount) !== t.AccountingAmount)) {
      throw new Error(`entries of ${t.TransId} do not post its accounting amount ${t.AccountingAmount}`);
    }
  }
  return { vouchers: byVoucher.size, entries: ledger.length, transactions: transactions.length };
}
