/**
 * Corrective invoices (domain.md step 12) as pure rules: the corrective Draft built from what an
 * original confirmation billed, then the confirmation plan of that draft, with exact records.
 * The originals are confirmed by the same planConfirmation, so the billed actuals corrected here
 * are exactly those a real confirmation makes.
 */
import { describe, expect, it } from 'vitest';
import { deterministicGuid } from '../../../shared/core/ids';
import { dec, sum } from '../../../shared/core/money';
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
import {
  actualSchema,
  invoiceLineDetailSchema,
  invoiceSchema,
  type Account,
  type Actual,
  type Contract,
  type ContractLine,
  type Invoice,
  type InvoiceLine,
  type InvoiceLineDetail,
  type Milestone,
} from '../../../shared/dataverse/records';
import {
  confirmationActualId,
  ConfirmationRefusalCode,
  ConfirmationRefused,
  ConfirmationRole,
  planConfirmation,
  type ConfirmationPlan,
} from '../../../shared/dataverse/rules/confirmation/plan';
import {
  buildCorrectiveDraft,
  correctionStatusRefusal,
  correctiveFigures,
  correctiveInvoiceId,
  isCorrectable,
  keptQuantityRefusal,
} from '../../../shared/dataverse/rules/correctionRules';
import { invoiceLineId } from '../../../shared/dataverse/rules/invoiceRules';
import { invoiceProposalMessage } from '../../../shared/messages';

function guid(family: string, n: number): string {
  return `${family.padStart(8, '0')}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}
const ORIGINAL_ID = guid('1', 1);
const CONTRACT_ID = guid('2', 1);
const CUSTOMER_ID = guid('3', 1);
const PROJECT_ID = guid('4', 1);
const CL_TM = guid('5', 1);
const CL_FP = guid('5', 2);
const actualId = (n: number) => guid('a', n);
const ildId = (n: number) => guid('d', n);
const MILESTONE_ID = guid('e', 1);

const CONTRACT: Contract = { salesorderid: CONTRACT_ID, name: 'Contoso rollout', ordernumber: 'ORD-1', customerid: CUSTOMER_ID, transactioncurrencyid: 'EUR' };
const ACCOUNT: Account = { accountid: CUSTOMER_ID, name: 'Contoso', accountnumber: 'US-001' };
const CONTRACT_LINES = new Map<string, ContractLine>([
  [CL_TM, { salesorderdetailid: CL_TM, salesorderid: CONTRACT_ID, productdescription: 'Consulting', msdyn_billingmethod: BillingMethod.TimeAndMaterial, msdyn_project: PROJECT_ID }],
  [CL_FP, { salesorderdetailid: CL_FP, salesorderid: CONTRACT_ID, productdescription: 'Fixed fee', msdyn_billingmethod: BillingMethod.FixedPrice, msdyn_project: PROJECT_ID }],
]);

function unbilled(n: number, cls: TransactionClass, qty: string, price: string): Actual {
  return {
    msdyn_actualid: actualId(n),
    msdyn_transactiontypecode: TransactionType.UnbilledSales,
    msdyn_transactionclassification: cls,
    msdyn_billingtype: BillingType.Chargeable,
    msdyn_billingstatus: BillingStatus.CustomerInvoiceCreated,
    msdyn_quantity: qty,
    msdyn_price: price,
    msdyn_amount: dec(qty).times(price).toFixed(2),
    transactioncurrencyid: 'EUR',
    msdyn_documentdate: '2026-10-05',
    msdyn_accountingdate: '2026-10-05',
    msdyn_project: PROJECT_ID,
    msdyn_salescontract: CONTRACT_ID,
    msdyn_salescontractlineid: CL_TM,
    msdyn_accountcustomer: CUSTOMER_ID,
    msdyn_skipsync: false,
  };
}

function ildOf(n: number, a: Actual, tax: string, over: Partial<InvoiceLineDetail> = {}): InvoiceLineDetail {
  return {
    msdyn_invoicelinetransactionid: ildId(n),
    msdyn_invoice: ORIGINAL_ID,
    msdyn_invoicelineid: invoiceLineId(ORIGINAL_ID, a.msdyn_salescontractlineid),
    msdyn_salescontractlineid: a.msdyn_salescontractlineid,
    msdyn_project: PROJECT_ID,
    msdyn_transactionclassification: a.msdyn_transactionclassification,
    msdyn_billingtype: a.msdyn_billingtype,
    msdyn_quantity: a.msdyn_quantity,
    msdyn_price: a.msdyn_price,
    msdyn_amount: a.msdyn_amount,
    msdyn_tax: tax,
    transactioncurrencyid: 'EUR',
    msdyn_documentdate: a.msdyn_documentdate,
    msdyn_sourceactual: a.msdyn_actualid,
    ...over,
  };
}

function manualIld(n: number, contractLine: string, cls: TransactionClass, qty: string, price: string, tax: string): InvoiceLineDetail {
  return {
    msdyn_invoicelinetransactionid: ildId(n),
    msdyn_invoice: ORIGINAL_ID,
    msdyn_invoicelineid: invoiceLineId(ORIGINAL_ID, contractLine),
    msdyn_salescontractlineid: contractLine,
    msdyn_project: PROJECT_ID,
    msdyn_transactionclassification: cls,
    msdyn_billingtype: BillingType.Chargeable,
    msdyn_quantity: qty,
    msdyn_price: price,
    msdyn_amount: dec(qty).times(price).toFixed(2),
    msdyn_tax: tax,
    transactioncurrencyid: 'EUR',
    msdyn_documentdate: '2026-10-20',
  };
}

const MILESTONE: Milestone = {
  msdyn_contractlinescheduleofvalueid: MILESTONE_ID,
  msdyn_contractlineid: CL_FP,
  msdyn_name: 'Go-live',
  msdyn_amount: '5000.00',
  msdyn_invoicestatus: MilestoneStatus.CustomerInvoiceCreated,
  msdyn_milestonedate: '2026-10-31',
};
const milestoneIld = (n: number, tax: string): InvoiceLineDetail => ({
  msdyn_invoicelinetransactionid: ildId(n),
  msdyn_invoice: ORIGINAL_ID,
  msdyn_invoicelineid: invoiceLineId(ORIGINAL_ID, CL_FP),
  msdyn_salescontractlineid: CL_FP,
  msdyn_project: PROJECT_ID,
  msdyn_transactionclassification: TransactionClass.Milestone,
  msdyn_billingtype: BillingType.Chargeable,
  msdyn_quantity: '1',
  msdyn_price: '5000.00',
  msdyn_amount: '5000.00',
  msdyn_tax: tax,
  transactioncurrencyid: 'EUR',
  msdyn_documentdate: '2026-10-31',
  msdyn_milestone: MILESTONE_ID,
});

function invoiceOf(id: string, number: string, over: Partial<Invoice> = {}): Invoice {
  return {
    invoiceid: id,
    invoicenumber: number,
    name: number,
    customerid: CUSTOMER_ID,
    salesorderid: CONTRACT_ID,
    transactioncurrencyid: 'EUR',
    msdyn_projectinvoicestatus: InvoiceStatus.Draft,
    msdyn_invoicedate: '2026-10-31',
    totalamount: '0.00',
    totaltax: '0.00',
    ...over,
  };
}

function linesOf(invoiceId: string, details: readonly InvoiceLineDetail[]): InvoiceLine[] {
  return [...new Set(details.map((d) => d.msdyn_salescontractlineid))].map((cl) => ({
    invoicedetailid: invoiceLineId(invoiceId, cl),
    invoiceid: invoiceId,
    salesorderdetailid: cl,
    msdyn_billingmethod: CONTRACT_LINES.get(cl)!.msdyn_billingmethod,
    extendedamount: '0.00',
    tax: '0.00',
  }));
}

/** Dataverse as a map of records, advanced by applying plans as the use case writes them. */
class World {
  readonly actuals = new Map<string, Actual>();
  readonly milestones = new Map<string, Milestone>([[MILESTONE_ID, MILESTONE]]);
  readonly invoices = new Map<string, { invoice: Invoice; details: InvoiceLineDetail[] }>();
  /** Proforma numbers of corrections: PI-000101, PI-000102, ... */
  private numbers = 100;

  apply(plan: ConfirmationPlan, details: InvoiceLineDetail[]): void {
    for (const a of [...plan.newActuals, ...plan.updatedActuals]) this.actuals.set(a.msdyn_actualid, a);
    for (const m of plan.updatedMilestones) this.milestones.set(m.msdyn_contractlinescheduleofvalueid, m);
    this.invoices.set(plan.invoice.invoiceid, { invoice: plan.invoice, details });
  }

  /** Confirm the original invoice over these sources and details. */
  confirmOriginal(sources: Actual[], details: InvoiceLineDetail[]): ConfirmationPlan {
    for (const a of sources) this.actuals.set(a.msdyn_actualid, a);
    const plan = planConfirmation({
      invoice: invoiceOf(ORIGINAL_ID, 'PI-000001'),
      lines: linesOf(ORIGINAL_ID, details),
      details,
      sourceActuals: new Map(sources.map((a) => [a.msdyn_actualid, a])),
      milestones: new Map(this.milestones),
      contract: CONTRACT,
      contractLines: CONTRACT_LINES,
      account: ACCOUNT,
      confirmedOn: '2026-11-01T10:00:00.000Z',
    });
    this.apply(plan, details);
    return plan;
  }

  /** The corrective Draft of `of` (as the route builds it), its quantities then set to `kept` by billed actual id. */
  draftCorrection(of: string, n: number, kept: Record<string, string> = {}) {
    const original = this.invoices.get(of)!;
    const billed = [...this.actuals.values()].filter((a) => a.msdyn_invoice === of && isCorrectable(a));
    const milestoneOfBilled = new Map<string, string>();
    for (const d of original.details) {
      if (d.msdyn_milestone !== undefined) milestoneOfBilled.set(confirmationActualId(of, d.msdyn_invoicelinetransactionid, ConfirmationRole.Billed), d.msdyn_milestone);
    }
    const id = correctiveInvoiceId(of, n);
    const draft = buildCorrectiveDraft({ correctiveInvoiceId: id, invoicenumber: `PI-000${++this.numbers}`, original: original.invoice, billed, milestoneOfBilled, contractLines: CONTRACT_LINES, invoiceDate: '2026-11-15' });
    const details = draft.details.map((d) => {
      const keep = kept[d.msdyn_originalbilledactual!];
      if (keep === undefined) return d;
      const f = correctiveFigures(this.actuals.get(d.msdyn_originalbilledactual!)!, keep);
      return { ...d, msdyn_quantity: f.kept, msdyn_amount: f.amount, msdyn_tax: f.tax };
    });
    return { ...draft, details };
  }

  confirmCorrection(draft: ReturnType<World['draftCorrection']>, resume = false): ConfirmationPlan {
    const originalBilled = new Map<string, Actual>();
    for (const d of draft.details) originalBilled.set(d.msdyn_originalbilledactual!, this.actuals.get(d.msdyn_originalbilledactual!)!);
    const corrected = this.invoices.get(draft.invoice.msdyn_correctedinvoice!)!.invoice;
    const plan = planConfirmation({
      invoice: draft.invoice,
      lines: draft.lines,
      details: draft.details,
      sourceActuals: new Map(),
      milestones: new Map(this.milestones),
      contract: CONTRACT,
      contractLines: CONTRACT_LINES,
      account: ACCOUNT,
      confirmedOn: '2026-11-16T08:00:00.000Z',
      originalBilledActuals: originalBilled,
      correctedInvoice: { invoiceid: corrected.invoiceid, invoicenumber: corrected.invoicenumber },
      resume,
    });
    this.apply(plan, draft.details);
    return plan;
  }
}

const billedId = (invoiceId: string, ild: string, role: ConfirmationRole = ConfirmationRole.Billed) => confirmationActualId(invoiceId, ild, role);
const correctiveIld = (correctiveId: string, billed: string) => deterministicGuid(correctiveId, 'corrective-ild', billed);

function shape(a: Actual) {
  return {
    type: a.msdyn_transactiontypecode,
    billingType: a.msdyn_billingtype,
    billingStatus: a.msdyn_billingstatus,
    adjustment: a.msdyn_adjustmentstatus,
    qty: a.msdyn_quantity,
    price: a.msdyn_price,
    amount: a.msdyn_amount,
    tax: a.msdyn_salestaxamount,
    skipSync: a.msdyn_skipsync,
    invoice: a.msdyn_invoice,
    unbilled: a.msdyn_unbilledactual,
    reversed: a.msdyn_reversedactual,
  };
}

function expectValid(plan: ConfirmationPlan, details: InvoiceLineDetail[]): void {
  for (const a of [...plan.newActuals, ...plan.updatedActuals]) expect(() => actualSchema.parse(a)).not.toThrow();
  for (const d of details) expect(() => invoiceLineDetailSchema.parse(d)).not.toThrow();
  expect(() => invoiceSchema.parse(plan.invoice)).not.toThrow();
  expect(() => invoiceProposalMessage.parse(plan.proposal)).not.toThrow();
  // The proposal's figures are the billed actuals', which are the invoice's.
  const billed = plan.newActuals.filter((a) => a.msdyn_transactiontypecode === TransactionType.BilledSales);
  expect(plan.proposal.expectedLineCount).toBe(billed.length);
  expect(plan.proposal.expectedAmount).toBe(sum(billed.map((a) => a.msdyn_amount)).toFixed(2));
  expect(plan.proposal.expectedTax).toBe(sum(billed.map((a) => a.msdyn_salestaxamount ?? '0')).toFixed(2));
  expect(plan.invoice.totalamount).toBe(plan.proposal.expectedAmount);
}

const { UnbilledSales: UNB, BilledSales: BILLED } = TransactionType;
const POSTED = BillingStatus.CustomerInvoicePosted;

describe('the corrective Draft', () => {
  it('has one corrective ILD per billed line at quantity 0, amount and tax the billed ones negated, and totals that are the credit', () => {
    const w = new World();
    const time = unbilled(1, TransactionClass.Time, '8', '100.00');
    const expense = unbilled(2, TransactionClass.Expense, '1', '245.50');
    w.confirmOriginal([time, expense], [ildOf(1, time, '152.00'), ildOf(2, expense, '46.65')]);
    const draft = w.draftCorrection(ORIGINAL_ID, 1);
    const correctiveId = correctiveInvoiceId(ORIGINAL_ID, 1);
    expect(draft.invoice).toMatchObject({
      invoiceid: correctiveId,
      msdyn_correctedinvoice: ORIGINAL_ID,
      msdyn_projectinvoicestatus: InvoiceStatus.Draft,
      totalamount: '-1045.50',
      totaltax: '-198.65',
      customerid: CUSTOMER_ID,
      salesorderid: CONTRACT_ID,
    });
    const b1 = billedId(ORIGINAL_ID, ildId(1));
    expect(draft.details.find((d) => d.msdyn_originalbilledactual === b1)).toEqual({
      msdyn_invoicelinetransactionid: correctiveIld(correctiveId, b1),
      msdyn_invoice: correctiveId,
      msdyn_invoicelineid: invoiceLineId(correctiveId, CL_TM),
      msdyn_salescontractlineid: CL_TM,
      msdyn_project: PROJECT_ID,
      msdyn_transactionclassification: TransactionClass.Time,
      msdyn_billingtype: BillingType.Chargeable,
      msdyn_quantity: '0',
      msdyn_price: '100.00',
      msdyn_amount: '-800.00',
      msdyn_tax: '-152.00',
      transactioncurrencyid: 'EUR',
      msdyn_documentdate: '2026-10-05',
      msdyn_originalbilledactual: b1,
    });
    expect(draft.lines).toEqual([{ invoicedetailid: invoiceLineId(correctiveId, CL_TM), invoiceid: correctiveId, salesorderdetailid: CL_TM, msdyn_billingmethod: BillingMethod.TimeAndMaterial, extendedamount: '-1045.50', tax: '-198.65' }]);
  });

  it('refuses Draft and In Review originals and names what to do instead', () => {
    expect(correctionStatusRefusal(invoiceOf(ORIGINAL_ID, 'PI-1'))).toContain('change it directly');
    expect(correctionStatusRefusal(invoiceOf(ORIGINAL_ID, 'PI-1', { msdyn_projectinvoicestatus: InvoiceStatus.InReview }))).toContain('only a Confirmed or Posted');
    expect(correctionStatusRefusal(invoiceOf(ORIGINAL_ID, 'PI-1', { msdyn_projectinvoicestatus: InvoiceStatus.Confirmed }))).toBeUndefined();
    expect(correctionStatusRefusal(invoiceOf(ORIGINAL_ID, 'PI-1', { msdyn_projectinvoicestatus: InvoiceStatus.Posted }))).toBeUndefined();
  });

  it('keeps a quantity between 0 and the billed one, a milestone 0 or all', () => {
    const b = { ...unbilled(9, TransactionClass.Time, '8', '100.00'), msdyn_transactiontypecode: BILLED };
    expect(keptQuantityRefusal(b, '0', false)).toBeUndefined();
    expect(keptQuantityRefusal(b, '7.5', false)).toBeUndefined();
    expect(keptQuantityRefusal(b, '8', false)).toBeUndefined();
    expect(keptQuantityRefusal(b, '8.01', false)).toContain('cannot exceed');
    expect(keptQuantityRefusal(b, '-1', false)).toContain('negative');
    const m = { ...b, msdyn_quantity: '1' };
    expect(keptQuantityRefusal(m, '0.5', true)).toContain('in full only');
    expect(keptQuantityRefusal(m, '1', true)).toBeUndefined();
  });
});

describe('confirming a full credit', () => {
  it.each([
    ['Time', TransactionClass.Time, '8', '100.00', '152.00'],
    ['Expense', TransactionClass.Expense, '1', '245.50', '46.65'],
    ['Material', TransactionClass.Material, '3', '19.99', '11.39'],
    ['Fee', TransactionClass.Fee, '1', '500.00', '95.00'],
  ])('of a %s ILD: the billed actual Adjusted, its reversal on the credit, the work back in the backlog', (_name, cls, qty, price, tax) => {
    const w = new World();
    const source = unbilled(1, cls, qty, price);
    w.confirmOriginal([source], [ildOf(1, source, tax)]);
    const b1 = billedId(ORIGINAL_ID, ildId(1));
    const billed = w.actuals.get(b1)!;
    const draft = w.draftCorrection(ORIGINAL_ID, 1);
    const plan = w.confirmCorrection(draft);
    expectValid(plan, draft.details);
    const cid = draft.invoice.invoiceid;
    const ild = correctiveIld(cid, b1);
    const amount = billed.msdyn_amount;
    expect(plan.newActuals.map((a) => a.msdyn_actualid)).toEqual([confirmationActualId(cid, ild, ConfirmationRole.CreditReversal), confirmationActualId(cid, ild, ConfirmationRole.CreditUnbilled)]);
    expect(plan.newActuals.map(shape)).toEqual([
      // The billed sales reversal: its negative copy, Unadjustable, synced, on the corrective invoice.
      { type: BILLED, billingType: BillingType.Chargeable, billingStatus: POSTED, adjustment: AdjustmentStatus.Unadjustable, qty: `-${qty}`, price, amount: `-${amount}`, tax: `-${tax}`, skipSync: false, invoice: cid, unbilled: source.msdyn_actualid, reversed: b1 },
      // The credited quantity back in the backlog at the billed price and billing type.
      { type: UNB, billingType: BillingType.Chargeable, billingStatus: BillingStatus.UnbilledSalesCreated, adjustment: undefined, qty, price, amount, tax: undefined, skipSync: false, invoice: undefined, unbilled: undefined, reversed: undefined },
    ]);
    expect(plan.updatedActuals).toEqual([{ ...billed, msdyn_adjustmentstatus: AdjustmentStatus.Adjusted }]);
    expect(plan.invoice).toMatchObject({ msdyn_projectinvoicestatus: InvoiceStatus.Confirmed, totalamount: `-${amount}`, totaltax: `-${tax}` });
    expect(plan.proposal).toMatchObject({ proposalId: 'PI-000101', correctedInvoiceId: ORIGINAL_ID, correctedProposalId: 'PI-000001', expectedLineCount: 1, expectedAmount: `-${amount}`, expectedTax: `-${tax}` });
    expect(plan.actualsToPublish.map((a) => a.msdyn_actualid)).toEqual(plan.newActuals.map((a) => a.msdyn_actualid));
  });

  it('of a manual ILD on a time-and-material line: its work goes back to the backlog; on a fixed-price line only the reversal', () => {
    const w = new World();
    const tm = manualIld(1, CL_TM, TransactionClass.Expense, '2', '45.50', '17.29');
    const fp = manualIld(2, CL_FP, TransactionClass.Fee, '1', '750.00', '142.50');
    w.confirmOriginal([], [tm, fp]);
    const draft = w.draftCorrection(ORIGINAL_ID, 1);
    const plan = w.confirmCorrection(draft);
    expectValid(plan, draft.details);
    const tmBilled = w.actuals.get(billedId(ORIGINAL_ID, ildId(1)))!;
    const byReversed = (id: string) => plan.newActuals.filter((a) => a.msdyn_reversedactual === id);
    expect(byReversed(tmBilled.msdyn_actualid).map(shape)).toEqual([
      { type: BILLED, billingType: BillingType.Chargeable, billingStatus: POSTED, adjustment: AdjustmentStatus.Unadjustable, qty: '-2', price: '45.50', amount: '-91.00', tax: '-17.29', skipSync: false, invoice: draft.invoice.invoiceid, unbilled: tmBilled.msdyn_unbilledactual, reversed: tmBilled.msdyn_actualid },
    ]);
    const fpBilledId = billedId(ORIGINAL_ID, ildId(2));
    expect(byReversed(fpBilledId).map((a) => [a.msdyn_amount, a.msdyn_unbilledactual])).toEqual([['-750.00', undefined]]);
    const backToBacklog = plan.newActuals.filter((a) => a.msdyn_billingstatus === BillingStatus.UnbilledSalesCreated);
    expect(backToBacklog.map((a) => [a.msdyn_salescontractlineid, a.msdyn_quantity, a.msdyn_amount])).toEqual([[CL_TM, '2', '91.00']]);
    expect(plan.invoice).toMatchObject({ totalamount: '-841.00', totaltax: '-159.79' });
  });

  it('of a milestone ILD: the reversal, and the milestone Ready to invoice again', () => {
    const w = new World();
    w.confirmOriginal([], [milestoneIld(1, '950.00')]);
    expect(w.milestones.get(MILESTONE_ID)!.msdyn_invoicestatus).toBe(MilestoneStatus.CustomerInvoicePosted);
    const draft = w.draftCorrection(ORIGINAL_ID, 1);
    expect(draft.details[0]).toMatchObject({ msdyn_milestone: MILESTONE_ID, msdyn_quantity: '0', msdyn_amount: '-5000.00', msdyn_tax: '-950.00' });
    const plan = w.confirmCorrection(draft);
    expectValid(plan, draft.details);
    expect(plan.newActuals.map(shape)).toEqual([
      { type: BILLED, billingType: BillingType.Chargeable, billingStatus: POSTED, adjustment: AdjustmentStatus.Unadjustable, qty: '-1', price: '5000.00', amount: '-5000.00', tax: '-950.00', skipSync: false, invoice: draft.invoice.invoiceid, unbilled: undefined, reversed: billedId(ORIGINAL_ID, ildId(1)) },
    ]);
    expect(plan.updatedMilestones).toEqual([{ ...MILESTONE, msdyn_invoicestatus: MilestoneStatus.Ready }]);
  });
});

describe('confirming a partial credit', () => {
  it('keeps 3 of 8 hours: 5 back in the backlog, 3 billed again on the corrective invoice with their share of the tax', () => {
    const w = new World();
    const source = unbilled(1, TransactionClass.Time, '8', '100.00');
    w.confirmOriginal([source], [ildOf(1, source, '152.00')]);
    const b1 = billedId(ORIGINAL_ID, ildId(1));
    const draft = w.draftCorrection(ORIGINAL_ID, 1, { [b1]: '3' });
    expect(draft.details[0]).toMatchObject({ msdyn_quantity: '3', msdyn_amount: '-500.00', msdyn_tax: '-95.00' });
    const plan = w.confirmCorrection(draft);
    expectValid(plan, draft.details);
    const cid = draft.invoice.invoiceid;
    const ild = correctiveIld(cid, b1);
    const rebillUnbilled = confirmationActualId(cid, ild, ConfirmationRole.Unbilled);
    expect(plan.newActuals.map(shape)).toEqual([
      { type: BILLED, billingType: BillingType.Chargeable, billingStatus: POSTED, adjustment: AdjustmentStatus.Unadjustable, qty: '-8', price: '100.00', amount: '-800.00', tax: '-152.00', skipSync: false, invoice: cid, unbilled: source.msdyn_actualid, reversed: b1 },
      { type: UNB, billingType: BillingType.Chargeable, billingStatus: BillingStatus.UnbilledSalesCreated, adjustment: undefined, qty: '5', price: '100.00', amount: '500.00', tax: undefined, skipSync: false, invoice: undefined, unbilled: undefined, reversed: undefined },
      { type: UNB, billingType: BillingType.Chargeable, billingStatus: POSTED, adjustment: undefined, qty: '3', price: '100.00', amount: '300.00', tax: undefined, skipSync: false, invoice: undefined, unbilled: undefined, reversed: undefined },
      { type: UNB, billingType: BillingType.Chargeable, billingStatus: POSTED, adjustment: undefined, qty: '-3', price: '100.00', amount: '-300.00', tax: undefined, skipSync: true, invoice: undefined, unbilled: undefined, reversed: rebillUnbilled },
      { type: BILLED, billingType: BillingType.Chargeable, billingStatus: POSTED, adjustment: undefined, qty: '3', price: '100.00', amount: '300.00', tax: '57.00', skipSync: false, invoice: cid, unbilled: rebillUnbilled, reversed: undefined },
    ]);
    expect(plan.invoice).toMatchObject({ totalamount: '-500.00', totaltax: '-95.00' });
    expect(plan.proposal).toMatchObject({ expectedLineCount: 2, expectedAmount: '-500.00', expectedTax: '-95.00' });
  });

  it('refuses a milestone kept in part, an amount that does not follow the quantity, and a price changed on the draft', () => {
    const w = new World();
    const source = unbilled(1, TransactionClass.Time, '8', '100.00');
    w.confirmOriginal([source], [ildOf(1, source, '0.00'), milestoneIld(2, '0.00')]);
    const b1 = billedId(ORIGINAL_ID, ildId(1));
    const bm = billedId(ORIGINAL_ID, ildId(2));
    const base = w.draftCorrection(ORIGINAL_ID, 1);
    const attempt = (change: (d: InvoiceLineDetail) => InvoiceLineDetail | undefined) => {
      const details = base.details.map((d) => change(d) ?? d);
      try {
        w.confirmCorrection({ ...base, details });
      } catch (e) {
        expect(e).toBeInstanceOf(ConfirmationRefused);
        return e as ConfirmationRefused;
      }
      throw new Error('expected a refusal');
    };
    const halfMilestone = attempt((d) => (d.msdyn_originalbilledactual === bm ? { ...d, msdyn_quantity: '0.5', msdyn_amount: '-2500.00' } : undefined));
    expect(halfMilestone.code).toBe(ConfirmationRefusalCode.CorrectionInvalid);
    expect(halfMilestone.message).toContain('in full only');
    const wrongAmount = attempt((d) => (d.msdyn_originalbilledactual === b1 ? { ...d, msdyn_quantity: '4' } : undefined));
    expect(wrongAmount.code).toBe(ConfirmationRefusalCode.AmountMismatch);
    expect(wrongAmount.message).toContain('must be -400.00');
    const repriced = attempt((d) => (d.msdyn_originalbilledactual === b1 ? { ...d, msdyn_price: '90.00' } : undefined));
    expect(repriced.code).toBe(ConfirmationRefusalCode.CorrectionInvalid);
    const keepsAll = attempt((d) => {
      const billed = w.actuals.get(d.msdyn_originalbilledactual!)!;
      return { ...d, msdyn_quantity: billed.msdyn_quantity, msdyn_amount: '0.00', msdyn_tax: '0.00' };
    });
    expect(keepsAll.code).toBe(ConfirmationRefusalCode.NoDetails);
  });
});

describe('confirming the credit of an ILD that was edited at its own confirmation', () => {
  it('credits the edited billed line back as work and the non-chargeable remainder back at 0.00', () => {
    const w = new World();
    const source = unbilled(1, TransactionClass.Time, '8', '100.00');
    // Billed 6 of the 8 hours at 110: the original confirmation adjusted the source, billed 6 and
    // wrote off the 2 remaining hours as non-chargeable at 0.00.
    w.confirmOriginal([source], [ildOf(1, source, '125.40', { msdyn_quantity: '6', msdyn_price: '110.00', msdyn_amount: '660.00' })]);
    const edited = billedId(ORIGINAL_ID, ildId(1));
    const remainder = billedId(ORIGINAL_ID, ildId(1), ConfirmationRole.RemainderBilled);
    expect(w.actuals.get(remainder)).toMatchObject({ msdyn_billingtype: BillingType.NonChargeable, msdyn_amount: '0.00', msdyn_quantity: '2' });
    const draft = w.draftCorrection(ORIGINAL_ID, 1);
    expect(draft.details.map((d) => d.msdyn_originalbilledactual).sort()).toEqual([edited, remainder].sort());
    const plan = w.confirmCorrection(draft);
    expectValid(plan, draft.details);
    const backToBacklog = plan.newActuals.filter((a) => a.msdyn_billingstatus === BillingStatus.UnbilledSalesCreated).map((a) => [a.msdyn_billingtype, a.msdyn_quantity, a.msdyn_price, a.msdyn_amount]);
    expect(backToBacklog.sort()).toEqual(
      [
        [BillingType.Chargeable, '6', '110.00', '660.00'],
        [BillingType.NonChargeable, '2', '100.00', '0.00'],
      ].sort(),
    );
    expect(plan.updatedActuals.map((a) => [a.msdyn_actualid, a.msdyn_adjustmentstatus]).sort()).toEqual([
      [edited, AdjustmentStatus.Adjusted],
      [remainder, AdjustmentStatus.Adjusted],
    ].sort());
    expect(plan.invoice).toMatchObject({ totalamount: '-660.00', totaltax: '-125.40' });
  });
});

describe('a correction of a correction', () => {
  it('corrects the lines the first correction billed again; the first correction\'s reversals are not correctable', () => {
    const w = new World();
    const source = unbilled(1, TransactionClass.Time, '8', '100.00');
    w.confirmOriginal([source], [ildOf(1, source, '152.00')]);
    const b1 = billedId(ORIGINAL_ID, ildId(1));
    const first = w.draftCorrection(ORIGINAL_ID, 1, { [b1]: '3' });
    w.confirmCorrection(first);
    // Nothing of the original is left to correct.
    expect([...w.actuals.values()].filter((a) => a.msdyn_invoice === ORIGINAL_ID && isCorrectable(a))).toEqual([]);
    // The first correction's correctable lines: the 3 hours it billed again, not its reversal.
    const c1 = first.invoice.invoiceid;
    const rebilled = confirmationActualId(c1, correctiveIld(c1, b1), ConfirmationRole.Billed);
    const second = w.draftCorrection(c1, 1);
    expect(second.details.map((d) => d.msdyn_originalbilledactual)).toEqual([rebilled]);
    expect(second.invoice).toMatchObject({ msdyn_correctedinvoice: c1, totalamount: '-300.00', totaltax: '-57.00' });
    const plan = w.confirmCorrection(second);
    expectValid(plan, second.details);
    expect(plan.proposal).toMatchObject({ proposalId: 'PI-000102', correctedInvoiceId: c1, correctedProposalId: 'PI-000101', expectedAmount: '-300.00' });
    // All 8 hours are back in the backlog, 5 from the first correction and 3 from the second.
    const open = [...w.actuals.values()].filter((a) => a.msdyn_billingstatus === BillingStatus.UnbilledSalesCreated);
    expect(sum(open.map((a) => a.msdyn_quantity)).toFixed()).toBe('8');
    // Everything billed on the three invoices nets to zero.
    const billedNet = sum([...w.actuals.values()].filter((a) => a.msdyn_transactiontypecode === BILLED).map((a) => a.msdyn_amount));
    expect(billedNet.toFixed(2)).toBe('0.00');
  });

  it('a correction already confirmed is planned again the same on resume, and refused once its billed line is corrected by another', () => {
    const w = new World();
    const source = unbilled(1, TransactionClass.Time, '8', '100.00');
    w.confirmOriginal([source], [ildOf(1, source, '152.00')]);
    const draft = w.draftCorrection(ORIGINAL_ID, 1);
    const first = w.confirmCorrection(draft);
    const again = w.confirmCorrection({ ...draft, invoice: first.invoice }, true);
    expect(again.newActuals).toEqual(first.newActuals);
    // A second correction drafted over the same billed line (now Adjusted) cannot be confirmed.
    const b1 = billedId(ORIGINAL_ID, ildId(1));
    const stale = buildCorrectiveDraft({
      correctiveInvoiceId: correctiveInvoiceId(ORIGINAL_ID, 2),
      invoicenumber: 'PI-000102',
      original: w.invoices.get(ORIGINAL_ID)!.invoice,
      billed: [w.actuals.get(b1)!],
      milestoneOfBilled: new Map(),
      contractLines: CONTRACT_LINES,
      invoiceDate: '2026-11-20',
    });
    let refused: unknown;
    try {
      w.confirmCorrection(stale);
    } catch (e) {
      refused = e;
    }
    expect(refused).toBeInstanceOf(ConfirmationRefused);
    expect((refused as ConfirmationRefused).message).toContain('corrected it already');
  });
});
