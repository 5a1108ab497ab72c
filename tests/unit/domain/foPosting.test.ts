import { describe, expect, it } from 'vitest';
import type { ExchangeRate, ProjectTransaction, Proposal, ProposalLine } from '../../../shared/finance/records';
import { customerInvoiceSchema, ledgerEntrySchema } from '../../../shared/finance/records';
import {
  billedRowAccounting,
  formatCustomerInvoiceId,
  parseCustomerInvoiceId,
  planPosting,
  postingVoucher,
  type PostingInput,
} from '../../../shared/finance/rules/posting';
import { deterministicGuid, shortHash } from '../../../shared/core/ids';
import { negate, sum } from '../../../shared/core/money';
import { toAccounting } from '../../../shared/finance/rules/exchange';
import { accountingDetail } from '../../../shared/messages';

const id = (name: string) => deterministicGuid('fo-posting-test', name);
const balance = (entries: { Amount: string }[]) => sum(entries.map((e) => e.Amount)).toFixed(2);

const rates: ExchangeRate[] = [
  { FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.084500', ValidFrom: '2026-01-01' },
  { FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.102300', ValidFrom: '2026-03-01' },
];

function proposal(currency: string, overrides: Partial<Proposal> = {}): Proposal {
  return {
    ProposalId: 'INV-01001',
    InvoiceId: id('invoice'),
    ContractId: id('contract'),
    CustomerAccount: 'US-001',
    CurrencyCode: currency,
    InvoiceDate: '2026-03-01',
    ExpectedLineCount: 4,
    ExpectedAmount: '2610.05',
    ImportedLineCount: 4,
    ImportedAmount: '2610.05',
    Status: 'Open',
    ...overrides,
  };
}

function line(name: string, currency: string, fields: Partial<ProposalLine>): ProposalLine {
  return {
    ProposalId: 'INV-01001',
    LineId: id(name),
    ActualId: id(name),
    ProjectId: id('project'),
    ContractLineId: id('tm-line'),
    TransType: 'Hour',
    LineProperty: 'Chargeable',
    Quantity: '1',
    SalesPrice: '0.00',
    LineAmount: '0.00',
    SalesTaxAmount: '0.00',
    CurrencyCode: currency,
    ...fields,
  };
}

function transaction(name: string, currency: string, amountValue: string, accounting: string, overrides: Partial<ProjectTransaction> = {}): ProjectTransaction {
  return {
    TransId: id(name),
    ProjectId: id('project'),
    ContractId: id('contract'),
    TransType: 'UnbilledSales',
    Classification: 'Time',
    Quantity: '1',
    Amount: amountValue,
    CurrencyCode: currency,
    AccountingAmount: accounting,
    Voucher: `PJV-${name}`,
    PostingDate: '2026-02-20',
    FullyInvoiced: false,
    ...overrides,
  };
}

/**
 * An EUR invoice with T&M lines (time with tax, expense without tax, a non-chargeable zero line)
 * and a milestone line with tax, posted in USD at 1.1023; it needs a cent of rounding.
 */
function eurInput(overrides: Partial<PostingInput> = {}): PostingInput {
  return {
    proposal: proposal('EUR'),
    lines: [
      line('time', 'EUR', { UnbilledActualId: id('u-time'), Quantity: '8', SalesPrice: '200.00', LineAmount: '1600.00', SalesTaxAmount: '304.00' }),
      line('expense', 'EUR', { UnbilledActualId: id('u-expense'), TransType: 'Expense', SalesPrice: '10.05', LineAmount: '10.05' }),
      line('milestone', 'EUR', { TransType: 'OnAccount', ContractLineId: id('fp-line'), SalesPrice: '1000.00', LineAmount: '1000.00', SalesTaxAmount: '190.00' }),
      line('nc', 'EUR', { UnbilledActualId: id('u-nc'), LineProperty: 'NonChargeable', Quantity: '2', SalesPrice: '200.00' }),
    ],
    unbilledTransactions: [
      transaction('u-time', 'EUR', '1600.00', '1735.20'),
      transaction('u-expense', 'EUR', '10.05', '10.90', { Classification: 'Expense' }),
      transaction('u-nc', 'EUR', '0.00', '0.00'),
    ],
    rates,
    accountingCurrency: 'USD',
    postingDate: '2026-03-01',
    customerInvoiceId: 'CIV-000001',
    ...overrides,
  };
}

function planned(input: PostingInput) {
  const plan = planPosting(input);
  if (!plan.ok) throw new Error(`expected a plan, got: ${plan.reason}`);
  for (const entry of plan.ledger) ledgerEntrySchema.parse(entry);
  customerInvoiceSchema.parse(plan.customerInvoice);
  for (const detail of plan.accounting) accountingDetail.parse(detail);
  return plan;
}

describe('formatCustomerInvoiceId', () => {
  it('numbers customer invoices CIV-000001 onwards', () => {
    expect(formatCustomerInvoiceId(1)).toBe('CIV-000001');
    expect(formatCustomerInvoiceId(42)).toBe('CIV-000042');
    expect(formatCustomerInvoiceId(999999)).toBe('CIV-999999');
    expect(formatCustomerInvoiceId(1000000)).toBe('CIV-1000000');
    expect(() => formatCustomerInvoiceId(0)).toThrow(RangeError);
    expect(() => formatCustomerInvoiceId(1.5)).toThrow(/positive integer/);
    expect(parseCustomerInvoiceId('CIV-000042')).toBe(42);
    expect(parseCustomerInvoiceId('INV-1')).toBeUndefined();
  });
});

describe('planPosting', () => {
  it('same currency: T&M and milestone lines, tax on some lines, exact voucher', () => {
    const input: PostingInput = {
      proposal: proposal('USD', { ExpectedLineCount: 3, ExpectedAmount: '3600.00' }),
      lines: [
        line('time', 'USD', { UnbilledActualId: id('u-time'), Quantity: '8', SalesPrice: '200.00', LineAmount: '1600.00', SalesTaxAmount: '160.00' }),
        line('expense', 'USD', { UnbilledActualId: id('u-expense'), TransType: 'Expense', SalesPrice: '1000.00', LineAmount: '1000.00' }),
        line('milestone', 'USD', { TransType: 'OnAccount', SalesPrice: '1000.00', LineAmount: '1000.00', SalesTaxAmount: '100.00' }),
      ],
      unbilledTransactions: [transaction('u-time', 'USD', '1600.00', '1600.00'), transaction('u-expense', 'USD', '1000.00', '1000.00')],
      rates: [],
      accountingCurrency: 'USD',
      postingDate: '2026-03-05',
      customerInvoiceId: 'CIV-000007',
    };
    const plan = planned(input);
    const voucher = `PIV-${shortHash(10, 'INV-01001')}`;
    // Summarized: one entry per (MainAccount, ProjectId), one customer balance and one sales tax entry.
    expect(plan.ledger.map((e) => [e.LineNumber, e.MainAccount, e.Amount, e.ProjectId, e.Reference])).toEqual([
      [1, 'AccruedRevenue', '2600.00', id('project'), 'CIV-000007'],
      [2, 'WIPSalesValue', '-2600.00', id('project'), 'CIV-000007'],
      [3, 'CustomerBalance', '3860.00', undefined, 'CIV-000007'],
      [4, 'Revenue', '-3600.00', id('project'), 'CIV-000007'],
      [5, 'SalesTaxPayable', '-260.00', undefined, 'CIV-000007'],
    ]);
    expect(plan.ledger.map((e) => e.Text)).toEqual([
      'Reverse accrued revenue of 2 unbilled transactions invoiced on CIV-000007 (proposal INV-01001)',
      'Reverse accrued revenue of 2 unbilled transactions invoiced on CIV-000007 (proposal INV-01001)',
      'Customer invoice CIV-000007 (proposal INV-01001) 3860.00 USD, account US-001',
      'Revenue of 3 lines (Hour 1, Expense 1, OnAccount 1) 3600.00 USD on CIV-000007 (proposal INV-01001)',
      'Sales tax 260.00 USD on CIV-000007 (proposal INV-01001)',
    ]);
    expect(plan.ledger.every((e) => e.Voucher === voucher && e.PostingDate === '2026-03-05')).toBe(true);
    expect(balance(plan.ledger)).toBe('0.00');
    expect(plan.customerInvoice).toEqual({
      InvoiceId: 'CIV-000007',
      ProposalId: 'INV-01001',
      CustomerAccount: 'US-001',
      InvoiceDate: '2026-03-05',
      CurrencyCode: 'USD',
      InvoiceAmount: '3600.00',
      SalesTaxAmount: '260.00',
      TotalAmount: '3860.00',
      AccountingAmount: '3860.00',
      Voucher: voucher,
    });
    expect(plan.proposalUpdate).toEqual({ Status: 'Posted', CustomerInvoiceId: 'CIV-000007', Voucher: voucher, PostedOn: '2026-03-05T00:00:00.000Z' });
    expect(plan.transactionsInvoiced).toEqual([
      { ...input.unbilledTransactions[0], FullyInvoiced: true, CustomerInvoiceId: 'CIV-000007' },
      { ...input.unbilledTransactions[1], FullyInvoiced: true, CustomerInvoiceId: 'CIV-000007' },
    ]);
    expect(plan.accounting).toEqual([
      { actualId: id('time'), contractId: id('contract'), voucher, postingDate: '2026-03-05', accountingCurrency: 'USD', accountingAmount: '1600.00', exchangeRate: '1.000000', salesTaxAmount: '160.00' },
      { actualId: id('expense'), contractId: id('contract'), voucher, postingDate: '2026-03-05', accountingCurrency: 'USD', accountingAmount: '1000.00', exchangeRate: '1.000000', salesTaxAmount: '0.00' },
      { actualId: id('milestone'), contractId: id('contract'), voucher, postingDate: '2026-03-05', accountingCurrency: 'USD', accountingAmount: '1000.00', exchangeRate: '1.000000', salesTaxAmount: '100.00' },
    ]);
  });

  it('EUR to USD: converted voucher balances exactly, rounding cent on the largest revenue line', () => {
    const plan = planned(eurInput());
    // total 2610.05 + tax 494.00 = 3104.05 EUR -> 3421.59 USD; tax 494.00 -> 544.54;
    // lines 1763.68 + 11.08 + 1102.30 = 2877.06 but 3421.59 - 544.54 = 2877.05: -0.01 on the 1600.00 line.
    // Summarized per project: 1735.20 + 10.90 (+ the zero one) reversed, revenue -1763.67 - 11.08 - 1102.30.
    expect(plan.ledger.map((e) => [e.LineNumber, e.MainAccount, e.Amount])).toEqual([
      [1, 'AccruedRevenue', '1746.10'],
      [2, 'WIPSalesValue', '-1746.10'],
      [3, 'CustomerBalance', '3421.59'],
      [4, 'Revenue', '-2877.05'],
      [5, 'SalesTaxPayable', '-544.54'],
    ]);
    expect(balance(plan.ledger)).toBe('0.00');
    expect(plan.customerInvoice).toMatchObject({
      CurrencyCode: 'EUR',
      InvoiceAmount: '2610.05',
      SalesTaxAmount: '494.00',
      TotalAmount: '3104.05',
      AccountingAmount: '3421.59',
    });
    expect(plan.accounting.map((d) => [d.actualId, d.accountingAmount, d.exchangeRate, d.salesTaxAmount])).toEqual([
      [id('time'), '1763.67', '1.102300', '304.00'],
      [id('expense'), '11.08', '1.102300', '0.00'],
      [id('milestone'), '1102.30', '1.102300', '190.00'],
      [id('nc'), '0.00', '1.102300', '0.00'],
    ]);
    // every invoiced unbilled transaction, including the zero one, is marked fully invoiced
    expect(plan.transactionsInvoiced.map((t) => [t.TransId, t.FullyInvoiced, t.CustomerInvoiceId])).toEqual([
      [id('u-time'), true, 'CIV-000001'],
      [id('u-expense'), true, 'CIV-000001'],
      [id('u-nc'), true, 'CIV-000001'],
    ]);
  });

  it('summarized voucher: the same totals per account (and per account and project) as the detailed one, on a mixed invoice of several projects', () => {
    const p = (n: string) => ({ ProjectId: id(`project-${n}`) });
    const lines = [
      line('a-time', 'EUR', { ...p('A'), UnbilledActualId: id('u-a-time'), Quantity: '7.5', SalesPrice: '133.33', LineAmount: '1000.00', SalesTaxAmount: '190.00' }),
      line('a-expense', 'EUR', { ...p('A'), UnbilledActualId: id('u-a-expense'), TransType: 'Expense', SalesPrice: '45.67', LineAmount: '45.67' }),
      line('a-milestone', 'EUR', { ...p('A'), TransType: 'OnAccount', ContractLineId: id('fp-line'), SalesPrice: '2500.00', LineAmount: '2500.00', SalesTaxAmount: '475.00' }),
      line('b-time', 'EUR', { ...p('B'), UnbilledActualId: id('u-b-time'), Quantity: '3', SalesPrice: '99.99', LineAmount: '299.97', SalesTaxAmount: '56.99' }),
      line('b-item', 'EUR', { ...p('B'), UnbilledActualId: id('u-b-item'), TransType: 'Item', SalesPrice: '0.01', LineAmount: '0.01' }),
      line('b-nc', 'EUR', { ...p('B'), UnbilledActualId: id('u-b-nc'), LineProperty: 'NonChargeable', Quantity: '2' }),
      line('c-milestone', 'EUR', { ...p('C'), TransType: 'OnAccount', ContractLineId: id('fp-line-c'), SalesPrice: '333.33', LineAmount: '333.33', SalesTaxAmount: '63.33' }),
      line('c-fee', 'EUR', { ...p('C'), UnbilledActualId: id('u-c-fee'), TransType: 'Fee', SalesPrice: '12.34', LineAmount: '12.34' }),
    ];
    const unbilledTransactions = [
      transaction('u-a-time', 'EUR', '1000.00', '1084.50', p('A')),
      transaction('u-a-expense', 'EUR', '45.67', '49.53', { ...p('A'), Classification: 'Expense' }),
      transaction('u-b-time', 'EUR', '299.97', '325.32', p('B')),
      transaction('u-b-item', 'EUR', '0.01', '0.01', { ...p('B'), Classification: 'Material' }),
      transaction('u-b-nc', 'EUR', '0.00', '0.00', p('B')),
      transaction('u-c-fee', 'EUR', '12.34', '13.38', { ...p('C'), Classification: 'Fee' }),
    ];
    const total = sum(lines.map((l) => l.LineAmount)).toFixed(2);
    const plan = planned({
      ...eurInput(),
      proposal: proposal('EUR', { ExpectedLineCount: lines.length, ExpectedAmount: total }),
      lines,
      unbilledTransactions,
    });

    // The detailed voucher (one entry per invoiced transaction and per line), from the same plan.
    const detailed: { MainAccount: string; ProjectId?: string; Amount: string }[] = [
      ...plan.transactionsInvoiced.flatMap((t) => [
        { MainAccount: 'AccruedRevenue', ProjectId: t.ProjectId, Amount: t.AccountingAmount },
        { MainAccount: 'WIPSalesValue', ProjectId: t.ProjectId, Amount: negate(t.AccountingAmount) },
      ]),
      { MainAccount: 'CustomerBalance', Amount: plan.customerInvoice.AccountingAmount },
      ...plan.accounting.map((d) => ({ MainAccount: 'Revenue', ProjectId: lines.find((l) => l.ActualId === d.actualId)!.ProjectId, Amount: negate(d.accountingAmount) })),
      { MainAccount: 'SalesTaxPayable', Amount: negate(toAccounting(plan.customerInvoice.SalesTaxAmount, '1.102300')) },
    ];
    const totals = (entries: readonly { MainAccount: string; ProjectId?: string; Amount: string }[], key: (e: { MainAccount: string; ProjectId?: string }) => string) => {
      const out = new Map<string, string>();
      for (const e of entries) out.set(key(e), sum([out.get(key(e)) ?? '0', e.Amount]).toFixed(2));
      return Object.fromEntries([...out].filter(([, v]) => v !== '0.00').sort());
    };
    const perAccount = (e: { MainAccount: string }) => e.MainAccount;
    const perAccountAndProject = (e: { MainAccount: string; ProjectId?: string }) => `${e.MainAccount} ${e.ProjectId ?? '-'}`;

    expect(balance(detailed.map((e) => ({ Amount: e.Amount })))).toBe('0.00');
    expect(balance(plan.ledger)).toBe('0.00');
    expect(totals(plan.ledger, perAccount)).toEqual(totals(detailed, perAccount));
    expect(totals(plan.ledger, perAccountAndProject)).toEqual(totals(detailed, perAccountAndProject));
    // 6 transactions x 2 + 8 lines + 2 = 22 detailed entries (20 not zero) become 3 x 2 + 3 + 2 = 11.
    expect(detailed).toHaveLength(22);
    expect(plan.ledger).toHaveLength(11);
    expect(new Set(plan.ledger.map((e) => `${e.MainAccount} ${e.ProjectId ?? '-'}`)).size).toBe(11);
    expect(plan.ledger.map((e) => e.LineNumber)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(totals(plan.ledger, perAccount)).toEqual({
      AccruedRevenue: '1472.74',
      CustomerBalance: '5485.75', // (4191.32 + 785.32 tax) x 1.1023
      Revenue: '-4620.09',
      SalesTaxPayable: '-865.66',
      WIPSalesValue: '-1472.74',
    });
    // A project's revenue entry is the sum of its lines' accounting amounts (the rounding cent included).
    const revenueOf = (project: string) => plan.ledger.find((e) => e.MainAccount === 'Revenue' && e.ProjectId === id(`project-${project}`));
    expect(revenueOf('B')).toMatchObject({ Amount: '-330.67', Reference: 'CIV-000001', Text: 'Revenue of 3 lines (Hour 2, Item 1) 299.98 EUR on CIV-000001 (proposal INV-01001)' });
    expect(revenueOf('C')?.Text).toBe('Revenue of 2 lines (Fee 1, OnAccount 1) 345.67 EUR on CIV-000001 (proposal INV-01001)');
    // Projects in ascending id order.
    const projects = ['A', 'B', 'C'].sort((a, b) => (id(`project-${a}`) < id(`project-${b}`) ? -1 : 1));
    const counts: Record<string, string> = { A: '2 unbilled transactions', B: '3 unbilled transactions', C: '1 unbilled transaction' };
    expect(plan.ledger.filter((e) => e.MainAccount === 'AccruedRevenue').map((e) => [e.ProjectId, e.Text])).toEqual(
      projects.map((n) => [id(`project-${n}`), `Reverse accrued revenue of ${counts[n]} invoiced on CIV-000001 (proposal INV-01001)`]),
    );
    // Deterministic whatever order the lines and transactions come in.
    const shuffled = planned({ ...eurInput(), proposal: proposal('EUR', { ExpectedLineCount: lines.length, ExpectedAmount: total }), lines: [...lines].reverse(), unbilledTransactions: [...unbilledTransactions].reverse() });
    expect(shuffled.ledger).toEqual(plan.ledger);
  });

  it('balances for many odd amounts and rates', () => {
    for (let i = 1; i <= 60; i++) {
      const a = (i * 7.13).toFixed(2);
      const b = (i * 0.37 + 0.05).toFixed(2);
      const t = (i * 1.19).toFixed(2);
      const r = `1.${String(100000 + i * 7919).slice(1)}`;
      const plan = planPosting({
        ...eurInput(),
        proposal: proposal('EUR', { ExpectedLineCount: 2, ExpectedAmount: sum([a, b]).toFixed(2) }),
        lines: [line('x', 'EUR', { LineAmount: a, SalesTaxAmount: t }), line('y', 'EUR', { LineAmount: b, SalesTaxAmount: '0.00' })],
        unbilledTransactions: [],
        rates: [{ FromCurrency: 'EUR', ToCurrency: 'USD', Rate: r, ValidFrom: '2026-01-01' }],
      });
      if (!plan.ok) throw new Error(plan.reason);
      expect(balance(plan.ledger)).toBe('0.00');
      expect(sum(plan.accounting.map((d) => d.accountingAmount)).toFixed(2)).toBe(
        sum(plan.ledger.filter((e) => e.MainAccount === 'Revenue').map((e) => e.Amount)).negated().toFixed(2),
      );
    }
  });

  it('a credit proposal (negative lines) posts the mirror image', () => {
    const plan = planned({
      ...eurInput(),
      proposal: proposal('USD', { ExpectedLineCount: 1, ExpectedAmount: '-1600.00' }),
      lines: [line('credit', 'USD', { LineAmount: '-1600.00', SalesTaxAmount: '-160.00' })],
      unbilledTransactions: [],
    });
    expect(plan.ledger.map((e) => [e.MainAccount, e.Amount])).toEqual([
      ['CustomerBalance', '-1760.00'],
      ['Revenue', '1600.00'],
      ['SalesTaxPayable', '160.00'],
    ]);
  });

  it('is deterministic: the same input plans the very same voucher and records', () => {
    expect(planPosting(eurInput())).toEqual(planPosting(eurInput()));
    expect(postingVoucher('INV-01001')).toBe(`PIV-${shortHash(10, 'INV-01001')}`);
    expect(postingVoucher('INV-01001')).toMatch(/^PIV-[0-9A-F]{10}$/);
    expect(postingVoucher('INV-01002')).not.toBe(postingVoucher('INV-01001'));
    // a retry after the transactions were already marked with this customer invoice plans the same
    const retry = eurInput();
    retry.unbilledTransactions = retry.unbilledTransactions.map((t) => ({ ...t, FullyInvoiced: true, CustomerInvoiceId: 'CIV-000001' }));
    expect(planPosting(retry)).toEqual(planPosting(eurInput()));
  });

  it('does not reverse again a transaction already invoiced by another customer invoice', () => {
    const input = eurInput();
    input.unbilledTransactions = input.unbilledTransactions.map((t) =>
      t.TransId === id('u-time') ? { ...t, FullyInvoiced: true, CustomerInvoiceId: 'CIV-000000' } : t,
    );
    const plan = planned(input);
    // only u-expense (10.90) and the zero u-nc are reversed, not u-time (1735.20)
    expect(plan.ledger.filter((e) => e.MainAccount === 'AccruedRevenue').map((e) => e.Amount)).toEqual(['10.90']);
    expect(plan.ledger.find((e) => e.MainAccount === 'AccruedRevenue')?.Text).toContain('2 unbilled transactions');
    expect(plan.transactionsInvoiced.map((t) => t.TransId)).toEqual([id('u-expense'), id('u-nc')]);
    expect(balance(plan.ledger)).toBe('0.00');
  });

  it('uses the given PostedOn timestamp', () => {
    expect(planned(eurInput({ postedOn: '2026-03-01T15:30:00.000Z' })).proposalUpdate.PostedOn).toBe('2026-03-01T15:30:00.000Z');
  });

  describe('refusals', () => {
    it('already posted, naming the customer invoice', () => {
      const posted = proposal('EUR', { Status: 'Posted', CustomerInvoiceId: 'CIV-000001', Voucher: 'PIV-0123456789' });
      expect(planPosting(eurInput({ proposal: posted }))).toEqual({
        ok: false,
        reason: 'Invoice proposal INV-01001 is already posted as customer invoice CIV-000001 (voucher PIV-0123456789); a proposal can be posted only once',
      });
    });

    it('not Open', () => {
      const odd = { ...proposal('EUR'), Status: 'Draft' } as unknown as Proposal;
      expect(planPosting(eurInput({ proposal: odd }))).toEqual({
        ok: false,
        reason: 'Invoice proposal INV-01001 has status Draft; only an Open proposal can be posted',
      });
    });

    it('incomplete: expected versus imported lines and amounts', () => {
      const input = eurInput();
      input.lines = input.lines.filter((l) => l.ActualId !== id('milestone'));
      expect(planPosting(input)).toEqual({
        ok: false,
        reason:
          'Invoice proposal INV-01001 is incomplete: expected 4 lines totalling 2610.05 EUR, imported 3 lines totalling 1610.05 EUR. ' +
          'Post it once the remaining billed actuals are imported (their staging rows say what they wait for)',
      });
    });

    it('incomplete by amount with the right line count', () => {
      const input = eurInput({ proposal: proposal('EUR', { ExpectedAmount: '2610.06' }) });
      const plan = planPosting(input);
      expect(plan.ok).toBe(false);
      if (!plan.ok) expect(plan.reason).toContain('expected 4 lines totalling 2610.06 EUR, imported 4 lines totalling 2610.05 EUR');
    });

    it('no lines at all', () => {
      expect(planPosting(eurInput({ proposal: proposal('EUR', { ExpectedLineCount: 0, ExpectedAmount: '0.00' }), lines: [] }))).toEqual({
        ok: false,
        reason: 'Invoice proposal INV-01001 has no lines; there is nothing to post',
      });
    });

    it('missing exchange rate, naming currencies and date', () => {
      expect(planPosting(eurInput({ postingDate: '2025-12-31' }))).toEqual({
        ok: false,
        reason: 'Invoice proposal INV-01001 cannot be posted: No exchange rate from EUR to USD on or before 2025-12-31',
      });
    });

    it('a billed unbilled transaction not given', () => {
      const input = eurInput();
      input.unbilledTransactions = input.unbilledTransactions.filter((t) => t.TransId !== id('u-expense'));
      expect(planPosting(input)).toEqual({
        ok: false,
        reason: `Invoice proposal INV-01001 cannot be posted: the project transactions ${id('u-expense')} that its lines bill were not found`,
      });
    });

    it('a line in another currency, or of another proposal', () => {
      const other = eurInput();
      other.lines = other.lines.map((l) => (l.ActualId === id('nc') ? { ...l, CurrencyCode: 'USD' } : l));
      expect(planPosting(other)).toEqual({
        ok: false,
        reason: `Invoice proposal INV-01001 is in EUR but lines ${id('nc')} (USD) are not`,
      });
      const foreign = eurInput();
      foreign.lines = foreign.lines.map((l) => (l.ActualId === id('nc') ? { ...l, ProposalId: 'INV-9' } : l));
      expect(planPosting(foreign)).toEqual({ ok: false, reason: `Lines ${id('nc')} do not belong to invoice proposal INV-01001` });
    });
  });
});

describe('billedRowAccounting', () => {
  it('copies an accounting detail onto the billed staging row', () => {
    const plan = planned(eurInput());
    expect(billedRowAccounting(plan.accounting[0]!)).toEqual({
      VoucherNumber: postingVoucher('INV-01001'),
      PostingDate: '2026-03-01',
      AccountingCurrency: 'USD',
      AccountingAmount: '1763.67',
      ExchangeRate: '1.102300',
      SalesTaxAmount: '304.00',
    });
  });
});
