import { describe, expect, it } from 'vitest';
import type { ExchangeRate, Proposal, ProposalLine, StagingRow } from '../../../shared/finance/records';
import { ledgerEntrySchema, projectTransactionSchema, proposalLineSchema } from '../../../shared/finance/records';
import {
  applyLines,
  decideBilled,
  isComplete,
  JOURNAL_MAX_ROWS,
  journalVoucher,
  journalVoucherPrefix,
  ledgerLineCount,
  needsImport,
  planJournals,
  orderForImport,
  postTransaction,
  proposalKey,
  reconcile,
  reconcileFromLines,
  transactionVoucher,
  WaitingReason,
} from '../../../shared/finance/rules/import';
import { deterministicGuid, shortHash } from '../../../shared/core/ids';
import { amount, sum } from '../../../shared/core/money';
import { accountingDetail } from '../../../shared/messages';

const id = (name: string) => deterministicGuid('fo-import-test', name);

const rates: ExchangeRate[] = [
  { FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.084500', ValidFrom: '2026-01-01' },
  { FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.102300', ValidFrom: '2026-03-01' },
];
const options = { accountingCurrency: 'USD', rates };

function row(name: string, overrides: Partial<StagingRow> = {}): StagingRow {
  return {
    ActualId: id(name),
    TransType: 'Cost',
    TransactionClassification: 'Time',
    BillingType: 'Chargeable',
    Quantity: '8',
    UnitPrice: '100.00',
    Amount: '800.00',
    TransactionCurrencyId: 'USD',
    AccountingDate: '2026-02-28',
    DocumentDate: '2026-02-27',
    ContractId: id('contract'),
    ContractLineId: id('contract-line'),
    ProjectId: id('project'),
    ImportStatus: 'Pending',
    ...overrides,
  };
}

function posted(r: StagingRow, opts: Parameters<typeof postTransaction>[1] = options) {
  const result = postTransaction(r, opts);
  if (result.kind !== 'posted') throw new Error(`expected posted, got ${result.reason}`);
  for (const entry of result.ledger) ledgerEntrySchema.parse(entry);
  projectTransactionSchema.parse(result.transaction);
  accountingDetail.parse(result.accounting);
  return result;
}

const balance = (entries: { Amount: string }[]) => sum(entries.map((e) => e.Amount)).toFixed(2);
const accountsAndAmounts = (entries: { MainAccount: string; Amount: string; LineNumber: number }[]) =>
  entries.map((e) => [e.LineNumber, e.MainAccount, e.Amount]);

describe('postTransaction', () => {
  it('cost: debit ProjectCost, credit CostOffset, one voucher that balances', () => {
    const r = row('cost');
    const result = posted(r);
    const voucher = `PJV-${shortHash(10, id('cost'))}`;
    expect(accountsAndAmounts(result.ledger)).toEqual([
      [1, 'ProjectCost', '800.00'],
      [2, 'CostOffset', '-800.00'],
    ]);
    expect(balance(result.ledger)).toBe('0.00');
    expect(result.ledger.every((e) => e.Voucher === voucher && e.PostingDate === '2026-02-28' && e.ProjectId === id('project') && e.Reference === id('cost'))).toBe(true);
    expect(result.transaction).toEqual({
      TransId: id('cost'),
      ProjectId: id('project'),
      ContractId: id('contract'),
      TransType: 'Cost',
      Classification: 'Time',
      Quantity: '8',
      Amount: '800.00',
      CurrencyCode: 'USD',
      AccountingAmount: '800.00',
      Voucher: voucher,
      PostingDate: '2026-02-28',
      FullyInvoiced: false,
    });
    expect(result.accounting).toEqual({
      actualId: id('cost'),
      contractId: id('contract'),
      voucher,
      postingDate: '2026-02-28',
      accountingCurrency: 'USD',
      accountingAmount: '800.00',
      exchangeRate: '1.000000',
    });
    expect(result.rowUpdate).toEqual({
      ImportStatus: 'Imported',
      ImportMessage: `Posted as project transaction with voucher ${voucher} on 2026-02-28`,
      VoucherNumber: voucher,
      PostingDate: '2026-02-28',
      AccountingCurrency: 'USD',
      AccountingAmount: '800.00',
      ExchangeRate: '1.000000',
    });
  });

  it('unbilled sales: debit WIPSalesValue, credit AccruedRevenue', () => {
    const result = posted(row('unbilled', { TransType: 'UnbilledSales', Amount: '1600.00', UnitPrice: '200.00' }));
    expect(accountsAndAmounts(result.ledger)).toEqual([
      [1, 'WIPSalesValue', '1600.00'],
      [2, 'AccruedRevenue', '-1600.00'],
    ]);
    expect(result.transaction.TransType).toBe('UnbilledSales');
    expect(balance(result.ledger)).toBe('0.00');
  });

  it('an adjustment reversal (negative unbilled) posts the same accounts with negative signs, on its own voucher', () => {
    const original = posted(row('unbilled', { TransType: 'UnbilledSales', Amount: '1600.00' }));
    const reversal = posted(
      row('reversal', {
        TransType: 'UnbilledSales',
        AdjustmentStatus: 'Unadjustable',
        Quantity: '-8',
        Amount: '-1600.00',
        ReversedActualId: id('unbilled'),
      }),
    );
    expect(accountsAndAmounts(reversal.ledger)).toEqual([
      [1, 'WIPSalesValue', '-1600.00'],
      [2, 'AccruedRevenue', '1600.00'],
    ]);
    expect(balance(reversal.ledger)).toBe('0.00');
    expect(reversal.transaction.Voucher).not.toBe(original.transaction.Voucher);
    expect(balance([...original.ledger, ...reversal.ledger])).toBe('0.00');
    // together they leave nothing on any account
    for (const account of ['WIPSalesValue', 'AccruedRevenue']) {
      expect(balance([...original.ledger, ...reversal.ledger].filter((e) => e.MainAccount === account))).toBe('0.00');
    }
  });

  it('a negative cost (cost adjustment reversal) credits ProjectCost', () => {
    const result = posted(row('cost-reversal', { Amount: '-800.00', Quantity: '-8', AdjustmentStatus: 'Unadjustable' }));
    expect(accountsAndAmounts(result.ledger)).toEqual([
      [1, 'ProjectCost', '-800.00'],
      [2, 'CostOffset', '800.00'],
    ]);
  });

  it('EUR to USD: converts on the row date with rounding and still balances', () => {
    const result = posted(row('eur', { TransType: 'UnbilledSales', TransactionCurrencyId: 'EUR', Quantity: '3', UnitPrice: '111.11', Amount: '333.33' }));
    // 333.33 x 1.0845 = 361.496385 -> 361.50 (rate valid from 2026-01-01; the row is dated 2026-02-28)
    expect(result.transaction.AccountingAmount).toBe('361.50');
    expect(result.accounting).toMatchObject({ accountingCurrency: 'USD', accountingAmount: '361.50', exchangeRate: '1.084500' });
    expect(accountsAndAmounts(result.ledger)).toEqual([
      [1, 'WIPSalesValue', '361.50'],
      [2, 'AccruedRevenue', '-361.50'],
    ]);
    expect(balance(result.ledger)).toBe('0.00');
    expect(result.ledger[0]!.Text).toBe('UnbilledSales Time 333.33 EUR');
  });

  it('a given posting date picks the posting date and its rate', () => {
    const result = posted(row('eur2', { TransactionCurrencyId: 'EUR', Amount: '100.01' }), { ...options, postingDate: '2026-03-02', importedOn: '2026-03-02T08:00:00.000Z' });
    expect(result.transaction.PostingDate).toBe('2026-03-02');
    expect(result.accounting).toMatchObject({ exchangeRate: '1.102300', accountingAmount: '110.24', postingDate: '2026-03-02' }); // 110.241023
    expect(result.rowUpdate.ImportedOn).toBe('2026-03-02T08:00:00.000Z');
    expect(balance(result.ledger)).toBe('0.00');
  });

  it('rounding of many odd conversions never unbalances a voucher', () => {
    for (let cents = -2000; cents <= 2000; cents += 37) {
      const value = (cents / 100).toFixed(2);
      const result = posted(row(`odd-${cents}`, { TransactionCurrencyId: 'EUR', Amount: value }));
      expect(balance(result.ledger)).toBe('0.00');
    }
  });

  it('no rate: error naming currencies and date, the row stays in staging as Error', () => {
    const result = postTransaction(row('norate', { TransactionCurrencyId: 'EUR', AccountingDate: '2025-12-31' }), options);
    expect(result).toEqual({
      kind: 'error',
      reason: 'No exchange rate from EUR to USD on or before 2025-12-31',
      rowUpdate: { ImportStatus: 'Error', ImportMessage: 'No exchange rate from EUR to USD on or before 2025-12-31' },
    });
    const gbp = postTransaction(row('gbp', { TransactionCurrencyId: 'GBP' }), { ...options, postingDate: '2026-03-01' });
    expect(gbp).toMatchObject({ kind: 'error', reason: 'No exchange rate from GBP to USD on or before 2026-03-01' });
  });

  it('a zero amount posts the transaction with no ledger lines', () => {
    const result = posted(row('zero', { TransType: 'UnbilledSales', BillingType: 'NonChargeable', Amount: '0.00' }));
    expect(result.ledger).toEqual([]);
    expect(result.transaction.AccountingAmount).toBe('0.00');
  });

  it('is deterministic: a retried run creates the very same voucher and records', () => {
    const r = row('retry', { TransType: 'UnbilledSales', TransactionCurrencyId: 'EUR', Amount: '1234.56' });
    expect(postTransaction(r, options)).toEqual(postTransaction({ ...r, ImportStatus: 'Error' }, options));
    expect(transactionVoucher(id('retry'))).toBe(`PJV-${shortHash(10, id('retry'))}`);
    expect(transactionVoucher(id('retry'))).toMatch(/^PJV-[0-9A-F]{10}$/);
    expect(transactionVoucher(id('retry'))).not.toBe(transactionVoucher(id('other')));
  });

  it('a billed row is not a project transaction', () => {
    expect(() => postTransaction(row('billed', { TransType: 'BilledSales' }), options)).toThrow(/becomes a proposal line/);
  });
});

const proposal = (overrides: Partial<Proposal> = {}): Proposal => ({
  ProposalId: 'INV-01001',
  InvoiceId: id('invoice'),
  ContractId: id('contract'),
  CustomerAccount: 'US-001',
  CurrencyCode: 'USD',
  InvoiceDate: '2026-03-01',
  ExpectedLineCount: 2,
  ExpectedAmount: '2600.00',
  ImportedLineCount: 0,
  ImportedAmount: '0.00',
  Status: 'Open',
  ...overrides,
});

const billed = (name: string, overrides: Partial<StagingRow> = {}) =>
  row(name, {
    TransType: 'BilledSales',
    Quantity: '8',
    UnitPrice: '200.00',
    Amount: '1600.00',
    InvoiceId: id('invoice'),
    UnbilledActualId: id('unbilled'),
    SalesTaxAmount: '304.00',
    ...overrides,
  });

describe('decideBilled', () => {
  const nothingPosted = () => false;
  const allPosted = () => true;

  it('waits while the proposal is not synchronized (checked before the transaction)', () => {
    expect(decideBilled(billed('b'), { unbilledPosted: nothingPosted })).toEqual({
      kind: 'waiting',
      reason: 'Invoice proposal not synchronized yet',
      rowUpdate: { ImportStatus: 'Waiting', ImportMessage: 'Invoice proposal not synchronized yet' },
    });
  });

  it('waits while the unbilled transaction it bills is not posted', () => {
    const asked: string[] = [];
    const decision = decideBilled(billed('b'), {
      proposal: proposal(),
      unbilledPosted: (actualId) => {
        asked.push(actualId);
        return false;
      },
    });
    expect(decision).toEqual({
      kind: 'waiting',
      reason: "Project transaction hasn't been posted yet",
      rowUpdate: { ImportStatus: 'Waiting', ImportMessage: "Project transaction hasn't been posted yet" },
    });
    expect(asked).toEqual([id('unbilled')]);
    expect(WaitingReason.transactionNotPosted).toBe("Project transaction hasn't been posted yet");
  });

  it('ready: the proposal line, and the row imported with its proposal id', () => {
    const decision = decideBilled(billed('b'), { proposal: proposal(), unbilledPosted: allPosted, importedOn: '2026-03-01T12:00:00.000Z' });
    expect(decision).toEqual({
      kind: 'line',
      line: {
        ProposalId: 'INV-01001',
        LineId: id('b'),
        ActualId: id('b'),
        UnbilledActualId: id('unbilled'),
        ProjectId: id('project'),
        ContractLineId: id('contract-line'),
        TransType: 'Hour',
        LineProperty: 'Chargeable',
        Quantity: '8',
        SalesPrice: '200.00',
        LineAmount: '1600.00',
        SalesTaxAmount: '304.00',
        CurrencyCode: 'USD',
      },
      rowUpdate: {
        ImportStatus: 'Imported',
        ImportMessage: 'Imported as a line of invoice proposal INV-01001',
        InvoiceProposalId: 'INV-01001',
        ImportedOn: '2026-03-01T12:00:00.000Z',
      },
    });
    if (decision.kind === 'line') proposalLineSchema.parse(decision.line);
  });

  it('a milestone (no unbilled actual) needs only the proposal; OnAccount, no tax means 0.00', () => {
    const r = billed('m', { TransactionClassification: 'Milestone', Quantity: '1', UnitPrice: '1000.00', Amount: '1000.00', UnbilledActualId: undefined, SalesTaxAmount: undefined });
    const decision = decideBilled(r, { proposal: proposal(), unbilledPosted: nothingPosted });
    expect(decision.kind).toBe('line');
    if (decision.kind !== 'line') return;
    expect(decision.line.TransType).toBe('OnAccount');
    expect(decision.line.SalesTaxAmount).toBe('0.00');
    expect(decision.line).not.toHaveProperty('UnbilledActualId');
  });

  it('finds the proposal by InvoiceProposalId when set, else by InvoiceId', () => {
    expect(proposalKey(billed('b', { InvoiceProposalId: 'INV-01001' }))).toEqual({ by: 'ProposalId', proposalId: 'INV-01001' });
    expect(proposalKey(billed('b'))).toEqual({ by: 'InvoiceId', invoiceId: id('invoice') });
    expect(proposalKey(billed('b', { InvoiceId: undefined }))).toEqual({ by: 'none' });
    expect(decideBilled(billed('b', { InvoiceProposalId: 'INV-01001', InvoiceId: undefined }), { proposal: proposal(), unbilledPosted: allPosted }).kind).toBe('line');
    expect(() => decideBilled(billed('b'), { proposal: proposal({ InvoiceId: id('other') }), unbilledPosted: allPosted })).toThrow(/is not the proposal/);
    // Named by id, both the row and the proposal naming the invoice: they must agree.
    expect(decideBilled(billed('b', { InvoiceProposalId: 'INV-01001' }), { proposal: proposal(), unbilledPosted: allPosted }).kind).toBe('line');
    expect(decideBilled(billed('b', { InvoiceProposalId: 'INV-01001' }), { proposal: proposal({ InvoiceId: id('other') }), unbilledPosted: allPosted })).toMatchObject({
      kind: 'error',
      reason: expect.stringMatching(new RegExp(`^Billed sales row ${id('b')} of invoice ${id('invoice')} names invoice proposal INV-01001, but that proposal belongs to invoice ${id('other')}`)),
      rowUpdate: { ImportStatus: 'Error' },
    });
  });

  it('errors: no invoice reference, posted proposal, other currency', () => {
    expect(decideBilled(billed('b', { InvoiceId: undefined }), { unbilledPosted: allPosted })).toMatchObject({
      kind: 'error',
      reason: `Billed sales row ${id('b')} names neither an invoice proposal nor an invoice`,
      rowUpdate: { ImportStatus: 'Error' },
    });
    expect(decideBilled(billed('b'), { proposal: proposal({ Status: 'Posted', CustomerInvoiceId: 'CIV-000007' }), unbilledPosted: allPosted })).toMatchObject({
      kind: 'error',
      reason: `Invoice proposal INV-01001 is already posted as customer invoice CIV-000007; billed sales row ${id('b')} cannot be added to it`,
    });
    expect(decideBilled(billed('b', { TransactionCurrencyId: 'EUR' }), { proposal: proposal(), unbilledPosted: allPosted })).toMatchObject({
      kind: 'error',
      reason: `Billed sales row ${id('b')} is in EUR but invoice proposal INV-01001 is in USD`,
    });
  });

  it('throws for a row that is not billed sales', () => {
    expect(() => decideBilled(row('c'), { proposal: proposal(), unbilledPosted: allPosted })).toThrow(/only billed sales rows/);
  });
});

describe('ordering and a whole run', () => {
  it('puts cost and unbilled rows before billed rows, otherwise keeping the order', () => {
    const rows = [
      billed('b1'),
      row('c1'),
      billed('b2'),
      row('u1', { TransType: 'UnbilledSales' }),
      row('c2'),
    ];
    const before = rows.map((r) => r.ActualId);
    expect(orderForImport(rows).map((r) => r.ActualId)).toEqual([id('c1'), id('u1'), id('c2'), id('b1'), id('b2')]);
    expect(rows.map((r) => r.ActualId)).toEqual(before); // not mutated
  });

  it('a new unbilled row and its billed twin complete in the same run', () => {
    const rows = [billed('b', { UnbilledActualId: id('u') }), row('u', { TransType: 'UnbilledSales', Amount: '1600.00' })].filter(needsImport);
    const postedIds = new Set<string>(); // from foProjectTransactions: empty
    const lines: ProposalLine[] = [];
    for (const r of orderForImport(rows)) {
      if (r.TransType === 'BilledSales') {
        const decision = decideBilled(r, { proposal: proposal(), unbilledPosted: (a) => postedIds.has(a) });
        if (decision.kind === 'line') lines.push(decision.line);
      } else {
        const result = postTransaction(r, options);
        if (result.kind === 'posted') postedIds.add(result.transaction.TransId);
      }
    }
    expect(lines.map((l) => l.ActualId)).toEqual([id('b')]);
  });

  it('needsImport: everything but Imported', () => {
    expect(['Pending', 'Waiting', 'Error', 'Imported'].map((s) => needsImport({ ImportStatus: s as StagingRow['ImportStatus'] }))).toEqual([true, true, true, false]);
  });
});

describe('journals: planJournals, journal vouchers, postTransaction with a slot', () => {
  const numbered = () => {
    let n = 0;
    return () => journalVoucher('PJV-20240401080000-3FA9C21B', ++n);
  };

  it('voucher numbers: PJV-<yyyyMMddHHmmss>-<8 hex of the run id>-<nnnn>', () => {
    const prefix = journalVoucherPrefix(new Date('2024-04-01T08:00:59.123Z'), '3fa9c21b-77aa-4bcd-9e00-112233445566');
    expect(prefix).toBe('PJV-20240401080059-3FA9C21B');
    expect(journalVoucher(prefix, 1)).toBe('PJV-20240401080059-3FA9C21B-0001');
    expect(journalVoucher(prefix, 12345)).toBe('PJV-20240401080059-3FA9C21B-12345');
    expect(journalVoucherPrefix(new Date('2024-04-01T08:00:59Z'), 'f'.repeat(32))).not.toBe(prefix);
    expect(() => journalVoucherPrefix(new Date(), 'xyz')).toThrow(/8 hex/);
  });

  it('at most 50 rows per voucher, two lines per row from line 1, zero-amount rows taking none', () => {
    const rows = Array.from({ length: 120 }, (_, i) => row(`p${i}`, { Amount: i === 3 || i === 60 ? '0.00' : amount(10 + i) }));
    const plan = planJournals(rows, numbered());
    expect(plan).toHaveLength(120);
    const byVoucher = new Map<string, typeof plan>();
    for (const r of plan) byVoucher.set(r.voucher, [...(byVoucher.get(r.voucher) ?? []), r]);
    expect([...byVoucher.values()].map((v) => v.length)).toEqual([JOURNAL_MAX_ROWS, JOURNAL_MAX_ROWS, 20]);
    expect([...byVoucher.keys()]).toEqual(['PJV-20240401080000-3FA9C21B-0001', 'PJV-20240401080000-3FA9C21B-0002', 'PJV-20240401080000-3FA9C21B-0003']);
    expect(plan.slice(0, 5).map((r) => [r.firstLine, r.lineCount])).toEqual([
      [1, 2],
      [3, 2],
      [5, 2],
      [7, 0],
      [7, 2],
    ]);
    expect(plan[50]).toMatchObject({ firstLine: 1, lineCount: 2 });
    expect(plan[60]).toMatchObject({ firstLine: 21, lineCount: 0 });
    // lines never overlap and never pass 100 in a voucher
    for (const v of byVoucher.values()) {
      const lines = v.flatMap((r) => Array.from({ length: r.lineCount }, (_, i) => r.firstLine + i));
      expect(new Set(lines).size).toBe(lines.length);
      expect(Math.max(...lines)).toBeLessThanOrEqual(100);
    }
    expect(ledgerLineCount({ Amount: '-0.00' })).toBe(0);
    expect(planJournals([], numbered())).toEqual([]);
    expect(() => planJournals(rows, numbered(), 51)).toThrow(/1 to 50 rows/);
    expect(planJournals(rows.slice(0, 5), numbered(), 2).map((r) => r.voucher.slice(-4))).toEqual(['0001', '0001', '0002', '0002', '0003']);
  });

  it('postTransaction with a slot: the row balances on its own, on its lines, and everything names the journal voucher', () => {
    const voucher = 'PJV-20240401080000-3FA9C21B-0007';
    const result = postTransaction(row('slot', { TransType: 'UnbilledSales', TransactionCurrencyId: 'EUR', Amount: '-1234.56' }), options, { voucher, firstLine: 41 });
    if (result.kind !== 'posted') throw new Error(result.reason);
    expect(accountsAndAmounts(result.ledger)).toEqual([
      [41, 'WIPSalesValue', '-1338.88'],
      [42, 'AccruedRevenue', '1338.88'],
    ]);
    expect(balance(result.ledger)).toBe('0.00');
    expect(result.ledger.every((e) => e.Voucher === voucher && e.Reference === id('slot') && e.ProjectId === id('project'))).toBe(true);
    expect(result.transaction.Voucher).toBe(voucher);
    expect(result.accounting.voucher).toBe(voucher);
    expect(result.rowUpdate).toMatchObject({ VoucherNumber: voucher, ImportMessage: `Posted as project transaction with voucher ${voucher} on 2026-02-28` });
    // the same row and slot give the very same records (a rerun)
    expect(postTransaction(row('slot', { TransType: 'UnbilledSales', TransactionCurrencyId: 'EUR', Amount: '-1234.56' }), options, { voucher, firstLine: 41 })).toEqual(result);
    const zero = postTransaction(row('slot0', { Amount: '0.00' }), options, { voucher, firstLine: 43 });
    expect(zero).toMatchObject({ kind: 'posted', ledger: [], transaction: { Voucher: voucher, AccountingAmount: '0.00' } });
    expect(() => postTransaction(row('bad'), options, { voucher, firstLine: 0 })).toThrow(/starts at line 0/);
  });
});

describe('applyLines, reconcileFromLines, isComplete', () => {
  const line = (name: string, lineAmount: string): ProposalLine => ({
    ProposalId: 'INV-01001',
    LineId: id(name),
    ActualId: id(name),
    ProjectId: id('project'),
    ContractLineId: id('contract-line'),
    TransType: 'Hour',
    LineProperty: 'Chargeable',
    Quantity: '1',
    SalesPrice: lineAmount,
    LineAmount: lineAmount,
    SalesTaxAmount: '0.00',
    CurrencyCode: 'USD',
  });

  it('adds counts and amounts with decimals, and is complete only when both match', () => {
    let p = proposal({ ExpectedLineCount: 3, ExpectedAmount: '0.30' });
    expect(isComplete(p)).toBe(false);
    p = applyLines(p, [line('a', '0.10'), line('b', '0.20')]);
    expect(p).toMatchObject({ ImportedLineCount: 2, ImportedAmount: '0.30' });
    expect(isComplete(p)).toBe(false); // amount reached, one line missing
    p = applyLines(p, [line('c', '0.00')]);
    expect(p).toMatchObject({ ImportedLineCount: 3, ImportedAmount: '0.30' });
    expect(isComplete(p)).toBe(true);
    expect(isComplete({ ...p, ImportedAmount: '0.31' })).toBe(false);
    expect(isComplete({ ...p, ImportedAmount: '0.3' })).toBe(true);
  });

  it('negative (credit) lines subtract', () => {
    const p = applyLines(proposal({ ExpectedLineCount: 2, ExpectedAmount: '-1500.00' }), [line('a', '-1600.00'), line('b', '100.00')]);
    expect(p).toMatchObject({ ImportedLineCount: 2, ImportedAmount: '-1500.00' });
    expect(isComplete(p)).toBe(true);
  });

  it('keeps lines counted before the header arrived', () => {
    const p = applyLines(proposal({ ImportedLineCount: 1, ImportedAmount: '1000.00' }), [line('b', '1600.00')]);
    expect(p).toMatchObject({ ImportedLineCount: 2, ImportedAmount: '2600.00' });
    expect(isComplete(p)).toBe(true);
  });

  it('reconcileFromLines recounts from stored lines, so overlapping runs cannot double count', () => {
    const stored = [line('a', '1000.00'), line('b', '1600.00'), line('b', '1600.00')];
    const p = reconcileFromLines(proposal({ ImportedLineCount: 4, ImportedAmount: '5200.00' }), stored);
    expect(p).toMatchObject({ ImportedLineCount: 2, ImportedAmount: '2600.00' });
    expect(isComplete(p)).toBe(true);
  });

  it('refuses lines of another proposal', () => {
    expect(() => applyLines(proposal(), [{ ...line('x', '1.00'), ProposalId: 'INV-2' }])).toThrow(/belongs to proposal INV-2/);
  });

  it('reconcile shows expected versus imported', () => {
    expect(reconcile(proposal({ ImportedLineCount: 1, ImportedAmount: '1000' }))).toEqual({
      proposalId: 'INV-01001',
      expectedLineCount: 2,
      importedLineCount: 1,
      missingLineCount: 1,
      expectedAmount: '2600.00',
      importedAmount: '1000.00',
      missingAmount: '1600.00',
      taxChecked: false,
      complete: false,
    });
  });
});
