import { describe, expect, it } from 'vitest';
import type { ExchangeRate, ProjectTransaction, Proposal, ProposalLine } from '../../../shared/domain/finance';
import { customerInvoiceSchema, ledgerEntrySchema } from '../../../shared/domain/finance';
import {
  billedRowAccounting,
  formatCustomerInvoiceId,
  parseCustomerInvoiceId,
  planPosting,
  postingVoucher,
  type PostingInput,
} from '../../../shared/domain/foPosting';
import { deterministicGuid, shortHash } from '../../../shared/domain/ids';
import { sum } from '../../../shared/domain/money';
import { accountingDetail } from '../../../shared/messaging/schemas';

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
    expect(plan.ledger.map((e) => [e.LineNumber, e.MainAccount, e.Amount, e.Reference])).toEqual([
      [1, 'AccruedRevenue', '1600.00', id('u-time')],
      [2, 'WIPSalesValue', '-1600.00', id('u-time')],
      [3, 'AccruedRevenue', '1000.00', id('u-expense')],
      [4, 'WIPSalesValue', '-1000.00', id('u-expense')],
      [5, 'CustomerBalance', '3860.00', 'CIV-000007'],
      [6, 'Revenue', '-1600.00', id('time')],
      [7, 'Revenue', '-1000.00', id('expense')],
      [8, 'Revenue', '-1000.00', id('milestone')],
      [9, 'SalesTaxPayable', '-260.00', 'CIV-000007'],
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
    expect(plan.ledger.map((e) => [e.LineNumber, e.MainAccount, e.Amount])).toEqual([
      [1, 'AccruedRevenue', '1735.20'],
      [2, 'WIPSalesValue', '-1735.20'],
      [3, 'AccruedRevenue', '10.90'],
      [4, 'WIPSalesValue', '-10.90'],
      [5, 'CustomerBalance', '3421.59'],
      [6, 'Revenue', '-1763.67'],
      [7, 'Revenue', '-11.08'],
      [8, 'Revenue', '-1102.30'],
      [9, 'SalesTaxPayable', '-544.54'],
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
    expect(plan.ledger.filter((e) => e.Reference === id('u-time'))).toEqual([]);
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
