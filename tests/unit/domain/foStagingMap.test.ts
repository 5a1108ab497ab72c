import { describe, expect, it } from 'vitest';
import type { Actual } from '../../../shared/dataverse/records';
import type { Proposal } from '../../../shared/finance/records';
import { stagingRowSchema } from '../../../shared/finance/records';
import {
  isCreditProposal,
  proposalFromMessage,
  toLineProperty,
  toProposalTransType,
  toStagingAdjustmentStatus,
  toStagingClassification,
  toStagingRow,
  toStagingTransType,
  UnmappedValueError,
} from '../../../shared/finance/rules/stagingMap';
import { deterministicGuid } from '../../../shared/core/ids';
import { AdjustmentStatus, BillingType, TransactionClass, TransactionType } from '../../../shared/core/options';
import { invoiceProposalMessage, type InvoiceProposalMessage } from '../../../shared/messages';

const id = (name: string) => deterministicGuid('fo-staging-map-test', name);

function actual(overrides: Partial<Actual> = {}): Actual {
  return {
    msdyn_actualid: id('actual'),
    msdyn_transactiontypecode: TransactionType.UnbilledSales,
    msdyn_transactionclassification: TransactionClass.Time,
    msdyn_billingtype: BillingType.Chargeable,
    msdyn_quantity: '8',
    msdyn_price: '200.00',
    msdyn_amount: '1600.00',
    transactioncurrencyid: 'EUR',
    msdyn_documentdate: '2026-02-27',
    msdyn_accountingdate: '2026-02-28',
    msdyn_project: id('project'),
    msdyn_salescontract: id('contract'),
    msdyn_salescontractlineid: id('contract-line'),
    msdyn_accountcustomer: id('customer'),
    msdyn_skipsync: false,
    ...overrides,
  };
}

function mapped(a: Actual) {
  const result = toStagingRow(a);
  if (!result.ok) throw new Error(`expected a row, got: ${result.reason}`);
  return result.row;
}

describe('toStagingRow', () => {
  it('maps every field of an unbilled actual and starts Pending', () => {
    const row = mapped(actual());
    expect(row).toEqual({
      ActualId: id('actual'),
      TransType: 'UnbilledSales',
      TransactionClassification: 'Time',
      BillingType: 'Chargeable',
      Quantity: '8',
      UnitPrice: '200.00',
      Amount: '1600.00',
      TransactionCurrencyId: 'EUR',
      AccountingDate: '2026-02-28',
      DocumentDate: '2026-02-27',
      ContractId: id('contract'),
      ContractLineId: id('contract-line'),
      ProjectId: id('project'),
      ImportStatus: 'Pending',
    });
    expect(stagingRowSchema.parse(row)).toEqual(row);
  });

  it('copies invoice, unbilled actual, reversed actual and sales tax of a billed actual', () => {
    const row = mapped(
      actual({
        msdyn_transactiontypecode: TransactionType.BilledSales,
        msdyn_invoice: id('invoice'),
        msdyn_unbilledactual: id('unbilled'),
        msdyn_reversedactual: id('reversed'),
        msdyn_salestaxamount: '304.00',
      }),
    );
    expect(row.TransType).toBe('BilledSales');
    expect(row.InvoiceId).toBe(id('invoice'));
    expect(row.UnbilledActualId).toBe(id('unbilled'));
    expect(row.ReversedActualId).toBe(id('reversed'));
    expect(row.SalesTaxAmount).toBe('304.00');
    expect(row.InvoiceProposalId).toBeUndefined();
  });

  it('leaves optional fields out when the actual has none', () => {
    const row = mapped(actual());
    for (const key of ['AdjustmentStatus', 'InvoiceId', 'UnbilledActualId', 'ReversedActualId', 'SalesTaxAmount']) {
      expect(row).not.toHaveProperty(key);
    }
  });

  it.each([
    [TransactionType.Cost, 'Cost'],
    [TransactionType.UnbilledSales, 'UnbilledSales'],
    [TransactionType.BilledSales, 'BilledSales'],
  ] as const)('transaction type %i -> %s', (code, expected) => {
    expect(toStagingTransType(code)).toBe(expected);
    expect(mapped(actual({ msdyn_transactiontypecode: code, msdyn_invoice: id('invoice') })).TransType).toBe(expected);
  });

  it.each([
    [TransactionClass.Time, 'Time'],
    [TransactionClass.Expense, 'Expense'],
    [TransactionClass.Material, 'Material'],
    [TransactionClass.Milestone, 'Milestone'],
    [TransactionClass.Fee, 'Fee'],
  ] as const)('class %i -> %s', (code, expected) => {
    expect(toStagingClassification(code)).toBe(expected);
    expect(mapped(actual({ msdyn_transactionclassification: code })).TransactionClassification).toBe(expected);
  });

  it.each([
    [BillingType.Chargeable, 'Chargeable'],
    [BillingType.NonChargeable, 'NonChargeable'],
    [BillingType.Complimentary, 'Complimentary'],
    [BillingType.NotAvailable, 'NotAvailable'],
  ] as const)('billing type %i -> line property %s', (code, expected) => {
    expect(toLineProperty(code)).toBe(expected);
    expect(mapped(actual({ msdyn_billingtype: code })).BillingType).toBe(expected);
  });

  it.each([
    [AdjustmentStatus.Adjusted, 'Adjusted'],
    [AdjustmentStatus.Unadjustable, 'Unadjustable'],
  ] as const)('adjustment status %i -> %s', (code, expected) => {
    expect(toStagingAdjustmentStatus(code)).toBe(expected);
    expect(mapped(actual({ msdyn_adjustmentstatus: code })).AdjustmentStatus).toBe(expected);
  });

  it('absent adjustment status stays absent', () => {
    expect(toStagingAdjustmentStatus(undefined)).toBeUndefined();
  });

  it('an adjustment reversal maps with its negative amount and the actual it reverses', () => {
    const row = mapped(
      actual({
        msdyn_adjustmentstatus: AdjustmentStatus.Unadjustable,
        msdyn_quantity: '-8',
        msdyn_amount: '-1600.00',
        msdyn_reversedactual: id('original'),
      }),
    );
    expect(row).toMatchObject({ AdjustmentStatus: 'Unadjustable', Quantity: '-8', Amount: '-1600.00', ReversedActualId: id('original') });
  });

  describe('unmapped values are refused naming the field and the value', () => {
    it.each([
      [
        'msdyn_transactiontypecode',
        { msdyn_transactiontypecode: 192350001 },
        'msdyn_transactiontypecode has value 192350001, which has no F&O mapping (expected one of Cost 192350000, UnbilledSales 192350005, BilledSales 192350006)',
      ],
      [
        'msdyn_transactionclassification',
        { msdyn_transactionclassification: 192350009 },
        'msdyn_transactionclassification has value 192350009, which has no F&O mapping (expected one of Time 192350000, Expense 192350001, Material 192350002, Milestone 192350003, Fee 192350004)',
      ],
      [
        'msdyn_billingtype',
        { msdyn_billingtype: 5 },
        'msdyn_billingtype has value 5, which has no F&O mapping (expected one of Chargeable 192350001, NonChargeable 192350000, Complimentary 192350002, NotAvailable 192350003)',
      ],
      [
        'msdyn_adjustmentstatus',
        { msdyn_adjustmentstatus: 192350000 },
        'msdyn_adjustmentstatus has value 192350000, which has no F&O mapping (expected one of Adjusted 192350001, Unadjustable 192350002)',
      ],
    ])('%s', (_field, overrides, message) => {
      const result = toStagingRow(actual(overrides as unknown as Partial<Actual>));
      expect(result).toEqual({ ok: false, kind: 'unmapped', reason: `Actual ${id('actual')}: ${message}` });
    });

    it('reports every unmapped field at once', () => {
      const result = toStagingRow(
        actual({ msdyn_transactiontypecode: 1, msdyn_billingtype: 2 } as unknown as Partial<Actual>),
      );
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.reason).toContain('msdyn_transactiontypecode has value 1,');
      expect(result.reason).toContain('msdyn_billingtype has value 2,');
    });

    it('the single-value maps throw UnmappedValueError with field and value', () => {
      expect(() => toStagingTransType(7)).toThrow(UnmappedValueError);
      const error = (() => {
        try {
          toLineProperty(7);
          return undefined;
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(UnmappedValueError);
      expect(error).toMatchObject({ field: 'msdyn_billingtype', value: 7 });
      expect(() => toStagingClassification(7)).toThrow(/msdyn_transactionclassification has value 7/);
      expect(() => toStagingAdjustmentStatus(7)).toThrow(/msdyn_adjustmentstatus has value 7/);
    });
  });

  it('refuses a skip-sync actual with a reason, marked as skip', () => {
    const result = toStagingRow(actual({ msdyn_skipsync: true }));
    expect(result).toEqual({
      ok: false,
      kind: 'skipSync',
      reason: `Actual ${id('actual')} has msdyn_skipsync = true; skip-sync actuals are not synchronized to F&O`,
    });
  });

  it('skip-sync wins over unmapped values (the caller just skips it)', () => {
    const result = toStagingRow(actual({ msdyn_skipsync: true, msdyn_billingtype: 1 } as unknown as Partial<Actual>));
    expect(result).toMatchObject({ ok: false, kind: 'skipSync' });
  });

  it('refuses a billed sales actual without an invoice', () => {
    const result = toStagingRow(actual({ msdyn_transactiontypecode: TransactionType.BilledSales }));
    expect(result).toEqual({
      ok: false,
      kind: 'invalid',
      reason: `Billed sales actual ${id('actual')} has no msdyn_invoice; it cannot become a line of an invoice proposal`,
    });
  });
});

describe('toProposalTransType', () => {
  it.each([
    ['Time', 'Hour'],
    ['Expense', 'Expense'],
    ['Material', 'Item'],
    ['Fee', 'Fee'],
    ['Milestone', 'OnAccount'],
  ] as const)('%s -> %s', (classification, expected) => {
    expect(toProposalTransType(classification)).toBe(expected);
  });

  it('an unknown class is an error naming field and value', () => {
    expect(() => toProposalTransType('Travel' as never)).toThrow(
      'TransactionClassification has value "Travel", which has no F&O mapping (expected one of Time (-> Hour), Expense (-> Expense), Material (-> Item), Fee (-> Fee), Milestone (-> OnAccount))',
    );
    expect(() => toProposalTransType('toString' as never)).toThrow(UnmappedValueError);
  });
});

describe('proposalFromMessage', () => {
  const message: InvoiceProposalMessage = {
    proposalId: 'INV-01001',
    invoiceId: id('invoice'),
    contractId: id('contract'),
    customerId: id('customer'),
    customerAccount: 'US-001',
    currencyCode: 'EUR',
    invoiceDate: '2026-03-01',
    expectedLineCount: 3,
    expectedAmount: '4100.5',
    expectedTax: '779.10',
    confirmedOn: '2026-03-01T10:00:00.000Z',
  };

  it('creates an Open header with nothing imported yet', () => {
    expect(proposalFromMessage(message)).toEqual({
      ProposalId: 'INV-01001',
      InvoiceId: id('invoice'),
      ContractId: id('contract'),
      CustomerAccount: 'US-001',
      CurrencyCode: 'EUR',
      InvoiceDate: '2026-03-01',
      ExpectedLineCount: 3,
      ExpectedAmount: '4100.50',
      ExpectedTax: '779.10',
      ImportedLineCount: 0,
      ImportedAmount: '0.00',
      ImportedTax: '0.00',
      Status: 'Open',
    });
  });

  it('keeps the imported counters of an existing open header', () => {
    const existing: Proposal = { ...proposalFromMessage(message), ImportedLineCount: 2, ImportedAmount: '2500.00', ExpectedLineCount: 0 };
    const updated = proposalFromMessage(message, existing);
    expect(updated.ImportedLineCount).toBe(2);
    expect(updated.ImportedAmount).toBe('2500.00');
    expect(updated.ExpectedLineCount).toBe(3);
    expect(updated.Status).toBe('Open');
  });

  it('a redelivered header gives the same header', () => {
    const first = proposalFromMessage(message);
    expect(proposalFromMessage(message, first)).toEqual(first);
  });

  it('never changes a posted proposal', () => {
    const posted: Proposal = {
      ...proposalFromMessage(message),
      ImportedLineCount: 3,
      ImportedAmount: '4100.50',
      Status: 'Posted',
      CustomerInvoiceId: 'CIV-000001',
      Voucher: 'PIV-ABC',
      PostedOn: '2026-03-02T00:00:00.000Z',
    };
    const result = proposalFromMessage({ ...message, expectedLineCount: 9, expectedAmount: '1.00' }, posted);
    expect(result).toEqual(posted);
  });

  it('keeps the imported tax of an existing header, and leaves it absent on a header stored before tax was counted', () => {
    const existing: Proposal = { ...proposalFromMessage(message), ImportedLineCount: 2, ImportedAmount: '2500.00', ImportedTax: '475.00' };
    expect(proposalFromMessage(message, existing)).toMatchObject({ ImportedTax: '475.00', ExpectedTax: '779.10' });
    const { ImportedTax: _t, ExpectedTax: _e, ...legacy } = existing;
    const updated = proposalFromMessage(message, legacy);
    expect(updated.ExpectedTax).toBe('779.10');
    expect('ImportedTax' in updated).toBe(false);
  });

  it('refuses a header whose invoice number already belongs to another invoice', () => {
    const existing = proposalFromMessage({ ...message, invoiceId: id('other-invoice') });
    expect(() => proposalFromMessage(message, existing)).toThrow(
      `Invoice proposal INV-01001 already belongs to invoice ${id('other-invoice')}; the header of invoice ${id('invoice')} with the same invoice number is refused`,
    );
  });
});

describe('proposalFromMessage: a corrective invoice header becomes a credit proposal', () => {
  const credit: InvoiceProposalMessage = {
    proposalId: 'INV-01002',
    invoiceId: id('corrective-invoice'),
    contractId: id('contract'),
    customerId: id('customer'),
    customerAccount: 'US-001',
    currencyCode: 'EUR',
    invoiceDate: '2026-04-01',
    expectedLineCount: 3,
    expectedAmount: '-4100.5',
    expectedTax: '-779.10',
    confirmedOn: '2026-04-01T10:00:00.000Z',
    correctedInvoiceId: id('invoice'),
    correctedProposalId: 'INV-01001',
  };

  it('the same map, negative expected amount and tax, and the proposal and invoice it corrects', () => {
    expect(proposalFromMessage(credit)).toEqual({
      ProposalId: 'INV-01002',
      InvoiceId: id('corrective-invoice'),
      ContractId: id('contract'),
      CustomerAccount: 'US-001',
      CurrencyCode: 'EUR',
      InvoiceDate: '2026-04-01',
      ExpectedLineCount: 3,
      ExpectedAmount: '-4100.50',
      ExpectedTax: '-779.10',
      ImportedLineCount: 0,
      ImportedAmount: '0.00',
      ImportedTax: '0.00',
      Status: 'Open',
      CorrectedProposalId: 'INV-01001',
      CorrectedInvoiceId: id('invoice'),
    });
    expect(isCreditProposal(proposalFromMessage(credit))).toBe(true);
  });

  it('a correction that keeps everything expects 0.00', () => {
    expect(proposalFromMessage({ ...credit, expectedAmount: '0', expectedTax: '0.00' })).toMatchObject({ ExpectedAmount: '0.00', ExpectedTax: '0.00', CorrectedProposalId: 'INV-01001' });
  });

  it('an ordinary header is no credit proposal', () => {
    const { correctedInvoiceId: _i, correctedProposalId: _p, ...plain } = credit;
    const p = proposalFromMessage(plain);
    expect(isCreditProposal(p)).toBe(false);
    expect('CorrectedProposalId' in p || 'CorrectedInvoiceId' in p).toBe(false);
  });

  it('the message schema takes both fields or neither, and no self-correction', () => {
    expect(invoiceProposalMessage.parse(credit)).toMatchObject({ correctedProposalId: 'INV-01001', correctedInvoiceId: id('invoice'), expectedAmount: '-4100.5' });
    const { correctedInvoiceId: _i, ...onlyProposal } = credit;
    expect(invoiceProposalMessage.safeParse(onlyProposal).success).toBe(false);
    const { correctedProposalId: _p, ...onlyInvoice } = credit;
    expect(invoiceProposalMessage.safeParse(onlyInvoice).success).toBe(false);
    expect(invoiceProposalMessage.safeParse({ ...credit, correctedProposalId: 'INV-01002' }).success).toBe(false);
    expect(invoiceProposalMessage.safeParse({ ...credit, correctedInvoiceId: id('corrective-invoice') }).success).toBe(false);
    expect(invoiceProposalMessage.safeParse({ ...credit, correctedInvoiceId: 'not-a-guid' }).success).toBe(false);
  });
});
