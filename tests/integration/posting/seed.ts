/**
 * Seeded F&O state for posting tests: an EUR proposal whose lines are imported (complete), the
 * unbilled project transactions its T&M lines bill, the staging rows, and EUR->USD rates.
 * Ids derive from the scenario name, so a snapshot can replace them with role names and two
 * scenarios (a clean run and a crashed-then-redelivered one) can be compared as equal.
 */
import type { FinanceStore } from '../../../shared/finance/financeStore';
import type { ExchangeRate, Proposal, ProposalLine, ProjectTransaction, StagingRow } from '../../../shared/finance/records';
import { deterministicGuid } from '../../../shared/core/ids';
import { amount, dec, extend, sum } from '../../../shared/core/money';
import { toAccounting } from '../../../shared/finance/rules/exchange';
import { transactionVoucher } from '../../../shared/finance/rules/import';
import { postingVoucher } from '../../../shared/finance/rules/posting';
import type { OutboundMessage, Publisher, QueueName } from '../../../shared/bridge/messages';
import { odata } from '../../../shared/storage/tableStore';
import type { SequencePort } from '../../../shared/storage/sequences';
import { CUSTOMER_INVOICE_SEQUENCE } from '../../../shared/finance/posting/postInvoiceProposal';

export const RATES: ExchangeRate[] = [
  { FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.084500', ValidFrom: '2026-01-01' },
  { FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.100000', ValidFrom: '2026-03-01' },
];
const UNBILLED_DATE = '2026-02-10';
const UNBILLED_RATE = '1.084500';

interface LineSpec {
  role: string;
  cls: 'Time' | 'Expense' | 'Milestone';
  qty: string;
  price: string;
  tax: string;
}

export interface Scenario {
  name: string;
  proposalId: string;
  invoiceId: string;
  contractId: string;
  projectId: string;
  /** role -> id (U1, B1, ...). */
  ids: Map<string, string>;
  proposal: Proposal;
  lines: ProposalLine[];
  transactions: ProjectTransaction[];
  staging: StagingRow[];
}

const SMALL: LineSpec[] = [
  { role: '1', cls: 'Time', qty: '8', price: '150.00', tax: '240.00' },
  { role: '2', cls: 'Expense', qty: '1', price: '333.33', tax: '0.00' },
  { role: '3', cls: 'Milestone', qty: '1', price: '5000.00', tax: '1000.00' },
];

function largeSpecs(n: number): LineSpec[] {
  return Array.from({ length: n }, (_, i) => ({ role: String(i + 1), cls: 'Time' as const, qty: String((i % 7) + 1), price: '12.34', tax: amount(dec(extend(String((i % 7) + 1), '12.34')).times('0.2')) }));
}

export function buildScenario(name: string, options: { lines?: number } = {}): Scenario {
  const specs = options.lines ? largeSpecs(options.lines) : SMALL;
  const ids = new Map<string, string>();
  const id = (role: string) => {
    let v = ids.get(role);
    if (!v) ids.set(role, (v = deterministicGuid('posting-test', name, role)));
    return v;
  };
  const contractId = id('contract');
  const projectId = id('project');
  const invoiceId = id('invoice');
  const proposalId = `INV-${name}`;
  const tmLine = id('contractLineTM');
  const fpLine = id('contractLineFP');

  const lines: ProposalLine[] = [];
  const transactions: ProjectTransaction[] = [];
  const staging: StagingRow[] = [];
  for (const s of specs) {
    const lineAmount = extend(s.qty, s.price);
    const billedId = id(`B${s.role}`);
    const milestone = s.cls === 'Milestone';
    const unbilledId = milestone ? undefined : id(`U${s.role}`);
    const contractLineId = milestone ? fpLine : tmLine;
    if (unbilledId) {
      const accountingAmount = toAccounting(lineAmount, UNBILLED_RATE);
      transactions.push({
        TransId: unbilledId,
        ProjectId: projectId,
        ContractId: contractId,
        TransType: 'UnbilledSales',
        Classification: s.cls,
        Quantity: s.qty,
        Amount: lineAmount,
        CurrencyCode: 'EUR',
        AccountingAmount: accountingAmount,
        Voucher: transactionVoucher(unbilledId),
        PostingDate: UNBILLED_DATE,
        FullyInvoiced: false,
      });
      staging.push({
        ActualId: unbilledId,
        TransType: 'UnbilledSales',
        TransactionClassification: s.cls,
        BillingType: 'Chargeable',
        Quantity: s.qty,
        UnitPrice: s.price,
        Amount: lineAmount,
        TransactionCurrencyId: 'EUR',
        AccountingDate: UNBILLED_DATE,
        DocumentDate: UNBILLED_DATE,
        ContractId: contractId,
        ContractLineId: contractLineId,
        ProjectId: projectId,
        ImportStatus: 'Imported',
        ImportMessage: 'Posted',
        VoucherNumber: transactionVoucher(unbilledId),
        PostingDate: UNBILLED_DATE,
        AccountingCurrency: 'USD',
        AccountingAmount: accountingAmount,
        ExchangeRate: UNBILLED_RATE,
      });
    }
    const line: ProposalLine = {
      ProposalId: proposalId,
      LineId: billedId,
      ActualId: billedId,
      ProjectId: projectId,
      ContractLineId: contractLineId,
      TransType: s.cls === 'Time' ? 'Hour' : s.cls === 'Expense' ? 'Expense' : 'OnAccount',
      LineProperty: 'Chargeable',
      Quantity: s.qty,
      SalesPrice: s.price,
      LineAmount: lineAmount,
      SalesTaxAmount: s.tax,
      CurrencyCode: 'EUR',
    };
    if (unbilledId) line.UnbilledActualId = unbilledId;
    lines.push(line);
    const row: StagingRow = {
      ActualId: billedId,
      TransType: 'BilledSales',
      TransactionClassification: s.cls,
      BillingType: 'Chargeable',
      Quantity: s.qty,
      UnitPrice: s.price,
      Amount: lineAmount,
      TransactionCurrencyId: 'EUR',
      AccountingDate: '2026-03-15',
      DocumentDate: '2026-03-15',
      ContractId: contractId,
      ContractLineId: contractLineId,
      ProjectId: projectId,
      InvoiceId: invoiceId,
      InvoiceProposalId: proposalId,
      SalesTaxAmount: s.tax,
      ImportStatus: 'Imported',
      ImportMessage: `Imported as a line of invoice proposal ${proposalId}`,
    };
    if (unbilledId) row.UnbilledActualId = unbilledId;
    staging.push(row);
  }
  const total = amount(sum(lines.map((l) => l.LineAmount)));
  const proposal: Proposal = {
    ProposalId: proposalId,
    InvoiceId: invoiceId,
    ContractId: contractId,
    CustomerAccount: 'CUST-001',
    CurrencyCode: 'EUR',
    InvoiceDate: '2026-03-15',
    ExpectedLineCount: lines.length,
    ExpectedAmount: total,
    ImportedLineCount: lines.length,
    ImportedAmount: total,
    Status: 'Open',
  };
  return { name, proposalId, invoiceId, contractId, projectId, ids, proposal, lines, transactions, staging };
}

export async function seedScenario(finance: FinanceStore, sc: Scenario, options: { proposal?: Partial<Proposal>; skipLines?: number } = {}): Promise<void> {
  await finance.exchangeRates.upsertMany(RATES);
  await finance.proposals.upsert({ ...sc.proposal, ...options.proposal });
  await finance.proposalLines.upsertMany(sc.lines.slice(options.skipLines ?? 0));
  await finance.projectTransactions.upsertMany(sc.transactions);
  await finance.staging.upsertMany(sc.staging);
}

/** A Publisher that keeps what it was given, as the broker would (by message id, last wins). */
export class RecordingPublisher implements Publisher {
  readonly sent: { queue: QueueName; message: OutboundMessage }[] = [];
  async publish(queue: QueueName, messages: OutboundMessage[]): Promise<void> {
    for (const message of messages) this.sent.push({ queue, message: JSON.parse(JSON.stringify(message)) as OutboundMessage });
  }
  about(proposalId: string): { queue: QueueName; message: OutboundMessage }[] {
    return this.sent.filter((s) => s.message.correlationId === proposalId);
  }
}

function strip<T extends { etag?: string }>(rows: T[]): Omit<T, 'etag'>[] {
  return rows.map(({ etag: _e, ...rest }) => rest);
}

/**
 * Everything a posting of the scenario's proposal wrote, as JSON with ids replaced by roles, the
 * customer invoice number by <CIV> and the voucher by <V>: equal for two scenarios posted to the
 * same end state.
 */
export async function snapshot(finance: FinanceStore, sequences: SequencePort, publisher: RecordingPublisher, sc: Scenario): Promise<string> {
  const proposal = await finance.proposals.get(sc.proposalId, sc.proposalId);
  const voucher = postingVoucher(sc.proposalId);
  const invoices = await finance.customerInvoices.query(odata`ProposalId eq ${sc.proposalId}`);
  const reservation = await sequences.find(CUSTOMER_INVOICE_SEQUENCE, sc.proposalId);
  const ledger = await finance.ledgerEntries.listPartition(voucher);
  const transactions = (await finance.projectTransactions.listPartition(sc.projectId)).filter((t) => t.ContractId === sc.contractId);
  const staging = await finance.staging.listPartition(sc.contractId);
  const unique = new Map(publisher.about(sc.proposalId).map((s) => [s.message.messageId, s] as const));

  const replacements: [string, string][] = [...sc.ids].flatMap(([role, id]): [string, string][] => [
    [id, `<${role}>`],
    [transactionVoucher(id), `<PJV-${role}>`],
  ]);
  if (reservation) replacements.push([reservation.value, '<CIV>']);
  replacements.push([voucher, '<V>'], [sc.proposalId, '<P>']);
  replacements.sort((a, b) => b[0].length - a[0].length);
  const normal = (value: unknown): string => {
    let text = JSON.stringify(value);
    for (const [from, to] of replacements) text = text.split(from).join(to);
    return text;
  };
  // Rows list in key order, and keys are scenario ids: compare them as sorted, normalized lines.
  const rows = (list: unknown[]) => list.map(normal).sort();
  const messages = [...unique.values()].map((s) => {
    const body = s.message.body as { details?: unknown[]; invoice?: unknown };
    return normal({ queue: s.queue, subject: s.message.subject, invoice: body.invoice, details: rows(body.details ?? []) });
  });
  return [
    `proposal ${proposal ? normal(strip([proposal])[0]) : 'none'}`,
    `reservation ${reservation ? normal({ value: reservation.value, reservedOn: reservation.reservedOn }) : 'none'}`,
    ...rows(strip(invoices)).map((r) => `invoice ${r}`),
    ...rows(strip(ledger).map(({ LineNumber: _n, ...e }) => e)).map((r) => `ledger ${r}`),
    ...rows(strip(transactions)).map((r) => `transaction ${r}`),
    ...rows(strip(staging)).map((r) => `staging ${r}`),
    ...messages.sort().map((m) => `message ${m}`),
  ].join('\n');
}
