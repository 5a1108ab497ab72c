import { describe, expect, it } from 'vitest';
import {
  canConfirm,
  checkConfirmation,
  confirmationActualId,
  ConfirmationPlanner,
  ConfirmationRefusalCode,
  ConfirmationRefused,
  ConfirmationRole,
  planConfirmation,
  type ConfirmationInput,
  type ConfirmationPlan,
} from '../../../shared/dataverse/rules/confirmation/plan';
import type {
  Account,
  Actual,
  Contract,
  ContractLine,
  Invoice,
  InvoiceLine,
  InvoiceLineDetail,
  Milestone,
} from '../../../shared/dataverse/records';
import { actualSchema, invoiceLineSchema, invoiceSchema, milestoneSchema } from '../../../shared/dataverse/records';
import { deterministicGuid } from '../../../shared/core/ids';
import {
  AdjustmentStatus,
  BillingMethod,
  BillingStatus,
  BillingType,
  InvoiceStatus,
  MilestoneStatus,
  TransactionClass,
  TransactionType,
} from '../../../shared/core/options';
import { invoiceProposalMessage } from '../../../shared/messages';

// ---- fixtures ---------------------------------------------------------------------------------

/** A valid lowercase GUID from a small number and a 4-hex-digit family tag (readable in failures). */
function guid(family: string, n: number): string {
  return `${family.padStart(8, '0')}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

const INVOICE_ID = guid('1', 1);
const CONTRACT_ID = guid('2', 1);
const CUSTOMER_ID = guid('3', 1);
const PROJECT_ID = guid('4', 1);
const CL_TM = guid('5', 1); // contract line, time and material
const CL_FP = guid('5', 2); // contract line, fixed price
const LINE_TM = guid('6', 1); // invoice line for CL_TM
const LINE_FP = guid('6', 2); // invoice line for CL_FP
const actualId = (n: number) => guid('a', n);
const ildId = (n: number) => guid('d', n);
const milestoneId = (n: number) => guid('e', n);

const INVOICE_DATE = '2024-03-31';
const DOC_DATE = '2024-03-10';
const CONFIRMED_ON = '2024-04-02T09:30:00.000Z';

function makeInvoice(overrides: Partial<Invoice> = {}): Invoice {
  return {
    invoiceid: INVOICE_ID,
    invoicenumber: 'INV-000123',
    name: 'March 2024',
    customerid: CUSTOMER_ID,
    salesorderid: CONTRACT_ID,
    transactioncurrencyid: 'EUR',
    msdyn_projectinvoicestatus: InvoiceStatus.Draft,
    msdyn_invoicedate: INVOICE_DATE,
    totalamount: '0.00',
    totaltax: '0.00',
    ...overrides,
  };
}

function makeLine(id: string, contractLine: string, method: BillingMethod): InvoiceLine {
  return {
    invoicedetailid: id,
    invoiceid: INVOICE_ID,
    salesorderdetailid: contractLine,
    msdyn_billingmethod: method,
    extendedamount: '0.00',
    tax: '0.00',
  };
}

function makeContractLine(id: string, method: BillingMethod): ContractLine {
  return {
    salesorderdetailid: id,
    salesorderid: CONTRACT_ID,
    productdescription: method === BillingMethod.FixedPrice ? 'Fixed fee' : 'Consulting',
    msdyn_billingmethod: method,
    msdyn_project: PROJECT_ID,
  };
}

/** An unbilled sales actual on an invoice draft: 8 h of Time at 100, Customer Invoice Created. */
function makeActual(n: number, overrides: Partial<Actual> = {}): Actual {
  return {
    msdyn_actualid: actualId(n),
    msdyn_transactiontypecode: TransactionType.UnbilledSales,
    msdyn_transactionclassification: TransactionClass.Time,
    msdyn_billingtype: BillingType.Chargeable,
    msdyn_billingstatus: BillingStatus.CustomerInvoiceCreated,
    msdyn_quantity: '8',
    msdyn_price: '100.00',
    msdyn_amount: '800.00',
    transactioncurrencyid: 'EUR',
    msdyn_documentdate: DOC_DATE,
    msdyn_accountingdate: DOC_DATE,
    msdyn_project: PROJECT_ID,
    msdyn_salescontract: CONTRACT_ID,
    msdyn_salescontractlineid: CL_TM,
    msdyn_accountcustomer: CUSTOMER_ID,
    msdyn_skipsync: false,
    // As written back by F&O import: must never be copied to new actuals.
    msdyn_externalreferenceid: 'PRJ-V-0001',
    msdyn_postingdate: DOC_DATE,
    msdyn_accountingcurrency: 'USD',
    msdyn_accountingamount: '868.00',
    msdyn_exchangerate: '1.085000',
    ...overrides,
  };
}

/** The ILD of an actual as invoice creation makes it (unchanged), with the given overrides. */
function ildOf(n: number, source: Actual, overrides: Partial<InvoiceLineDetail> = {}): InvoiceLineDetail {
  return {
    msdyn_invoicelinetransactionid: ildId(n),
    msdyn_invoice: INVOICE_ID,
    msdyn_invoicelineid: LINE_TM,
    msdyn_salescontractlineid: source.msdyn_salescontractlineid,
    msdyn_project: source.msdyn_project,
    msdyn_transactionclassification: source.msdyn_transactionclassification,
    msdyn_billingtype: source.msdyn_billingtype,
    msdyn_quantity: source.msdyn_quantity,
    msdyn_price: source.msdyn_price,
    msdyn_amount: source.msdyn_amount,
    msdyn_tax: '0.00',
    transactioncurrencyid: source.transactioncurrencyid,
    msdyn_documentdate: source.msdyn_documentdate,
    msdyn_sourceactual: source.msdyn_actualid,
    ...overrides,
  };
}

/** A manual ILD (no actual behind it). */
function manualIld(n: number, overrides: Partial<InvoiceLineDetail> = {}): InvoiceLineDetail {
  return {
    msdyn_invoicelinetransactionid: ildId(n),
    msdyn_invoice: INVOICE_ID,
    msdyn_invoicelineid: LINE_TM,
    msdyn_salescontractlineid: CL_TM,
    msdyn_project: PROJECT_ID,
    msdyn_transactionclassification: TransactionClass.Expense,
    msdyn_billingtype: BillingType.Chargeable,
    msdyn_quantity: '2',
    msdyn_price: '45.50',
    msdyn_amount: '91.00',
    msdyn_tax: '0.00',
    transactioncurrencyid: 'EUR',
    msdyn_documentdate: '2024-03-15',
    ...overrides,
  };
}

function makeMilestone(n: number, overrides: Partial<Milestone> = {}): Milestone {
  return {
    msdyn_contractlinescheduleofvalueid: milestoneId(n),
    msdyn_contractlineid: CL_FP,
    msdyn_name: 'Design sign-off',
    msdyn_amount: '5000.00',
    msdyn_invoicestatus: MilestoneStatus.CustomerInvoiceCreated,
    msdyn_milestonedate: '2024-03-20',
    ...overrides,
  };
}

function milestoneIld(n: number, milestone: Milestone, overrides: Partial<InvoiceLineDetail> = {}): InvoiceLineDetail {
  return {
    msdyn_invoicelinetransactionid: ildId(n),
    msdyn_invoice: INVOICE_ID,
    msdyn_invoicelineid: LINE_FP,
    msdyn_salescontractlineid: CL_FP,
    msdyn_project: PROJECT_ID,
    msdyn_transactionclassification: TransactionClass.Milestone,
    msdyn_billingtype: BillingType.Chargeable,
    msdyn_quantity: '1',
    msdyn_price: milestone.msdyn_amount,
    msdyn_amount: milestone.msdyn_amount,
    msdyn_tax: '0.00',
    transactioncurrencyid: 'EUR',
    msdyn_documentdate: milestone.msdyn_milestonedate,
    msdyn_milestone: milestone.msdyn_contractlinescheduleofvalueid,
    ...overrides,
  };
}

const CONTRACT: Contract = {
  salesorderid: CONTRACT_ID,
  name: 'Contoso rollout',
  ordernumber: 'ORD-0042',
  customerid: CUSTOMER_ID,
  transactioncurrencyid: 'EUR',
};
const ACCOUNT: Account = { accountid: CUSTOMER_ID, name: 'Contoso', accountnumber: 'US-001' };

function makeInput(parts: {
  details: InvoiceLineDetail[];
  actuals?: Actual[];
  milestones?: Milestone[];
  invoice?: Partial<Invoice>;
  lines?: InvoiceLine[];
  resume?: boolean;
}): ConfirmationInput {
  const input: ConfirmationInput = {
    invoice: makeInvoice(parts.invoice),
    lines: parts.lines ?? [
      makeLine(LINE_TM, CL_TM, BillingMethod.TimeAndMaterial),
      makeLine(LINE_FP, CL_FP, BillingMethod.FixedPrice),
    ],
    details: parts.details,
    sourceActuals: new Map((parts.actuals ?? []).map((a) => [a.msdyn_actualid, a])),
    milestones: new Map((parts.milestones ?? []).map((m) => [m.msdyn_contractlinescheduleofvalueid, m])),
    contract: CONTRACT,
    contractLines: new Map([
      [CL_TM, makeContractLine(CL_TM, BillingMethod.TimeAndMaterial)],
      [CL_FP, makeContractLine(CL_FP, BillingMethod.FixedPrice)],
    ]),
    account: ACCOUNT,
    confirmedOn: CONFIRMED_ON,
  };
  if (parts.resume !== undefined) input.resume = parts.resume;
  return input;
}

const idOf = (ild: number, role: ConfirmationRole) => confirmationActualId(INVOICE_ID, ildId(ild), role);

/** The fields the rules decide, every key always present (undefined = absent on the record). */
function shape(a: Actual) {
  return {
    id: a.msdyn_actualid,
    type: a.msdyn_transactiontypecode,
    cls: a.msdyn_transactionclassification,
    billingType: a.msdyn_billingtype,
    billingStatus: a.msdyn_billingstatus,
    adjustment: a.msdyn_adjustmentstatus,
    qty: a.msdyn_quantity,
    price: a.msdyn_price,
    amount: a.msdyn_amount,
    skipSync: a.msdyn_skipsync,
    invoice: a.msdyn_invoice,
    unbilled: a.msdyn_unbilledactual,
    reversed: a.msdyn_reversedactual,
    tax: a.msdyn_salestaxamount,
  };
}
type Shape = ReturnType<typeof shape>;

const { UnbilledSales: UNB, BilledSales: BILLED } = TransactionType;
const POSTED = BillingStatus.CustomerInvoicePosted;

function expectValidRecords(plan: ConfirmationPlan) {
  for (const a of [...plan.newActuals, ...plan.updatedActuals]) expect(() => actualSchema.parse(a)).not.toThrow();
  for (const m of plan.updatedMilestones) expect(() => milestoneSchema.parse(m)).not.toThrow();
  for (const l of plan.lines) expect(() => invoiceLineSchema.parse(l)).not.toThrow();
  expect(() => invoiceSchema.parse(plan.invoice)).not.toThrow();
  expect(() => invoiceProposalMessage.parse(plan.proposal)).not.toThrow();
  // Record hygiene: no undefined-valued keys, no F&O-written fields on new actuals.
  for (const a of plan.newActuals) {
    expect(Object.values(a)).not.toContain(undefined);
    expect(a.msdyn_externalreferenceid).toBeUndefined();
    expect(a.msdyn_accountingamount).toBeUndefined();
    expect(a.msdyn_postingdate).toBeUndefined();
  }
}

/** The plan's refusal; the dry run (checkConfirmation) must refuse the same way. */
function refusal(input: ConfirmationInput): ConfirmationRefused {
  let refused: ConfirmationRefused | undefined;
  try {
    planConfirmation(input);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfirmationRefused);
    refused = e as ConfirmationRefused;
  }
  if (refused === undefined) throw new Error('expected a ConfirmationRefused, but the plan succeeded');
  let checked: unknown;
  try {
    checkConfirmation(input);
  } catch (e) {
    checked = e;
  }
  expect(checked).toBeInstanceOf(ConfirmationRefused);
  const { code, reason, detailId } = checked as ConfirmationRefused;
  expect({ code, reason, detailId }).toEqual({ code: refused.code, reason: refused.reason, detailId: refused.detailId });
  return refused;
}

/** Rows for `it.each(...)('%s', ...)` that carry their own test name (`$name` would print it quoted). */
function named<T extends { name: string }>(rows: T[]): [string, T][] {
  return rows.map((row) => [row.name, row]);
}

// ---- the cases --------------------------------------------------------------------------------

describe('planConfirmation: unchanged ILD from an unbilled actual', () => {
  const source = makeActual(1);
  const ild = ildOf(1, source, { msdyn_tax: '152.00' });
  const plan = planConfirmation(makeInput({ details: [ild], actuals: [source] }));

  it('creates an unbilled sales reversal (skip-sync) and a billed sales actual equal to the ILD', () => {
    expect(plan.newActuals).toStrictEqual([
      {
        msdyn_actualid: idOf(1, 'unbilled-reversal'),
        msdyn_transactiontypecode: UNB,
        msdyn_transactionclassification: TransactionClass.Time,
        msdyn_billingtype: BillingType.Chargeable,
        msdyn_billingstatus: POSTED,
        msdyn_quantity: '-8',
        msdyn_price: '100.00',
        msdyn_amount: '-800.00',
        transactioncurrencyid: 'EUR',
        msdyn_documentdate: DOC_DATE,
        msdyn_accountingdate: INVOICE_DATE,
        msdyn_project: PROJECT_ID,
        msdyn_salescontract: CONTRACT_ID,
        msdyn_salescontractlineid: CL_TM,
        msdyn_accountcustomer: CUSTOMER_ID,
        msdyn_reversedactual: source.msdyn_actualid,
        msdyn_skipsync: true,
      },
      {
        msdyn_actualid: idOf(1, 'billed'),
        msdyn_transactiontypecode: BILLED,
        msdyn_transactionclassification: TransactionClass.Time,
        msdyn_billingtype: BillingType.Chargeable,
        msdyn_billingstatus: POSTED,
        msdyn_quantity: '8',
        msdyn_price: '100.00',
        msdyn_amount: '800.00',
        transactioncurrencyid: 'EUR',
        msdyn_documentdate: DOC_DATE,
        msdyn_accountingdate: INVOICE_DATE,
        msdyn_project: PROJECT_ID,
        msdyn_salescontract: CONTRACT_ID,
        msdyn_salescontractlineid: CL_TM,
        msdyn_accountcustomer: CUSTOMER_ID,
        msdyn_invoice: INVOICE_ID,
        msdyn_unbilledactual: source.msdyn_actualid,
        msdyn_skipsync: false,
        msdyn_salestaxamount: '152.00',
      },
    ]);
  });

  it('marks the original unbilled actual Customer Invoice Posted and keeps the rest of it', () => {
    expect(plan.updatedActuals).toStrictEqual([{ ...source, msdyn_billingstatus: POSTED }]);
    expect(plan.updatedMilestones).toEqual([]);
  });

  it('publishes only the billed actual', () => {
    expect(plan.actualsToPublish.map((a) => a.msdyn_actualid)).toEqual([idOf(1, 'billed')]);
  });

  it('confirms the invoice with totals from the ILDs and builds the proposal header', () => {
    expect(plan.invoice).toStrictEqual({
      ...makeInvoice(),
      msdyn_projectinvoicestatus: InvoiceStatus.Confirmed,
      msdyn_confirmedon: CONFIRMED_ON,
      totalamount: '800.00',
      totaltax: '152.00',
    });
    expect(plan.lines).toStrictEqual([
      { ...makeLine(LINE_TM, CL_TM, BillingMethod.TimeAndMaterial), extendedamount: '800.00', tax: '152.00' },
      { ...makeLine(LINE_FP, CL_FP, BillingMethod.FixedPrice), extendedamount: '0.00', tax: '0.00' },
    ]);
    expect(plan.proposal).toStrictEqual({
      proposalId: 'INV-000123',
      invoiceId: INVOICE_ID,
      contractId: CONTRACT_ID,
      customerId: CUSTOMER_ID,
      customerAccount: 'US-001',
      currencyCode: 'EUR',
      invoiceDate: INVOICE_DATE,
      expectedLineCount: 1,
      expectedAmount: '800.00',
      expectedTax: '152.00',
      confirmedOn: CONFIRMED_ON,
    });
    expectValidRecords(plan);
  });

  it('treats equal decimals written differently as unchanged', () => {
    const p = planConfirmation(
      makeInput({ details: [ildOf(1, source, { msdyn_quantity: '8.00', msdyn_price: '100' })], actuals: [source] }),
    );
    expect(p.newActuals.map((a) => a.msdyn_actualid)).toEqual([idOf(1, 'unbilled-reversal'), idOf(1, 'billed')]);
  });

  it('uses the ids deterministicGuid(invoiceId, ildId, role)', () => {
    expect(idOf(1, 'billed')).toBe(deterministicGuid(INVOICE_ID, ildId(1), 'billed'));
  });
});

describe('planConfirmation: changed ILD', () => {
  const source = makeActual(1);
  const S = source.msdyn_actualid;

  /** The expected adjustment reversal of the 8 h x 100 source. */
  const adjustmentReversal: Shape = {
    id: idOf(1, 'adjustment-reversal'),
    type: UNB,
    cls: TransactionClass.Time,
    billingType: BillingType.Chargeable,
    billingStatus: POSTED,
    adjustment: AdjustmentStatus.Unadjustable,
    qty: '-8',
    price: '100.00',
    amount: '-800.00',
    skipSync: false,
    invoice: undefined,
    unbilled: undefined,
    reversed: S,
    tax: undefined,
  };
  const adjustedSource = {
    ...source,
    msdyn_billingstatus: POSTED,
    msdyn_adjustmentstatus: AdjustmentStatus.Adjusted,
  };

  /** new unbilled + invoicing reversal + billed, as edited. */
  function edited(billingType: BillingType, qty: string, price: string, amt: string, tax = '0.00'): Shape[] {
    const unbilledId = idOf(1, 'unbilled');
    const common = { cls: TransactionClass.Time, billingType, billingStatus: POSTED, adjustment: undefined, price };
    return [
      { ...common, id: unbilledId, type: UNB, qty, amount: amt, skipSync: false, invoice: undefined, unbilled: undefined, reversed: undefined, tax: undefined },
      {
        ...common,
        id: idOf(1, 'unbilled-reversal'),
        type: UNB,
        qty: `-${qty}`,
        amount: amt === '0.00' ? '0.00' : `-${amt}`,
        skipSync: true,
        invoice: undefined,
        unbilled: undefined,
        reversed: unbilledId,
        tax: undefined,
      },
      { ...common, id: idOf(1, 'billed'), type: BILLED, qty, amount: amt, skipSync: false, invoice: INVOICE_ID, unbilled: unbilledId, reversed: undefined, tax },
    ];
  }

  it('quantity lowered: adjusts, re-creates as edited, and bills the remainder as non-chargeable', () => {
    const ild = ildOf(1, source, { msdyn_quantity: '6', msdyn_amount: '600.00', msdyn_tax: '114.00' });
    const plan = planConfirmation(makeInput({ details: [ild], actuals: [source] }));
    const remainderId = idOf(1, 'remainder-unbilled');
    const remainder = {
      cls: TransactionClass.Time,
      billingType: BillingType.NonChargeable,
      billingStatus: POSTED,
      adjustment: undefined,
      price: '100.00',
    };
    expect(plan.newActuals.map(shape)).toStrictEqual([
      adjustmentReversal,
      ...edited(BillingType.Chargeable, '6', '100.00', '600.00', '114.00'),
      { ...remainder, id: remainderId, type: UNB, qty: '2', amount: '0.00', skipSync: false, invoice: undefined, unbilled: undefined, reversed: undefined, tax: undefined },
      { ...remainder, id: idOf(1, 'remainder-unbilled-reversal'), type: UNB, qty: '-2', amount: '0.00', skipSync: true, invoice: undefined, unbilled: undefined, reversed: remainderId, tax: undefined },
      { ...remainder, id: idOf(1, 'remainder-billed'), type: BILLED, qty: '2', amount: '0.00', skipSync: false, invoice: INVOICE_ID, unbilled: remainderId, reversed: undefined, tax: '0.00' },
    ]);
    expect(plan.updatedActuals).toStrictEqual([adjustedSource]);
    expect(plan.actualsToPublish.map((a) => a.msdyn_actualid)).toEqual([
      idOf(1, 'adjustment-reversal'),
      idOf(1, 'unbilled'),
      idOf(1, 'billed'),
      remainderId,
      idOf(1, 'remainder-billed'),
    ]);
    expect(plan.invoice.totalamount).toBe('600.00');
    expect(plan.invoice.totaltax).toBe('114.00');
    expect(plan.proposal).toMatchObject({ expectedLineCount: 2, expectedAmount: '600.00', expectedTax: '114.00' });
    // Placement and dates of the new actuals.
    for (const a of plan.newActuals) {
      expect(a).toMatchObject({
        msdyn_accountingdate: INVOICE_DATE,
        msdyn_documentdate: DOC_DATE,
        msdyn_salescontract: CONTRACT_ID,
        msdyn_salescontractlineid: CL_TM,
        msdyn_project: PROJECT_ID,
        msdyn_accountcustomer: CUSTOMER_ID,
        transactioncurrencyid: 'EUR',
      });
    }
    expectValidRecords(plan);
  });

  it('quantity lowered with decimals: the remainder is exact', () => {
    const ild = ildOf(1, source, { msdyn_quantity: '7.25', msdyn_amount: '725.00' });
    const plan = planConfirmation(makeInput({ details: [ild], actuals: [source] }));
    const remainderBilled = plan.newActuals.find((a) => a.msdyn_actualid === idOf(1, 'remainder-billed'));
    expect(remainderBilled?.msdyn_quantity).toBe('0.75');
  });

  it.each(
    named([
      {
        name: 'quantity raised: no remainder',
        edit: { msdyn_quantity: '10', msdyn_amount: '1000.00' },
        asEdited: edited(BillingType.Chargeable, '10', '100.00', '1000.00'),
        total: '1000.00',
      },
      {
        name: 'price changed',
        edit: { msdyn_price: '120.00', msdyn_amount: '960.00' },
        asEdited: edited(BillingType.Chargeable, '8', '120.00', '960.00'),
        total: '960.00',
      },
      {
        name: 'billing type changed to Non Chargeable: amount 0',
        edit: { msdyn_billingtype: BillingType.NonChargeable, msdyn_amount: '0.00' },
        asEdited: edited(BillingType.NonChargeable, '8', '100.00', '0.00'),
        total: '0.00',
      },
      {
        name: 'billing type changed to Complimentary: amount 0',
        edit: { msdyn_billingtype: BillingType.Complimentary, msdyn_amount: '0' },
        asEdited: edited(BillingType.Complimentary, '8', '100.00', '0.00'),
        total: '0.00',
      },
    ]),
  )('%s', (_name, { edit, asEdited, total }) => {
    const plan = planConfirmation(makeInput({ details: [ildOf(1, source, edit)], actuals: [source] }));
    expect(plan.newActuals.map(shape)).toStrictEqual([adjustmentReversal, ...asEdited]);
    expect(plan.updatedActuals).toStrictEqual([adjustedSource]);
    expect(plan.invoice.totalamount).toBe(total);
    expect(plan.proposal).toMatchObject({ expectedLineCount: 1, expectedAmount: total });
    expectValidRecords(plan);
  });

  it('quantity lowered AND made non-chargeable: edited part and remainder are both non-chargeable at 0', () => {
    const ild = ildOf(1, source, {
      msdyn_quantity: '5',
      msdyn_billingtype: BillingType.NonChargeable,
      msdyn_amount: '0.00',
    });
    const plan = planConfirmation(makeInput({ details: [ild], actuals: [source] }));
    expect(plan.newActuals).toHaveLength(7);
    expect(plan.newActuals.map((a) => [a.msdyn_billingtype, a.msdyn_quantity, a.msdyn_amount])).toEqual([
      [BillingType.Chargeable, '-8', '-800.00'],
      [BillingType.NonChargeable, '5', '0.00'],
      [BillingType.NonChargeable, '-5', '0.00'],
      [BillingType.NonChargeable, '5', '0.00'],
      [BillingType.NonChargeable, '3', '0.00'],
      [BillingType.NonChargeable, '-3', '0.00'],
      [BillingType.NonChargeable, '3', '0.00'],
    ]);
  });
});

describe('planConfirmation: milestone ILD', () => {
  it('bills the milestone amount once and marks the milestone Customer invoice posted', () => {
    const milestone = makeMilestone(1);
    const ild = milestoneIld(1, milestone, { msdyn_tax: '950.00' });
    const plan = planConfirmation(makeInput({ details: [ild], milestones: [milestone] }));
    expect(plan.newActuals).toStrictEqual([
      {
        msdyn_actualid: idOf(1, 'billed'),
        msdyn_transactiontypecode: BILLED,
        msdyn_transactionclassification: TransactionClass.Milestone,
        msdyn_billingtype: BillingType.Chargeable,
        msdyn_billingstatus: POSTED,
        msdyn_quantity: '1',
        msdyn_price: '5000.00',
        msdyn_amount: '5000.00',
        transactioncurrencyid: 'EUR',
        msdyn_documentdate: '2024-03-20',
        msdyn_accountingdate: INVOICE_DATE,
        msdyn_project: PROJECT_ID,
        msdyn_salescontract: CONTRACT_ID,
        msdyn_salescontractlineid: CL_FP,
        msdyn_accountcustomer: CUSTOMER_ID,
        msdyn_invoice: INVOICE_ID,
        msdyn_skipsync: false,
        msdyn_salestaxamount: '950.00',
      },
    ]);
    expect(plan.updatedMilestones).toStrictEqual([
      { ...milestone, msdyn_invoicestatus: MilestoneStatus.CustomerInvoicePosted },
    ]);
    expect(plan.updatedActuals).toEqual([]);
    expect(plan.actualsToPublish).toEqual(plan.newActuals);
    expect(plan.invoice).toMatchObject({ totalamount: '5000.00', totaltax: '950.00' });
    expect(plan.lines.find((l) => l.invoicedetailid === LINE_FP)).toMatchObject({
      extendedamount: '5000.00',
      tax: '950.00',
    });
    expect(plan.proposal).toMatchObject({ expectedLineCount: 1, expectedAmount: '5000.00', expectedTax: '950.00' });
    expectValidRecords(plan);
  });
});

describe('planConfirmation: manual ILD', () => {
  it('on a T&M line: new unbilled (synced), its reversal (skip-sync) and a billed actual', () => {
    const ild = manualIld(1, { msdyn_tax: '17.29' });
    const plan = planConfirmation(makeInput({ details: [ild] }));
    const unbilledId = idOf(1, 'unbilled');
    const common = {
      cls: TransactionClass.Expense,
      billingType: BillingType.Chargeable,
      billingStatus: POSTED,
      adjustment: undefined,
      price: '45.50',
    };
    expect(plan.newActuals.map(shape)).toStrictEqual([
      { ...common, id: unbilledId, type: UNB, qty: '2', amount: '91.00', skipSync: false, invoice: undefined, unbilled: undefined, reversed: undefined, tax: undefined },
      { ...common, id: idOf(1, 'unbilled-reversal'), type: UNB, qty: '-2', amount: '-91.00', skipSync: true, invoice: undefined, unbilled: undefined, reversed: unbilledId, tax: undefined },
      { ...common, id: idOf(1, 'billed'), type: BILLED, qty: '2', amount: '91.00', skipSync: false, invoice: INVOICE_ID, unbilled: unbilledId, reversed: undefined, tax: '17.29' },
    ]);
    for (const a of plan.newActuals) {
      expect(a).toMatchObject({ msdyn_documentdate: '2024-03-15', msdyn_accountingdate: INVOICE_DATE });
    }
    expect(plan.updatedActuals).toEqual([]);
    expect(plan.actualsToPublish.map((a) => a.msdyn_actualid)).toEqual([unbilledId, idOf(1, 'billed')]);
    expect(plan.proposal).toMatchObject({ expectedLineCount: 1, expectedAmount: '91.00', expectedTax: '17.29' });
    expectValidRecords(plan);
  });

  it('on a fixed-price line: a billed actual only, billing no unbilled actual', () => {
    const ild = manualIld(1, {
      msdyn_invoicelineid: LINE_FP,
      msdyn_salescontractlineid: CL_FP,
      msdyn_transactionclassification: TransactionClass.Fee,
      msdyn_quantity: '1',
      msdyn_price: '250.00',
      msdyn_amount: '250.00',
    });
    const plan = planConfirmation(makeInput({ details: [ild] }));
    expect(plan.newActuals.map(shape)).toStrictEqual([
      {
        id: idOf(1, 'billed'),
        type: BILLED,
        cls: TransactionClass.Fee,
        billingType: BillingType.Chargeable,
        billingStatus: POSTED,
        adjustment: undefined,
        qty: '1',
        price: '250.00',
        amount: '250.00',
        skipSync: false,
        invoice: INVOICE_ID,
        unbilled: undefined,
        reversed: undefined,
        tax: '0.00',
      },
    ]);
    expect(plan.actualsToPublish).toEqual(plan.newActuals);
    expect(plan.proposal).toMatchObject({ expectedLineCount: 1, expectedAmount: '250.00' });
  });
});

describe('planConfirmation: a mixed invoice', () => {
  const a1 = makeActual(1); // unchanged, 800
  const a2 = makeActual(2, { msdyn_quantity: '4', msdyn_amount: '400.00' }); // lowered to 3 -> 300
  const a3 = makeActual(3, {
    msdyn_transactionclassification: TransactionClass.Material,
    msdyn_quantity: '3',
    msdyn_price: '19.99',
    msdyn_amount: '59.97',
  }); // made complimentary -> 0
  const m1 = makeMilestone(1, { msdyn_amount: '1234.56' });
  const details = [
    ildOf(1, a1, { msdyn_tax: '152.00' }),
    ildOf(2, a2, { msdyn_quantity: '3', msdyn_amount: '300.00', msdyn_tax: '57.00' }),
    ildOf(3, a3, { msdyn_billingtype: BillingType.Complimentary, msdyn_amount: '0.00' }),
    milestoneIld(4, m1, { msdyn_tax: '234.57' }),
    manualIld(5, { msdyn_tax: '17.29' }), // T&M, 91.00
    manualIld(6, {
      msdyn_invoicelineid: LINE_FP,
      msdyn_salescontractlineid: CL_FP,
      msdyn_transactionclassification: TransactionClass.Fee,
      msdyn_quantity: '0.5',
      msdyn_price: '33.33',
      msdyn_amount: '16.67', // 16.665 rounded half up
      msdyn_tax: '3.17',
    }),
  ];
  const plan = planConfirmation(makeInput({ details, actuals: [a1, a2, a3], milestones: [m1] }));

  it('is the same plan when a ConfirmationPlanner builds it one ILD at a time, and the dry run passes', () => {
    const input = makeInput({ details, actuals: [a1, a2, a3], milestones: [m1] });
    const planner = new ConfirmationPlanner(input);
    const records = planner.details.map((ild) => planner.plan(ild));
    const { invoice, lines, proposal } = planner.finish();
    expect({
      invoice,
      lines,
      proposal,
      newActuals: records.flatMap((r) => r.newActuals),
      updatedActuals: records.flatMap((r) => (r.updatedActual ? [r.updatedActual] : [])),
      updatedMilestones: records.flatMap((r) => (r.updatedMilestone ? [r.updatedMilestone] : [])),
    }).toEqual({ invoice: plan.invoice, lines: plan.lines, proposal: plan.proposal, newActuals: plan.newActuals, updatedActuals: plan.updatedActuals, updatedMilestones: plan.updatedMilestones });
    expect(() => checkConfirmation(input)).not.toThrow();
    // ILDs out of order, or finishing early, is a bug in the caller.
    const early = new ConfirmationPlanner(input);
    expect(() => early.plan(early.details[1]!)).toThrow(/out of order/);
    expect(() => early.finish()).toThrow(/finish after 0 of 6/);
  });

  it('totals the invoice, each line and the proposal with tax', () => {
    // 800 + 300 + 0 + 1234.56 + 91 + 16.67 ; tax 152 + 57 + 0 + 234.57 + 17.29 + 3.17
    expect(plan.invoice).toMatchObject({
      msdyn_projectinvoicestatus: InvoiceStatus.Confirmed,
      totalamount: '2442.23',
      totaltax: '464.03',
    });
    expect(plan.lines.map((l) => [l.invoicedetailid, l.extendedamount, l.tax])).toEqual([
      [LINE_TM, '1191.00', '226.29'],
      [LINE_FP, '1251.23', '237.74'],
    ]);
    const billed = plan.newActuals.filter((a) => a.msdyn_transactiontypecode === BILLED);
    // 1 unchanged + 2 lowered (edited + remainder) + 1 complimentary + 1 milestone + 2 manual
    expect(billed).toHaveLength(7);
    expect(plan.proposal).toMatchObject({
      expectedLineCount: 7,
      expectedAmount: '2442.23',
      expectedTax: '464.03',
    });
    expectValidRecords(plan);
  });

  it('gives every billed actual the invoice, and only billed actuals', () => {
    for (const a of plan.newActuals) {
      if (a.msdyn_transactiontypecode === BILLED) expect(a.msdyn_invoice).toBe(INVOICE_ID);
      else expect(a.msdyn_invoice).toBeUndefined();
    }
  });

  it('counts and orders the records by ILD id then role', () => {
    expect(plan.newActuals).toHaveLength(2 + 7 + 4 + 1 + 3 + 1);
    expect(plan.updatedActuals.map((a) => a.msdyn_actualid)).toEqual([actualId(1), actualId(2), actualId(3)]);
    expect(plan.updatedMilestones.map((m) => m.msdyn_contractlinescheduleofvalueid)).toEqual([milestoneId(1)]);
    expect(plan.actualsToPublish).toEqual(plan.newActuals.filter((a) => !a.msdyn_skipsync));
    expect(new Set(plan.newActuals.map((a) => a.msdyn_actualid)).size).toBe(plan.newActuals.length);
  });

  it('makes every unbilled actual a billed actual bills exist in the plan or be a source actual', () => {
    const known = new Set([...plan.newActuals, a1, a2, a3].map((a) => a.msdyn_actualid));
    for (const a of plan.newActuals) {
      if (a.msdyn_unbilledactual !== undefined) expect(known.has(a.msdyn_unbilledactual)).toBe(true);
      if (a.msdyn_reversedactual !== undefined) expect(known.has(a.msdyn_reversedactual)).toBe(true);
    }
  });

  it('is deterministic: planned twice, or from shuffled input, gives the same plan', () => {
    const again = planConfirmation(makeInput({ details, actuals: [a1, a2, a3], milestones: [m1] }));
    expect(again).toStrictEqual(plan);
    const shuffled = makeInput({
      details: [...details].reverse(),
      actuals: [a3, a1, a2],
      milestones: [m1],
      lines: [
        makeLine(LINE_FP, CL_FP, BillingMethod.FixedPrice),
        makeLine(LINE_TM, CL_TM, BillingMethod.TimeAndMaterial),
      ],
    });
    expect(planConfirmation(shuffled)).toStrictEqual(plan);
  });

  it('does not mutate its input', () => {
    const input = makeInput({ details, actuals: [a1, a2, a3], milestones: [m1] });
    const before = structuredClone({ ...input, sourceActuals: [...input.sourceActuals], milestones: [...input.milestones] });
    planConfirmation(input);
    expect({ ...input, sourceActuals: [...input.sourceActuals], milestones: [...input.milestones] }).toStrictEqual(before);
  });
});

describe('canConfirm', () => {
  it('allows Draft and In Review only', () => {
    expect(canConfirm(InvoiceStatus.Draft)).toEqual({ ok: true });
    expect(canConfirm(InvoiceStatus.InReview)).toEqual({ ok: true });
    for (const s of [InvoiceStatus.Confirmed, InvoiceStatus.Paid, InvoiceStatus.Posted]) {
      const r = canConfirm(s);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(/only a Draft or In Review invoice can be confirmed/);
    }
    const confirmed = canConfirm(InvoiceStatus.Confirmed);
    expect(!confirmed.ok && confirmed.reason).toMatch(/is Confirmed/);
  });

  it('In Review plans like Draft', () => {
    const source = makeActual(1);
    const plan = planConfirmation(
      makeInput({ details: [ildOf(1, source)], actuals: [source], invoice: { msdyn_projectinvoicestatus: InvoiceStatus.InReview } }),
    );
    expect(plan.invoice.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Confirmed);
  });
});

describe('planConfirmation: refusals', () => {
  const source = makeActual(1);
  const ild = ildOf(1, source);
  const m = makeMilestone(1);
  const Code = ConfirmationRefusalCode;

  /** One input with one problem: the refusal's code, what its reason says, the ILD it names. */
  interface RefusalCase {
    name: string;
    input: () => ConfirmationInput;
    code: ConfirmationRefusalCode;
    says?: (string | RegExp)[];
    detailId?: string;
  }
  /** The unchanged ILD of the source actual `s`. */
  const fromActual = (s: Actual): ConfirmationInput => makeInput({ details: [ildOf(1, s)], actuals: [s] });
  /** The ILD of the default source actual, with some fields edited. */
  const withIld = (overrides: Partial<InvoiceLineDetail>): ConfirmationInput =>
    makeInput({ details: [ildOf(1, source, overrides)], actuals: [source] });
  const invoiceStatuses = [
    ['Confirmed', InvoiceStatus.Confirmed],
    ['Paid', InvoiceStatus.Paid],
    ['Posted', InvoiceStatus.Posted],
  ] as const;
  const billingStatuses = [
    ['Ready to Invoice', BillingStatus.ReadyToInvoice],
    ['Unbilled Sales Created', BillingStatus.UnbilledSalesCreated],
    ['Customer Invoice Posted', BillingStatus.CustomerInvoicePosted],
    ['Canceled', BillingStatus.Canceled],
  ] as const;
  const adjustmentStatuses = [
    ['Adjusted', AdjustmentStatus.Adjusted],
    ['Unadjustable', AdjustmentStatus.Unadjustable],
  ] as const;

  it.each(
    named<RefusalCase>([
      // The invoice.
      ...invoiceStatuses.map(([label, status]) => ({
        name: `refuses an invoice in status ${label}`,
        input: () => makeInput({ details: [ild], actuals: [source], invoice: { msdyn_projectinvoicestatus: status } }),
        code: Code.InvoiceStatus,
        says: ['INV-000123', `is ${label}`],
      })),
      {
        name: 'refuses an invoice with no ILDs',
        input: () => makeInput({ details: [] }),
        code: Code.NoDetails,
        says: [/no invoice line details/],
      },
      // The source actual.
      {
        name: 'refuses an ILD whose source actual is missing, naming the ILD and the actual',
        input: () => makeInput({ details: [ild], actuals: [] }),
        code: Code.SourceActualMissing,
        says: [ildId(1), actualId(1)],
        detailId: ildId(1),
      },
      ...billingStatuses.map(([label, status]) => ({
        name: `refuses a source actual in billing status ${label}`,
        input: () => fromActual(makeActual(1, { msdyn_billingstatus: status })),
        code: Code.SourceActualNotInvoiceable,
        says: [label],
        detailId: ildId(1),
      })),
      {
        name: 'refuses a source actual without billing status',
        input: () => {
          const { msdyn_billingstatus: _omit, ...s } = makeActual(1);
          return fromActual(s);
        },
        code: Code.SourceActualNotInvoiceable,
      },
      ...adjustmentStatuses.map(([label, adj]) => ({
        name: `refuses a source actual that is ${label}`,
        input: () => fromActual(makeActual(1, { msdyn_adjustmentstatus: adj })),
        code: Code.SourceActualNotInvoiceable,
        says: [label],
      })),
      {
        name: 'refuses a source actual that is not unbilled sales',
        input: () => fromActual(makeActual(1, { msdyn_transactiontypecode: TransactionType.Cost })),
        code: Code.SourceActualNotInvoiceable,
        says: ['Cost'],
      },
      {
        name: 'refuses an ILD whose class differs from its source actual (class is immutable)',
        input: () => withIld({ msdyn_transactionclassification: TransactionClass.Expense }),
        code: Code.ClassChanged,
        says: [/class Expense.*is Time/],
      },
      // The milestone.
      {
        name: 'refuses a milestone ILD whose milestone is missing',
        input: () => makeInput({ details: [milestoneIld(1, m)], milestones: [] }),
        code: Code.MilestoneMissing,
        says: [milestoneId(1)],
        detailId: ildId(1),
      },
      {
        name: 'refuses a Milestone-class ILD that names no milestone',
        input: () => {
          const { msdyn_milestone: _omit, ...d } = milestoneIld(1, m);
          return makeInput({ details: [d] });
        },
        code: Code.MilestoneMissing,
      },
      {
        name: 'refuses a milestone that is not Customer invoice created',
        input: () => {
          const ready = makeMilestone(1, { msdyn_invoicestatus: MilestoneStatus.Ready });
          return makeInput({ details: [milestoneIld(1, ready)], milestones: [ready] });
        },
        code: Code.MilestoneNotInvoiceable,
      },
      {
        name: 'refuses a milestone ILD whose amount is not the milestone amount',
        input: () => makeInput({ details: [milestoneIld(1, m, { msdyn_amount: '4000.00' })], milestones: [m] }),
        code: Code.AmountMismatch,
      },
      // The amount and billing type.
      {
        name: 'refuses a chargeable ILD whose amount is not quantity x price',
        input: () => withIld({ msdyn_quantity: '6', msdyn_amount: '800.00' }),
        code: Code.AmountMismatch,
        says: [ildId(1), '600.00'],
        detailId: ildId(1),
      },
      {
        name: 'refuses a manual ILD whose amount is wrong',
        input: () => makeInput({ details: [manualIld(1, { msdyn_amount: '91.01' })] }),
        code: Code.AmountMismatch,
      },
      {
        name: 'refuses billing type Not Available',
        input: () =>
          makeInput({ details: [manualIld(1, { msdyn_billingtype: BillingType.NotAvailable, msdyn_amount: '0.00' })] }),
        code: Code.BillingTypeNotInvoiceable,
      },
    ]),
  )('%s', (_name, { input, code, says = [], detailId }) => {
    const r = refusal(input());
    expect(r.code).toBe(code);
    expect(r.message).toBe(r.reason);
    for (const s of says) {
      if (typeof s === 'string') expect(r.reason).toContain(s);
      else expect(r.reason).toMatch(s);
    }
    if (detailId !== undefined) expect(r.detailId).toBe(detailId);
  });

  it('refuses a non-chargeable or complimentary ILD with an amount', () => {
    for (const bt of [BillingType.NonChargeable, BillingType.Complimentary]) {
      const r = refusal(withIld({ msdyn_billingtype: bt }));
      expect(r.code).toBe(Code.AmountMismatch);
      expect(r.reason).toMatch(/must be 0\.00/);
    }
  });

  it('refuses records that do not belong together', () => {
    const withInvoice = (invoice: Partial<Invoice>) => makeInput({ details: [ild], actuals: [source], invoice });
    const withLines = (...lines: InvoiceLine[]) => makeInput({ details: [ild], actuals: [source], lines });
    const tmLine = makeLine(LINE_TM, CL_TM, BillingMethod.TimeAndMaterial);
    const otherContract = makeActual(1, { msdyn_salescontract: guid('2', 9) });
    const notTogether: [string, ConfirmationInput][] = [
      ['ILD of another invoice', withIld({ msdyn_invoice: guid('1', 9) })],
      ['ILD on an unknown line', withIld({ msdyn_invoicelineid: guid('6', 9) })],
      ['ILD in another currency', withIld({ transactioncurrencyid: 'USD' })],
      ['one actual, two ILDs', makeInput({ details: [ild, ildOf(2, source)], actuals: [source] })],
      ['duplicate ILD', makeInput({ details: [ild, ild], actuals: [source] })],
      ['another contract', withInvoice({ salesorderid: guid('2', 9) })],
      ['another customer', withInvoice({ customerid: guid('3', 9) })],
      ['confirmation time not ISO', { ...makeInput({ details: [ild], actuals: [source] }), confirmedOn: 'yesterday' }],
      ['one milestone, two ILDs', makeInput({ details: [milestoneIld(1, m), milestoneIld(2, m)], milestones: [m] })],
      // Added with the split of plan.ts: the other belonging checks.
      ['line of another invoice', withLines({ ...tmLine, invoiceid: guid('1', 9) })],
      ['line twice', withLines(tmLine, tmLine)],
      ['ILD on another contract line than its line', withIld({ msdyn_salescontractlineid: CL_FP })],
      ['line billing method differs from its contract line', withLines({ ...tmLine, msdyn_billingmethod: BillingMethod.FixedPrice })],
      [
        'ILD names a milestone and an actual',
        makeInput({ details: [milestoneIld(1, m, { msdyn_sourceactual: actualId(1) })], milestones: [m], actuals: [source] }),
      ],
      ['source actual of another contract', makeInput({ details: [ildOf(1, otherContract)], actuals: [otherContract] })],
    ];
    for (const [what, input] of notTogether) expect(refusal(input).code, what).toBe(Code.InconsistentInput);
  });

  it('refuses the whole invoice when any one ILD is refused (nothing is planned)', () => {
    const good = ildOf(1, source);
    const missing = ildOf(2, makeActual(2));
    expect(() => planConfirmation(makeInput({ details: [good, missing], actuals: [source] }))).toThrow(
      ConfirmationRefused,
    );
  });
});

describe('planConfirmation: resume after a partial write', () => {
  const a1 = makeActual(1);
  const a2 = makeActual(2);
  const m1 = makeMilestone(1);
  const details = [ildOf(1, a1), ildOf(2, a2, { msdyn_quantity: '5', msdyn_amount: '500.00' }), milestoneIld(3, m1)];
  const first = planConfirmation(makeInput({ details, actuals: [a1, a2], milestones: [m1] }));
  const written = new Map(first.updatedActuals.map((a) => [a.msdyn_actualid, a]));

  it('is refused without resume once the source actuals were updated', () => {
    const r = refusal(makeInput({ details, actuals: [written.get(actualId(1))!, a2], milestones: [m1] }));
    expect(r.code).toBe(ConfirmationRefusalCode.SourceActualNotInvoiceable);
  });

  it('re-plans the same plan when some updates were written', () => {
    const again = planConfirmation(
      makeInput({ details, actuals: [written.get(actualId(1))!, a2], milestones: [m1], resume: true }),
    );
    expect(again).toStrictEqual(first);
  });

  it('re-plans the same plan when everything was written, including the invoice', () => {
    const again = planConfirmation({
      ...makeInput({
        details,
        actuals: [...written.values()],
        milestones: first.updatedMilestones,
        invoice: first.invoice,
        resume: true,
      }),
      confirmedOn: '2030-01-01T00:00:00.000Z', // the stored msdyn_confirmedon wins
    });
    expect(again).toStrictEqual(first);
  });

  it('still refuses an actual in a state this plan would not give it', () => {
    // ILD 1 is unchanged: an Adjusted source cannot be its own earlier write.
    const adjusted = { ...written.get(actualId(1))!, msdyn_adjustmentstatus: AdjustmentStatus.Adjusted };
    const r = refusal(makeInput({ details, actuals: [adjusted, a2], milestones: [m1], resume: true }));
    expect(r.code).toBe(ConfirmationRefusalCode.SourceActualNotInvoiceable);
    const posted = refusal(
      makeInput({ details, actuals: [a1, a2], milestones: [m1], invoice: { msdyn_projectinvoicestatus: InvoiceStatus.Posted }, resume: true }),
    );
    expect(posted.code).toBe(ConfirmationRefusalCode.InvoiceStatus);
  });
});

describe('planConfirmation at scale', () => {
  it('plans 10,000 ILDs', () => {
    const actuals: Actual[] = [];
    const details: InvoiceLineDetail[] = [];
    for (let i = 1; i <= 10_000; i++) {
      const a = makeActual(i);
      actuals.push(a);
      // every 4th ILD lowered to 6 h (7 actuals), the others unchanged (2 actuals)
      details.push(i % 4 === 0 ? ildOf(i, a, { msdyn_quantity: '6', msdyn_amount: '600.00', msdyn_tax: '1.00' }) : ildOf(i, a, { msdyn_tax: '1.00' }));
    }
    const plan = planConfirmation(makeInput({ details, actuals }));
    const changed = 2_500;
    const unchanged = 7_500;
    expect(plan.newActuals).toHaveLength(unchanged * 2 + changed * 7);
    expect(plan.updatedActuals).toHaveLength(10_000);
    expect(plan.actualsToPublish).toHaveLength(unchanged * 1 + changed * 5);
    expect(plan.proposal.expectedLineCount).toBe(unchanged + changed * 2);
    expect(plan.proposal.expectedAmount).toBe('7500000.00'); // 7500 x 800 + 2500 x 600
    expect(plan.invoice.totalamount).toBe('7500000.00');
    expect(plan.proposal.expectedTax).toBe('10000.00');
    expect(new Set(plan.newActuals.map((a) => a.msdyn_actualid)).size).toBe(plan.newActuals.length);
  });
});
