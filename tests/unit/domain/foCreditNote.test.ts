/**
 * Credit proposals and credit notes on the F&O side (domain.md step 12), as pure rules: billed
 * sales reversals becoming negative proposal lines, completeness with tax (one rule for every
 * place), and the credit note's posting plan with exact records.
 *
 * The original: EUR proposal INV-01001 posted as CIV-000001 at 1.102300 (the foPosting tests'
 * invoice): time 8 x 200.00 (tax 304.00) from U-time, expense 10.05 from U-expense, a milestone
 * 1000.00 (tax 190.00), a non-chargeable 0.00 line from U-nc. Its unbilled transactions were
 * posted at import at 1.084500 and are fully invoiced by CIV-000001.
 */
import { describe, expect, it } from 'vitest';
import type { ExchangeRate, ProjectTransaction, Proposal, ProposalLine, StagingRow } from '../../../shared/finance/records';
import { customerInvoiceSchema, ledgerEntrySchema, projectTransactionSchema, proposalLineSchema } from '../../../shared/finance/records';
import { creditPostingRefusal, creditsTransaction, planPosting, postingVoucher, type PostingInput } from '../../../shared/finance/rules/posting';
import { describeShortfall, importedTotals, isComplete, meetsExpectation, reconcile } from '../../../shared/finance/rules/completeness';
import { applyLines, decideBilled, reconcileFromLines } from '../../../shared/finance/rules/import';
import { deterministicGuid } from '../../../shared/core/ids';
import { amount, dec, negate, sum } from '../../../shared/core/money';
import { accountingDetail } from '../../../shared/messages';

const id = (name: string) => deterministicGuid('fo-credit-note-test', name);
const balance = (entries: { Amount: string }[]) => sum(entries.map((e) => e.Amount)).toFixed(2);

const rates: ExchangeRate[] = [
  { FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.084500', ValidFrom: '2026-01-01' },
  { FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.102300', ValidFrom: '2026-03-01' },
];

const ORIGINAL = 'INV-01001';
const CREDIT = 'INV-01002';

function header(proposalId: string, overrides: Partial<Proposal> = {}): Proposal {
  return {
    ProposalId: proposalId,
    InvoiceId: id(proposalId),
    ContractId: id('contract'),
    CustomerAccount: 'US-001',
    CurrencyCode: 'EUR',
    InvoiceDate: '2026-03-01',
    ExpectedLineCount: 4,
    ExpectedAmount: '2610.05',
    ExpectedTax: '494.00',
    ImportedLineCount: 4,
    ImportedAmount: '2610.05',
    ImportedTax: '494.00',
    Status: 'Open',
    ...overrides,
  };
}

/** The original, as stored once posted. */
const postedOriginal = header(ORIGINAL, { Status: 'Posted', CustomerInvoiceId: 'CIV-000001', Voucher: postingVoucher(ORIGINAL), PostedOn: '2026-03-01T09:00:00.000Z' });

/** A credit proposal correcting INV-01001. */
function creditHeader(overrides: Partial<Proposal> = {}): Proposal {
  return header(CREDIT, {
    InvoiceId: id('corrective-invoice'),
    InvoiceDate: '2026-03-20',
    ExpectedAmount: '-2610.05',
    ExpectedTax: '-494.00',
    ImportedAmount: '-2610.05',
    ImportedTax: '-494.00',
    CorrectedProposalId: ORIGINAL,
    CorrectedInvoiceId: id(ORIGINAL),
    ...overrides,
  });
}

function line(proposalId: string, name: string, fields: Partial<ProposalLine>): ProposalLine {
  return {
    ProposalId: proposalId,
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
    CurrencyCode: 'EUR',
    ...fields,
  };
}

/** The original's billed lines (B-...). */
const billedLines: ProposalLine[] = [
  line(ORIGINAL, 'B-time', { UnbilledActualId: id('U-time'), Quantity: '8', SalesPrice: '200.00', LineAmount: '1600.00', SalesTaxAmount: '304.00' }),
  line(ORIGINAL, 'B-expense', { UnbilledActualId: id('U-expense'), TransType: 'Expense', SalesPrice: '10.05', LineAmount: '10.05' }),
  line(ORIGINAL, 'B-milestone', { TransType: 'OnAccount', ContractLineId: id('fp-line'), SalesPrice: '1000.00', LineAmount: '1000.00', SalesTaxAmount: '190.00' }),
  line(ORIGINAL, 'B-nc', { UnbilledActualId: id('U-nc'), LineProperty: 'NonChargeable', Quantity: '2', SalesPrice: '200.00' }),
];

/** The billed sales reversal of an original line, as a line of the credit proposal (R-...). */
function reversalOf(b: ProposalLine): ProposalLine {
  const name = `R-${b.ActualId}`;
  const r: ProposalLine = {
    ...b,
    ProposalId: CREDIT,
    LineId: id(name),
    ActualId: id(name),
    Quantity: negate(b.Quantity),
    LineAmount: negate(b.LineAmount),
    SalesTaxAmount: negate(b.SalesTaxAmount),
    ReversedActualId: b.ActualId,
  };
  return r;
}

function transaction(name: string, amountValue: string, accounting: string, overrides: Partial<ProjectTransaction> = {}): ProjectTransaction {
  return {
    TransId: id(name),
    ProjectId: id('project'),
    ContractId: id('contract'),
    TransType: 'UnbilledSales',
    Classification: 'Time',
    Quantity: '1',
    Amount: amountValue,
    CurrencyCode: 'EUR',
    AccountingAmount: accounting,
    Voucher: `PJV-${name}`,
    PostingDate: '2026-02-20',
    FullyInvoiced: false,
    ...overrides,
  };
}

/** The original's unbilled transactions as import posted them (at 1.084500). */
const unbilled: ProjectTransaction[] = [
  transaction('U-time', '1600.00', '1735.20', { Quantity: '8' }),
  transaction('U-expense', '10.05', '10.90', { Classification: 'Expense' }),
  transaction('U-nc', '0.00', '0.00', { Quantity: '2' }),
];
const invoicedByOriginal = unbilled.map((t) => ({ ...t, FullyInvoiced: true, CustomerInvoiceId: 'CIV-000001' }));

function originalInput(): PostingInput {
  return {
    proposal: header(ORIGINAL),
    lines: billedLines,
    unbilledTransactions: unbilled,
    rates,
    accountingCurrency: 'USD',
    postingDate: '2026-03-01',
    customerInvoiceId: 'CIV-000001',
  };
}

function fullCreditInput(overrides: Partial<PostingInput> = {}): PostingInput {
  return {
    proposal: creditHeader(),
    lines: billedLines.map(reversalOf),
    unbilledTransactions: invoicedByOriginal,
    correctedProposal: postedOriginal,
    rates,
    accountingCurrency: 'USD',
    postingDate: '2026-03-20',
    customerInvoiceId: 'CIV-000002',
    ...overrides,
  };
}

function planned(input: PostingInput) {
  const plan = planPosting(input);
  if (!plan.ok) throw new Error(`expected a plan, got: ${plan.reason}`);
  for (const entry of plan.ledger) ledgerEntrySchema.parse(entry);
  customerInvoiceSchema.parse(plan.customerInvoice);
  for (const detail of plan.accounting) accountingDetail.parse(detail);
  for (const t of [...plan.transactionsInvoiced, ...plan.transactionsCredited]) projectTransactionSchema.parse(t);
  return plan;
}

const entries = (plan: ReturnType<typeof planned>) => plan.ledger.map((e) => [e.LineNumber, e.MainAccount, e.Amount, e.ProjectId ?? null]);
const byAccount = (plan: ReturnType<typeof planned>, account: string) => amount(sum(plan.ledger.filter((e) => e.MainAccount === account).map((e) => e.Amount)));

// ---------------------------------------------------------------------------------------------

describe('billed sales reversals become negative lines of the credit proposal', () => {
  const stagingRow = (overrides: Partial<StagingRow>): StagingRow => ({
    ActualId: id('R-time'),
    TransType: 'BilledSales',
    TransactionClassification: 'Time',
    BillingType: 'Chargeable',
    AdjustmentStatus: 'Unadjustable',
    Quantity: '-8',
    UnitPrice: '200.00',
    Amount: '-1600.00',
    TransactionCurrencyId: 'EUR',
    AccountingDate: '2026-03-20',
    DocumentDate: '2026-03-10',
    ContractId: id('contract'),
    ContractLineId: id('tm-line'),
    ProjectId: id('project'),
    InvoiceId: id('corrective-invoice'),
    UnbilledActualId: id('U-time'),
    ReversedActualId: id('B-time'),
    SalesTaxAmount: '-304.00',
    ImportStatus: 'Pending',
    ...overrides,
  });

  it('a reversal: a negative line carrying the billed actual it reverses; it waits for nothing but the (long posted) original transaction', () => {
    const asked: string[] = [];
    const decision = decideBilled(stagingRow({}), {
      proposal: creditHeader({ ImportedLineCount: 0, ImportedAmount: '0.00', ImportedTax: '0.00' }),
      unbilledPosted: (actualId) => {
        asked.push(actualId);
        return true;
      },
      importedOn: '2026-03-20T12:00:00.000Z',
    });
    expect(asked).toEqual([id('U-time')]);
    expect(decision).toEqual({
      kind: 'line',
      line: {
        ProposalId: CREDIT,
        LineId: id('R-time'),
        ActualId: id('R-time'),
        UnbilledActualId: id('U-time'),
        ReversedActualId: id('B-time'),
        ProjectId: id('project'),
        ContractLineId: id('tm-line'),
        TransType: 'Hour',
        LineProperty: 'Chargeable',
        Quantity: '-8',
        SalesPrice: '200.00',
        LineAmount: '-1600.00',
        SalesTaxAmount: '-304.00',
        CurrencyCode: 'EUR',
      },
      rowUpdate: { ImportStatus: 'Imported', ImportMessage: `Imported as a line of invoice proposal ${CREDIT}`, InvoiceProposalId: CREDIT, ImportedOn: '2026-03-20T12:00:00.000Z' },
    });
    if (decision.kind === 'line') {
      proposalLineSchema.parse(decision.line);
      expect(creditsTransaction(decision.line)).toBe(true);
    }
  });

  it('a milestone reversal (no unbilled actual) needs only the credit proposal', () => {
    const decision = decideBilled(
      stagingRow({ ActualId: id('R-milestone'), TransactionClassification: 'Milestone', Quantity: '-1', UnitPrice: '1000.00', Amount: '-1000.00', SalesTaxAmount: '-190.00', UnbilledActualId: undefined, ReversedActualId: id('B-milestone') }),
      { proposal: creditHeader(), unbilledPosted: () => false },
    );
    expect(decision).toMatchObject({ kind: 'line', line: { TransType: 'OnAccount', LineAmount: '-1000.00', SalesTaxAmount: '-190.00', ReversedActualId: id('B-milestone') } });
    expect(decision.kind === 'line' && 'UnbilledActualId' in decision.line).toBe(false);
  });

  it('a re-billed row is an ordinary positive line that waits for its new unbilled transaction', () => {
    const rebilled = stagingRow({ ActualId: id('B2-time'), Quantity: '5', Amount: '1000.00', SalesTaxAmount: '190.00', UnbilledActualId: id('U2-time'), ReversedActualId: undefined, AdjustmentStatus: undefined });
    expect(decideBilled(rebilled, { proposal: creditHeader(), unbilledPosted: () => false })).toMatchObject({ kind: 'waiting', reason: "Project transaction hasn't been posted yet" });
    const decision = decideBilled(rebilled, { proposal: creditHeader(), unbilledPosted: () => true });
    expect(decision).toMatchObject({ kind: 'line', line: { LineAmount: '1000.00', UnbilledActualId: id('U2-time') } });
    expect(decision.kind === 'line' && creditsTransaction(decision.line)).toBe(false);
  });

  it('a reversal whose proposal is not a credit proposal stays in Error with the reason (retried every run)', () => {
    const decision = decideBilled(stagingRow({}), { proposal: header(CREDIT, { InvoiceId: id('corrective-invoice') }), unbilledPosted: () => true });
    expect(decision).toMatchObject({ kind: 'error', rowUpdate: { ImportStatus: 'Error' } });
    expect(decision.kind === 'error' && decision.reason).toContain(`reverses billed actual ${id('B-time')}, but invoice proposal ${CREDIT} is not a credit proposal`);
  });

  it('the credit proposal counts its negative lines: amount and tax below zero, complete at the header figures', () => {
    let p = creditHeader({ ImportedLineCount: 0, ImportedAmount: '0.00', ImportedTax: '0.00' });
    const reversals = billedLines.map(reversalOf);
    p = applyLines(p, reversals.slice(0, 2));
    expect(p).toMatchObject({ ImportedLineCount: 2, ImportedAmount: '-1610.05', ImportedTax: '-304.00' });
    expect(isComplete(p)).toBe(false);
    p = reconcileFromLines(p, reversals);
    expect(p).toMatchObject({ ImportedLineCount: 4, ImportedAmount: '-2610.05', ImportedTax: '-494.00' });
    expect(isComplete(p)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------

describe('completeness with tax: one rule', () => {
  it('line count, amount and tax must all match', () => {
    const p = header(ORIGINAL);
    expect(isComplete(p)).toBe(true);
    expect(isComplete({ ...p, ImportedTax: '493.99' })).toBe(false);
    expect(isComplete({ ...p, ImportedTax: '494' })).toBe(true);
    expect(isComplete({ ...p, ImportedAmount: '2610.06' })).toBe(false);
    expect(isComplete({ ...p, ImportedLineCount: 3 })).toBe(false);
    expect(meetsExpectation(p, { lineCount: 4, amount: '2610.05', tax: '494.00' })).toBe(true);
    expect(meetsExpectation(p, { lineCount: 4, amount: '2610.05', tax: '0.00' })).toBe(false);
  });

  it('a proposal stored before tax was reconciled (no ExpectedTax) is not checked on tax', () => {
    const { ExpectedTax: _e, ImportedTax: _i, ...legacy } = header(ORIGINAL);
    expect(isComplete(legacy)).toBe(true);
    expect(meetsExpectation(legacy, { lineCount: 4, amount: '2610.05', tax: '1.00' })).toBe(true);
    expect(reconcile(legacy)).toEqual({
      proposalId: ORIGINAL,
      expectedLineCount: 4,
      importedLineCount: 4,
      missingLineCount: 0,
      expectedAmount: '2610.05',
      importedAmount: '2610.05',
      missingAmount: '0.00',
      taxChecked: false,
      complete: true,
    });
  });

  it('a header that expects tax whose imported tax was never counted is not complete', () => {
    const { ImportedTax: _i, ...uncounted } = header(ORIGINAL);
    expect(isComplete(uncounted)).toBe(false);
    expect(describeShortfall(uncounted, importedTotals(uncounted))).toBe(
      'expected 4 lines totalling 2610.05 EUR, imported 4 lines totalling 2610.05 EUR; sales tax expected 494.00 EUR, imported (not counted yet)',
    );
  });

  it('reconcile shows expected, imported and missing tax', () => {
    expect(reconcile(header(ORIGINAL, { ImportedLineCount: 3, ImportedAmount: '1610.05', ImportedTax: '304.00' }))).toEqual({
      proposalId: ORIGINAL,
      expectedLineCount: 4,
      importedLineCount: 3,
      missingLineCount: 1,
      expectedAmount: '2610.05',
      importedAmount: '1610.05',
      missingAmount: '1000.00',
      taxChecked: true,
      expectedTax: '494.00',
      importedTax: '304.00',
      missingTax: '190.00',
      complete: false,
    });
    expect(reconcile(creditHeader({ ImportedTax: '-304.00' }))).toMatchObject({ expectedTax: '-494.00', importedTax: '-304.00', missingTax: '-190.00', complete: false });
  });

  it('posting checks the stored lines against the same rule: a tax short of the header is refused', () => {
    const input = originalInput();
    input.lines = input.lines.map((l) => (l.ActualId === id('B-time') ? { ...l, SalesTaxAmount: '303.99' } : l));
    expect(planPosting(input)).toEqual({
      ok: false,
      reason:
        `Invoice proposal ${ORIGINAL} is incomplete: expected 4 lines totalling 2610.05 EUR, imported 4 lines totalling 2610.05 EUR; ` +
        'sales tax expected 494.00 EUR, imported 493.99 EUR. Post it once the remaining billed actuals are imported (their staging rows say what they wait for)',
    });
    const { ExpectedTax: _e, ImportedTax: _i, ...legacy } = input.proposal;
    expect(planPosting({ ...input, proposal: legacy }).ok).toBe(true); // not checked on a proposal without ExpectedTax
  });
});

// ---------------------------------------------------------------------------------------------

describe('posting a credit proposal: the credit note', () => {
  it('a full credit: the original negated to the cent (amount and tax), sides reversed, WIP re-accrued, transactions no longer fully invoiced', () => {
    const input = fullCreditInput({ postingDate: '2026-03-01' }); // at the original's rate, so the accounting amounts mirror too
    const plan = planned(input);
    const voucher = postingVoucher(CREDIT);
    // total -2610.05 - 494.00 = -3104.05 EUR -> -3421.59 USD; tax -494.00 -> -544.54; lines -1763.68 - 11.08 - 1102.30 + 0.00
    // = -2877.06, but -3421.59 + 544.54 = -2877.05: +0.01 on the largest line (-1600.00).
    expect(entries(plan)).toEqual([
      [1, 'WIPSalesValue', '1746.10', id('project')],
      [2, 'AccruedRevenue', '-1746.10', id('project')],
      [3, 'CustomerBalance', '-3421.59', null],
      [4, 'Revenue', '2877.05', id('project')],
      [5, 'SalesTaxPayable', '544.54', null],
    ]);
    expect(plan.ledger.map((e) => e.Text)).toEqual([
      `Re-accrue work in progress of 3 unbilled transactions credited on CIV-000002 (proposal ${CREDIT})`,
      `Re-accrue work in progress of 3 unbilled transactions credited on CIV-000002 (proposal ${CREDIT})`,
      `Credit note CIV-000002 (proposal ${CREDIT}) of customer invoice CIV-000001 -3104.05 EUR, account US-001`,
      `Revenue of 4 lines (Hour 2, Expense 1, OnAccount 1) -2610.05 EUR on CIV-000002 (proposal ${CREDIT})`,
      `Sales tax -494.00 EUR on CIV-000002 (proposal ${CREDIT})`,
    ]);
    expect(plan.ledger.every((e) => e.Voucher === voucher && e.Reference === 'CIV-000002' && e.PostingDate === '2026-03-01')).toBe(true);
    expect(balance(plan.ledger)).toBe('0.00');
    expect(plan.customerInvoice).toEqual({
      InvoiceId: 'CIV-000002',
      ProposalId: CREDIT,
      CustomerAccount: 'US-001',
      InvoiceDate: '2026-03-01',
      CurrencyCode: 'EUR',
      InvoiceAmount: '-2610.05',
      SalesTaxAmount: '-494.00',
      TotalAmount: '-3104.05',
      AccountingAmount: '-3421.59',
      Voucher: voucher,
      CorrectedInvoiceId: 'CIV-000001',
      CorrectedProposalId: ORIGINAL,
    });
    expect(plan.transactionsInvoiced).toEqual([]);
    expect(plan.transactionsCredited).toEqual(
      unbilled.map(({ ...t }) => ({ ...t, FullyInvoiced: false, CreditNoteId: 'CIV-000002', CreditedInvoiceId: 'CIV-000001' })),
    );
    expect(plan.transactionsCredited.some((t) => 'CustomerInvoiceId' in t)).toBe(false);
    expect(plan.proposalUpdate).toEqual({ Status: 'Posted', CustomerInvoiceId: 'CIV-000002', Voucher: voucher, PostedOn: '2026-03-01T00:00:00.000Z' });
    expect(plan.accounting.map((d) => [d.actualId, d.accountingAmount, d.salesTaxAmount, d.exchangeRate])).toEqual([
      [id(`R-${id('B-time')}`), '-1763.67', '-304.00', '1.102300'],
      [id(`R-${id('B-expense')}`), '-11.08', '0.00', '1.102300'],
      [id(`R-${id('B-milestone')}`), '-1102.30', '-190.00', '1.102300'],
      [id(`R-${id('B-nc')}`), '0.00', '0.00', '1.102300'],
    ]);

    // The original, posted the same day: the credit note is its exact negation (the WIP entries aside).
    const original = planned(originalInput());
    for (const field of ['InvoiceAmount', 'SalesTaxAmount', 'TotalAmount', 'AccountingAmount'] as const) {
      expect(plan.customerInvoice[field]).toBe(negate(original.customerInvoice[field]));
    }
    for (const account of ['CustomerBalance', 'Revenue', 'SalesTaxPayable', 'WIPSalesValue', 'AccruedRevenue']) {
      expect(byAccount(plan, account), account).toBe(amount(dec(byAccount(original, account)).negated()));
    }
  });

  it('a mixed credit: the reversal re-accrues its transaction, the re-billed line is invoiced as usual (its new transaction fully invoiced, WIP reversed)', () => {
    // Credit B-time (8 h) and bill 5 h again from a new unbilled actual U2-time (posted at import at 1.102300).
    const rebilled = line(CREDIT, 'B2-time', { UnbilledActualId: id('U2-time'), Quantity: '5', SalesPrice: '200.00', LineAmount: '1000.00', SalesTaxAmount: '190.00' });
    const u2 = transaction('U2-time', '1000.00', '1102.30', { Quantity: '5', PostingDate: '2026-03-20' });
    const input = fullCreditInput({
      proposal: creditHeader({ ExpectedLineCount: 2, ExpectedAmount: '-600.00', ExpectedTax: '-114.00', ImportedLineCount: 2, ImportedAmount: '-600.00', ImportedTax: '-114.00' }),
      lines: [reversalOf(billedLines[0]!), rebilled],
      unbilledTransactions: [invoicedByOriginal[0]!, u2],
    });
    const plan = planned(input);
    // total -714.00 EUR -> -787.04; tax -114.00 -> -125.66; lines -1763.68 + 1102.30 = -661.38 = -787.04 + 125.66.
    expect(entries(plan)).toEqual([
      [1, 'AccruedRevenue', '1102.30', id('project')],
      [2, 'WIPSalesValue', '-1102.30', id('project')],
      [3, 'WIPSalesValue', '1735.20', id('project')],
      [4, 'AccruedRevenue', '-1735.20', id('project')],
      [5, 'CustomerBalance', '-787.04', null],
      [6, 'Revenue', '661.38', id('project')],
      [7, 'SalesTaxPayable', '125.66', null],
    ]);
    expect(balance(plan.ledger)).toBe('0.00');
    expect(plan.customerInvoice).toMatchObject({ InvoiceAmount: '-600.00', SalesTaxAmount: '-114.00', TotalAmount: '-714.00', AccountingAmount: '-787.04', CorrectedInvoiceId: 'CIV-000001' });
    expect(plan.transactionsInvoiced).toEqual([{ ...u2, FullyInvoiced: true, CustomerInvoiceId: 'CIV-000002' }]);
    const { CustomerInvoiceId: _c, ...uTime } = invoicedByOriginal[0]!;
    expect(plan.transactionsCredited).toEqual([{ ...uTime, FullyInvoiced: false, CreditNoteId: 'CIV-000002', CreditedInvoiceId: 'CIV-000001' }]);
    expect(plan.accounting.map((d) => [d.actualId, d.accountingAmount, d.salesTaxAmount])).toEqual([
      [id(`R-${id('B-time')}`), '-1763.68', '-304.00'],
      [id('B2-time'), '1102.30', '190.00'],
    ]);
  });

  it('a milestone credit: no transaction, only customer, revenue and tax', () => {
    const input = fullCreditInput({
      proposal: creditHeader({ ExpectedLineCount: 1, ExpectedAmount: '-1000.00', ExpectedTax: '-190.00', ImportedLineCount: 1, ImportedAmount: '-1000.00', ImportedTax: '-190.00' }),
      lines: [reversalOf(billedLines[2]!)],
      unbilledTransactions: [],
    });
    const plan = planned(input);
    // -1190.00 EUR -> -1311.74; tax -190.00 -> -209.44; line -1000.00 -> -1102.30.
    expect(entries(plan)).toEqual([
      [1, 'CustomerBalance', '-1311.74', null],
      [2, 'Revenue', '1102.30', id('project')],
      [3, 'SalesTaxPayable', '209.44', null],
    ]);
    expect(balance(plan.ledger)).toBe('0.00');
    expect(plan.customerInvoice).toMatchObject({ InvoiceAmount: '-1000.00', SalesTaxAmount: '-190.00', TotalAmount: '-1190.00', AccountingAmount: '-1311.74' });
    expect(plan.transactionsInvoiced).toEqual([]);
    expect(plan.transactionsCredited).toEqual([]);
    expect(plan.accounting).toEqual([
      { actualId: id(`R-${id('B-milestone')}`), contractId: id('contract'), voucher: postingVoucher(CREDIT), postingDate: '2026-03-20', accountingCurrency: 'USD', accountingAmount: '-1102.30', exchangeRate: '1.102300', salesTaxAmount: '-190.00' },
    ]);
  });

  it('a foreign-currency credit at the rate its posting pinned (not the original invoice rate): WIP re-accrued at the import amounts, still balanced', () => {
    // The posting passes only the rate its reservation pinned, valid from its posting date.
    const pinned: ExchangeRate[] = [{ FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.125000', ValidFrom: '2026-04-02' }];
    const input = fullCreditInput({
      proposal: creditHeader({ ExpectedLineCount: 1, ExpectedAmount: '-1600.00', ExpectedTax: '-304.00', ImportedLineCount: 1, ImportedAmount: '-1600.00', ImportedTax: '-304.00' }),
      lines: [reversalOf(billedLines[0]!)],
      unbilledTransactions: [invoicedByOriginal[0]!],
      rates: pinned,
      postingDate: '2026-04-02',
    });
    const plan = planned(input);
    // -1904.00 EUR x 1.125 = -2142.00; tax -304.00 -> -342.00; line -1600.00 -> -1800.00.
    expect(entries(plan)).toEqual([
      [1, 'WIPSalesValue', '1735.20', id('project')],
      [2, 'AccruedRevenue', '-1735.20', id('project')],
      [3, 'CustomerBalance', '-2142.00', null],
      [4, 'Revenue', '1800.00', id('project')],
      [5, 'SalesTaxPayable', '342.00', null],
    ]);
    expect(balance(plan.ledger)).toBe('0.00');
    expect(plan.customerInvoice).toMatchObject({ InvoiceDate: '2026-04-02', InvoiceAmount: '-1600.00', SalesTaxAmount: '-304.00', TotalAmount: '-1904.00', AccountingAmount: '-2142.00' });
    expect(plan.accounting).toEqual([
      { actualId: id(`R-${id('B-time')}`), contractId: id('contract'), voucher: postingVoucher(CREDIT), postingDate: '2026-04-02', accountingCurrency: 'USD', accountingAmount: '-1800.00', exchangeRate: '1.125000', salesTaxAmount: '-304.00' },
    ]);
    // No rate on the posting date: refused like any posting.
    expect(planPosting({ ...input, postingDate: '2026-04-01' })).toMatchObject({ ok: false, reason: expect.stringContaining('No exchange rate from EUR to USD on or before 2026-04-01') });
  });

  it('a correction that keeps everything (0.00): reversal and re-billed line net to zero, the voucher still moves the WIP', () => {
    const rebilled = line(CREDIT, 'B2-time', { UnbilledActualId: id('U2-time'), Quantity: '8', SalesPrice: '200.00', LineAmount: '1600.00', SalesTaxAmount: '304.00' });
    const u2 = transaction('U2-time', '1600.00', '1763.68', { Quantity: '8', PostingDate: '2026-03-20' });
    const plan = planned(
      fullCreditInput({
        proposal: creditHeader({ ExpectedLineCount: 2, ExpectedAmount: '0.00', ExpectedTax: '0.00', ImportedLineCount: 2, ImportedAmount: '0.00', ImportedTax: '0.00' }),
        lines: [reversalOf(billedLines[0]!), rebilled],
        unbilledTransactions: [invoicedByOriginal[0]!, u2],
      }),
    );
    expect(entries(plan)).toEqual([
      [1, 'AccruedRevenue', '1763.68', id('project')],
      [2, 'WIPSalesValue', '-1763.68', id('project')],
      [3, 'WIPSalesValue', '1735.20', id('project')],
      [4, 'AccruedRevenue', '-1735.20', id('project')],
    ]);
    expect(plan.customerInvoice).toMatchObject({ InvoiceAmount: '0.00', SalesTaxAmount: '0.00', TotalAmount: '0.00', AccountingAmount: '0.00' });
  });

  it('a retry plans the very same records once the credited transactions are stored as credited', () => {
    const first = planned(fullCreditInput());
    const stored = new Map(first.transactionsCredited.map((t) => [t.TransId, t] as const));
    const again = planned(fullCreditInput({ unbilledTransactions: invoicedByOriginal.map((t) => stored.get(t.TransId) ?? t) }));
    expect(again).toEqual(first);
  });

  it('the original still recomputes the same accounting details after its transactions were credited (republish-accounting)', () => {
    const before = planned(originalInput());
    const credited = planned(fullCreditInput()).transactionsCredited;
    const after = planned({ ...originalInput(), unbilledTransactions: credited });
    expect(after.accounting).toEqual(before.accounting);
    expect(after.customerInvoice).toEqual(before.customerInvoice);
  });

  it('a correction of a correction: reversing a credit line bills the credited transaction again', () => {
    const credited = planned(fullCreditInput()).transactionsCredited;
    const postedCredit = creditHeader({ Status: 'Posted', CustomerInvoiceId: 'CIV-000002' });
    const rTime = reversalOf(billedLines[0]!);
    const again: ProposalLine = { ...rTime, ProposalId: 'INV-01003', LineId: id('RR-time'), ActualId: id('RR-time'), Quantity: '8', LineAmount: '1600.00', SalesTaxAmount: '304.00', ReversedActualId: rTime.ActualId };
    const plan = planned({
      proposal: header('INV-01003', { InvoiceId: id('second-corrective'), ExpectedLineCount: 1, ExpectedAmount: '1600.00', ExpectedTax: '304.00', ImportedLineCount: 1, ImportedAmount: '1600.00', ImportedTax: '304.00', CorrectedProposalId: CREDIT, CorrectedInvoiceId: id('corrective-invoice') }),
      lines: [again],
      unbilledTransactions: credited,
      correctedProposal: postedCredit,
      rates,
      accountingCurrency: 'USD',
      postingDate: '2026-03-25',
      customerInvoiceId: 'CIV-000003',
    });
    expect(plan.transactionsCredited).toEqual([]);
    expect(plan.transactionsInvoiced).toEqual([{ ...credited[0], FullyInvoiced: true, CustomerInvoiceId: 'CIV-000003' }]);
    expect(entries(plan).slice(0, 2)).toEqual([
      [1, 'AccruedRevenue', '1735.20', id('project')],
      [2, 'WIPSalesValue', '-1735.20', id('project')],
    ]);
    expect(plan.customerInvoice).toMatchObject({ InvoiceAmount: '1600.00', CorrectedInvoiceId: 'CIV-000002', CorrectedProposalId: CREDIT });
    expect(balance(plan.ledger)).toBe('0.00');
  });

  describe('refusals (nothing planned, nothing written)', () => {
    it('the corrected proposal must be Posted first, naming it', () => {
      const reason = creditPostingRefusal(creditHeader(), header(ORIGINAL));
      expect(reason).toBe(
        `Credit proposal ${CREDIT} corrects invoice proposal ${ORIGINAL}, which is Open (not posted yet): a credit note credits a posted customer invoice. ` +
          `Post ${ORIGINAL} first (POST /api/finance/proposals/${ORIGINAL}/post), then ${CREDIT}`,
      );
      expect(planPosting(fullCreditInput({ correctedProposal: header(ORIGINAL) }))).toEqual({ ok: false, reason });
    });

    it('the corrected proposal must be in F&O, of the corrected invoice, in the same currency', () => {
      expect(planPosting(fullCreditInput({ correctedProposal: undefined }))).toMatchObject({ ok: false, reason: expect.stringContaining(`corrects invoice proposal ${ORIGINAL}, which is not in F&O`) });
      expect(creditPostingRefusal(creditHeader(), { ...postedOriginal, InvoiceId: id('someone-else') })).toContain(`but invoice proposal ${ORIGINAL} belongs to invoice ${id('someone-else')}`);
      expect(creditPostingRefusal(creditHeader(), { ...postedOriginal, CurrencyCode: 'USD' })).toContain('a credit note is in the currency of the invoice it credits');
      expect(creditPostingRefusal(header(ORIGINAL), undefined)).toBeUndefined(); // ordinary proposals have no such rule
    });

    it('reversal lines on a proposal that is not a credit proposal', () => {
      const input = originalInput();
      input.lines = [...input.lines.slice(1), { ...input.lines[0]!, ReversedActualId: id('someone') }];
      expect(planPosting(input)).toMatchObject({ ok: false, reason: expect.stringContaining('is not a credit proposal but lines') });
    });

    it('a transaction both credited and billed again by one credit proposal', () => {
      const rebilled = line(CREDIT, 'B2-time', { UnbilledActualId: id('U-time'), Quantity: '8', SalesPrice: '200.00', LineAmount: '1600.00', SalesTaxAmount: '304.00' });
      const input = fullCreditInput({
        proposal: creditHeader({ ExpectedLineCount: 2, ExpectedAmount: '0.00', ExpectedTax: '0.00', ImportedLineCount: 2, ImportedAmount: '0.00', ImportedTax: '0.00' }),
        lines: [reversalOf(billedLines[0]!), rebilled],
        unbilledTransactions: [invoicedByOriginal[0]!],
      });
      expect(planPosting(input)).toMatchObject({ ok: false, reason: expect.stringContaining(`both credits and bills project transaction ${id('U-time')}`) });
    });

    it('an incomplete credit proposal (tax short) is refused with the negative figures', () => {
      const lines = billedLines.map(reversalOf).map((l) => (l.ActualId === id(`R-${id('B-time')}`) ? { ...l, SalesTaxAmount: '-303.00' } : l));
      expect(planPosting(fullCreditInput({ lines }))).toMatchObject({
        ok: false,
        reason: expect.stringContaining('expected 4 lines totalling -2610.05 EUR, imported 4 lines totalling -2610.05 EUR; sales tax expected -494.00 EUR, imported -493.00 EUR'),
      });
    });
  });
});
