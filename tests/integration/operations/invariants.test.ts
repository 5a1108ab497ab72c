/**
 * The invariant checker (shared/operations/invariants.ts) on a real Azurite. A consistent system is
 * built by the real use cases, with a recording Publisher whose messages the test delivers to their
 * consumers in order (approval -> actuals sync -> invoice -> confirmation -> proposal header and
 * billed actuals sync -> import -> accounting back -> posting -> accounting back):
 *   invoice A  Posted     (two T&M actuals, a milestone, a manual T&M detail, a manual fixed-price detail)
 *   invoice B  Confirmed  (one actual, imported, proposal complete, not posted)
 *   invoice C  Draft      (one actual, one milestone)
 * It must report no violation with every invariant checking something. Then each case seeds one
 * violation on top, expects exactly that one with its keys, and puts the rows back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type LocalAzurite } from '../../../tools/azurite';
import { DataverseStore } from '../../../shared/dataverse/dataverseStore';
import type { Actual, Invoice, InvoiceLineDetail } from '../../../shared/dataverse/records';
import { FinanceStore } from '../../../shared/finance/financeStore';
import { ErrorLog } from '../../../shared/operations/errorLogStore';
import { StagingWork } from '../../../shared/finance/import/stagingIndexStore';
import { TableLeases } from '../../../shared/storage/leases';
import { TableSequenceStore } from '../../../shared/storage/sequences';
import type { Stored } from '../../../shared/core/stored';
import { deterministicGuid } from '../../../shared/core/ids';
import { amount, dec } from '../../../shared/core/money';
import { AdjustmentStatus, InvoiceStatus, MilestoneStatus, TransactionClass, TransactionType } from '../../../shared/core/options';
import {
  actualsAccountingMessage,
  invoiceConfirmationMessage,
  invoiceProposalMessage,
  proposalPostingMessage,
  Queues,
} from '../../../shared/messages';
import { approveEntries, type ApprovalEntry } from '../../../shared/dataverse/approvals';
import { setReadyToInvoice } from '../../../shared/dataverse/backlog';
import { createProformaInvoice } from '../../../shared/dataverse/invoices/createInvoice';
import { addInvoiceLineDetail, updateInvoiceLineDetail } from '../../../shared/dataverse/invoices/editInvoice';
import { sequenceInvoiceNumbers } from '../../../shared/dataverse/invoices/numbers';
import { requestInvoiceConfirmation } from '../../../shared/dataverse/invoices/requestConfirmation';
import { confirmationActualId } from '../../../shared/dataverse/rules/confirmation/plan';
import { confirmProformaInvoice } from '../../../shared/bridge/confirmProformaInvoice';
import { syncActualsAccounting } from '../../../shared/bridge/syncActualsAccounting';
import { syncActuals } from '../../../shared/finance/syncActuals';
import { syncInvoiceProposal } from '../../../shared/finance/syncInvoiceProposal';
import { runImportFromStaging } from '../../../shared/finance/import/importFromStaging';
import { requestProposalPosting } from '../../../shared/finance/posting/requestPosting';
import { postInvoiceProposal } from '../../../shared/finance/posting/postInvoiceProposal';
import { postingVoucher } from '../../../shared/finance/rules/posting';
import { checkInvariants, INVARIANTS, type DeadLetteredMessage, type InvariantName, type InvariantReport } from '../../../shared/operations/invariants';
import { seedContract, seedMilestones, type ContractFixture } from '../../kit/fixtures/dataverse';
import { RecordingPublisher } from '../../kit/publisher';

let azurite: LocalAzurite;
let dv: DataverseStore;
let fo: FinanceStore;
let errorLog: ErrorLog;
let work: StagingWork;
let leases: TableLeases;
let sequences: TableSequenceStore;
const publisher = new RecordingPublisher();
let delivered = 0;

/** Deliver every message published so far (and those their consumers publish) to its consumer, in order. */
async function deliver(): Promise<void> {
  while (delivered < publisher.sent.length) {
    const { queue, message } = publisher.sent[delivered++]!;
    switch (queue) {
      case Queues.actuals:
        await syncActuals({ invoices: dv, staging: fo.staging, work, errorLog }, (message.body as { actuals: unknown[] }).actuals, { messageId: message.messageId });
        break;
      case Queues.invoiceConfirmations:
        await confirmProformaInvoice({ dataverse: dv, publisher }, invoiceConfirmationMessage.parse(message.body));
        break;
      case Queues.invoiceProposals:
        await syncInvoiceProposal({ finance: fo }, invoiceProposalMessage.parse(message.body));
        break;
      case Queues.actualsAccounting:
        await syncActualsAccounting({ dataverse: dv }, actualsAccountingMessage.parse(message.body));
        break;
      case Queues.proposalPostings:
        await postInvoiceProposal({ finance: fo, sequences, publisher, accountingCurrency: 'USD' }, { ...proposalPostingMessage.parse(message.body), requestId: message.messageId });
        break;
    }
  }
}

async function importNow(): Promise<void> {
  await runImportFromStaging({ finance: fo, work, leases, publisher, accountingCurrency: 'USD' }, { now: new Date() });
  await deliver();
}

const numbers = () => sequenceInvoiceNumbers(sequences);

async function confirm(invoiceId: string): Promise<void> {
  await requestInvoiceConfirmation({ dataverse: dv, publisher }, invoiceId, { confirmedBy: 'invariants test' });
  await deliver();
}

/** The dead-letter queues as a fake port: one message, logged in integrationErrors. */
const KNOWN_DEAD_LETTER: DeadLetteredMessage = { queue: Queues.actuals, messageId: 'dlq-known', reason: 'MaxDeliveryCountExceeded' };
const deadLetters = (extra: DeadLetteredMessage[] = []) => async () => [KNOWN_DEAD_LETTER, ...extra];

function check(extra: DeadLetteredMessage[] = []): Promise<InvariantReport> {
  return checkInvariants({ dataverse: dv, finance: fo, errorLog, deadLetters: deadLetters(extra) });
}

/** What the consistent system holds, for the cases to break. */
interface World {
  fx: ContractFixture;
  a: Stored<Invoice>;
  b: Stored<Invoice>;
  c: Stored<Invoice>;
  /** ILDs by source actual or milestone id. */
  ildOf: Map<string, Stored<InvoiceLineDetail>>;
  /** Unbilled actual ids: a1, a2 on invoice A, b1 on B, c1 on C. */
  u: { a1: string; a2: string; b1: string; c1: string };
  costOfA1: string;
  /** The customer invoice A was posted as. */
  civA: string;
  milestoneC: string;
}
let w: World;

function time(fx: ContractFixture, key: string, quantity: string, extra: Partial<ApprovalEntry> = {}): ApprovalEntry {
  return {
    entryId: deterministicGuid('invariants-test', key),
    contractLineId: fx.tmLine!.salesorderdetailid,
    classification: 'Time',
    quantity,
    price: '150.00',
    costPrice: '90.00',
    documentDate: '2026-11-02',
    ...extra,
  };
}

beforeAll(async () => {
  azurite = await startAzurite();
  const cs = azurite.connectionString;
  dv = new DataverseStore(cs);
  fo = new FinanceStore(cs);
  errorLog = new ErrorLog(cs);
  work = new StagingWork(cs);
  leases = new TableLeases(cs);
  sequences = new TableSequenceStore(cs);
  await fo.exchangeRates.upsertMany([{ FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.084500', ValidFrom: '2020-01-01' }]);

  // Dataverse: a EUR contract (T&M line and fixed-price line), two milestones, approved work, synced to F&O and posted.
  const fx = await seedContract(dv, { key: 'invariants-test', currency: 'EUR' });
  const milestones = await seedMilestones(dv, fx, [{ amount: '2500.00' }, { amount: '1500.00', status: MilestoneStatus.NotReady }]);
  const m2 = milestones[1]!;
  const entries = [
    time(fx, 'a1', '8'),
    time(fx, 'a2', '1', { classification: 'Expense', price: '245.50', costPrice: undefined }),
    time(fx, 'b1', '4'),
    time(fx, 'c1', '5'),
    time(fx, 'fixed', '10', { contractLineId: fx.fixedLine!.salesorderdetailid, price: '0', costPrice: '80.00' }),
  ];
  const approved = await approveEntries({ dataverse: dv, publisher }, { entries });
  const unbilled = (i: number) => approved.entries[i]!.unbilledActualId!;
  const u = { a1: unbilled(0), a2: unbilled(1), b1: unbilled(2), c1: unbilled(3) };
  await deliver();
  await importNow();

  // Invoice A: a1, a2, milestone 1, a manual T&M fee and a manual fixed-price fee; confirmed, imported, posted.
  await setReadyToInvoice({ dataverse: dv }, { actualIds: [u.a1, u.a2], ready: true });
  const a = await createProformaInvoice({ dataverse: dv, numbers: numbers() }, fx.contract.salesorderid, { taxPercent: '19', invoiceDate: '2026-11-30' });
  const aId = a.invoice.invoiceid;
  await addInvoiceLineDetail({ dataverse: dv }, aId, {
    msdyn_salescontractlineid: fx.tmLine!.salesorderdetailid,
    msdyn_transactionclassification: TransactionClass.Fee,
    msdyn_quantity: '1',
    msdyn_price: '300.00',
    taxPercent: '19',
  });
  await addInvoiceLineDetail({ dataverse: dv }, aId, {
    msdyn_salescontractlineid: fx.fixedLine!.salesorderdetailid,
    msdyn_transactionclassification: TransactionClass.Fee,
    msdyn_quantity: '1',
    msdyn_price: '120.00',
  });
  await confirm(aId);
  await importNow();
  await requestProposalPosting({ finance: fo, publisher }, { proposalId: a.invoice.invoicenumber });
  await deliver();

  // Invoice B: b1; confirmed and imported, not posted.
  await setReadyToInvoice({ dataverse: dv }, { actualIds: [u.b1], ready: true });
  const b = await createProformaInvoice({ dataverse: dv, numbers: numbers() }, fx.contract.salesorderid, { invoiceDate: '2026-11-30' });
  await confirm(b.invoice.invoiceid);
  await importNow();

  // Invoice C: c1 and milestone 2, Draft.
  await setReadyToInvoice({ dataverse: dv }, { actualIds: [u.c1], milestoneIds: [m2.msdyn_contractlinescheduleofvalueid], ready: true });
  const c = await createProformaInvoice({ dataverse: dv, numbers: numbers() }, fx.contract.salesorderid, { invoiceDate: '2026-12-01' });

  // A dead-lettered message that the error log knows.
  await errorLog.record({ source: 'syncActuals', category: 'DeadLetter', message: 'dead-lettered after 10 deliveries', messageId: KNOWN_DEAD_LETTER.messageId });

  const invoice = async (id: string) => (await dv.invoices.get(id, id))!;
  const ildOf = new Map<string, Stored<InvoiceLineDetail>>();
  for (const id of [aId, b.invoice.invoiceid, c.invoice.invoiceid]) {
    for (const d of await dv.invoiceLineDetails.listPartition(id)) {
      const source = d.msdyn_sourceactual ?? d.msdyn_milestone;
      if (source) ildOf.set(source, d);
    }
  }
  w = {
    fx,
    a: await invoice(aId),
    b: await invoice(b.invoice.invoiceid),
    c: await invoice(c.invoice.invoiceid),
    ildOf,
    u,
    costOfA1: approved.entries[0]!.costActualId,
    civA: (await fo.proposals.get(a.invoice.invoicenumber, a.invoice.invoicenumber))?.CustomerInvoiceId ?? '',
    milestoneC: m2.msdyn_contractlinescheduleofvalueid,
  };
}, 180_000);

afterAll(async () => {
  await azurite?.stop();
});

describe('a consistent system', () => {
  it('is built as intended: A Posted, B Confirmed with a complete proposal, C Draft', async () => {
    expect(w.a.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Posted);
    expect(w.b.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Confirmed);
    expect(w.c.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Draft);
    const proposalB = await fo.proposals.get(w.b.invoicenumber, w.b.invoicenumber);
    expect(proposalB).toMatchObject({ Status: 'Open', ImportedLineCount: 1, ExpectedLineCount: 1 });
    expect(w.civA).toMatch(/^CIV-/);
  });

  it('reports no violation, and every invariant checked something', async () => {
    const report = await check();
    expect(report.violations).toEqual([]);
    for (const name of INVARIANTS) expect(report.checked[name], name).toBeGreaterThan(0);
    expect(report.checked).toMatchObject({
      confirmedInvoiceMatchesBilled: 2, // A and B
      postedProposalHasCustomerInvoice: 1, // A
      deadLetterHasErrorRow: 1,
      // a1, a2, b1, c1, the manual T&M detail's unbilled actual; milestones 1 and 2
      actualBilledOnce: 5,
      actualOnOneEditableInvoice: 7,
    });
    expect(new Date(report.checkedAt).toISOString()).toBe(report.checkedAt);
  });

  it('skips the dead letters when no port is given', async () => {
    const report = await checkInvariants({ dataverse: dv, finance: fo, errorLog });
    expect(report.checked.deadLetterHasErrorRow).toBe(0);
    expect(report.violations).toEqual([]);
  });

  it('nets out a billed reversal: billed, reversed and billed again counts once', async () => {
    const billed = billedOf(w.a, w.u.a1);
    const again = { ...(await actual(billed)), msdyn_actualid: deterministicGuid('invariants-test', 'billed-again'), msdyn_skipsync: true };
    delete again.msdyn_invoice;
    const reversal: Actual = { ...again, msdyn_actualid: deterministicGuid('invariants-test', 'billed-again-reversal'), msdyn_reversedactual: again.msdyn_actualid, msdyn_quantity: '-8', msdyn_amount: '-1200.00', msdyn_adjustmentstatus: AdjustmentStatus.Unadjustable };
    delete reversal.msdyn_unbilledactual;
    await dv.actuals.upsertMany([again, reversal]);
    try {
      expect((await check()).violations).toEqual([]);
    } finally {
      await dv.actuals.deleteMany([keysOfActual(again), keysOfActual(reversal)]);
    }
  });
});

// ---- one violation at a time ---------------------------------------------------------------------

type Undo = () => Promise<void>;

interface Case {
  name: string;
  invariant: InvariantName;
  /** Break the world; answers how to put it back. */
  seed: () => Promise<Undo>;
  keys: () => Record<string, string>;
  deadLetters?: DeadLetteredMessage[];
}

function billedOf(invoice: Invoice, sourceOrMilestone: string): string {
  return confirmationActualId(invoice.invoiceid, w.ildOf.get(sourceOrMilestone)!.msdyn_invoicelinetransactionid, 'billed');
}

async function actual(id: string): Promise<Actual> {
  const { etag: _etag, ...row } = (await dv.actuals.get(w.fx.contract.salesorderid, id))!;
  return row;
}

function keysOfActual(a: Actual) {
  return { partitionKey: a.msdyn_salescontract, rowKey: a.msdyn_actualid };
}

/** Replace a stored row by a changed copy; the undo writes the original back. */
async function changeRow<T extends object>(table: { upsert(r: T): Promise<void> }, original: T, change: Partial<T>): Promise<Undo> {
  await table.upsert({ ...original, ...change });
  return () => table.upsert(original);
}

/** Delete a stored row; the undo writes it back. */
async function deleteRow<T extends object>(table: { upsert(r: T): Promise<void>; delete(pk: string, rk: string): Promise<void> }, original: T, pk: string, rk: string): Promise<Undo> {
  await table.delete(pk, rk);
  return () => table.upsert(original);
}

/** A second Draft invoice of the contract holding a copy of C's ILD of `source`. */
async function secondDraftWith(source: string): Promise<Undo> {
  const dId = deterministicGuid('invariants-test', 'invoice-d');
  const d: Invoice = { ...w.c, invoiceid: dId, invoicenumber: 'INV-D' };
  const ild: InvoiceLineDetail = { ...w.ildOf.get(source)!, msdyn_invoice: dId, msdyn_invoicelinetransactionid: deterministicGuid('invariants-test', 'ild-d') };
  await dv.invoices.upsert(d);
  await dv.invoiceLineDetails.upsert(ild);
  return async () => {
    await dv.invoiceLineDetails.delete(dId, ild.msdyn_invoicelinetransactionid);
    await dv.invoices.delete(dId, dId);
  };
}

const EXTRA_BILLED = deterministicGuid('invariants-test', 'extra-billed');

const cases: Case[] = [
  {
    name: 'an actual on two Draft invoices',
    invariant: 'actualOnOneEditableInvoice',
    seed: () => secondDraftWith(w.u.c1),
    keys: () => ({ actualId: w.u.c1, invoiceIds: [w.c.invoiceid, deterministicGuid('invariants-test', 'invoice-d')].sort().join(',') }),
  },
  {
    name: 'a milestone on two Draft invoices',
    invariant: 'actualOnOneEditableInvoice',
    seed: () => secondDraftWith(w.milestoneC),
    keys: () => ({ milestoneId: w.milestoneC, invoiceIds: [w.c.invoiceid, deterministicGuid('invariants-test', 'invoice-d')].sort().join(',') }),
  },
  {
    name: 'an unbilled actual billed twice',
    invariant: 'actualBilledOnce',
    seed: async () => {
      // A second billed actual of a1, skip-sync and on no invoice, so that nothing else notices it.
      const extra: Actual = { ...(await actual(billedOf(w.a, w.u.a1))), msdyn_actualid: EXTRA_BILLED, msdyn_skipsync: true };
      delete extra.msdyn_invoice;
      await dv.actuals.upsert(extra);
      return () => dv.actuals.delete(extra.msdyn_salescontract, extra.msdyn_actualid);
    },
    keys: () => ({ unbilledActualId: w.u.a1, billedActualIds: [billedOf(w.a, w.u.a1), EXTRA_BILLED].sort().join(',') }),
  },
  {
    name: 'an ILD of a Posted invoice whose billed actual has another quantity',
    invariant: 'confirmedInvoiceMatchesBilled',
    seed: () => changeRow(dv.invoiceLineDetails, w.ildOf.get(w.u.a1)!, { msdyn_quantity: '9' }),
    keys: () => ({ invoiceId: w.a.invoiceid, invoiceNumber: w.a.invoicenumber, detailId: w.ildOf.get(w.u.a1)!.msdyn_invoicelinetransactionid, billedActualId: billedOf(w.a, w.u.a1) }),
  },
  {
    name: 'a Confirmed invoice whose total is not the sum of its billed actuals',
    invariant: 'confirmedInvoiceMatchesBilled',
    seed: () => changeRow(dv.invoices, w.b, { totalamount: '1.00' }),
    keys: () => ({ invoiceId: w.b.invoiceid, invoiceNumber: w.b.invoicenumber }),
  },
  {
    name: 'a billed actual carrying an invoice without an ILD behind it',
    invariant: 'confirmedInvoiceMatchesBilled',
    seed: async () => {
      const extra: Actual = { ...(await actual(billedOf(w.a, w.u.a1))), msdyn_actualid: EXTRA_BILLED, msdyn_skipsync: true, msdyn_quantity: '0', msdyn_amount: '0.00', msdyn_salestaxamount: '0.00' };
      delete extra.msdyn_unbilledactual;
      await dv.actuals.upsert(extra);
      return () => dv.actuals.delete(extra.msdyn_salescontract, extra.msdyn_actualid);
    },
    keys: () => ({ invoiceId: w.a.invoiceid, invoiceNumber: w.a.invoicenumber, billedActualId: EXTRA_BILLED }),
  },
  {
    name: 'a staging row whose document date differs from its actual',
    invariant: 'syncedActualStaged',
    seed: async () => changeRow(fo.staging, (await fo.staging.get(w.fx.contract.salesorderid, w.u.a1))!, { DocumentDate: '2026-01-01' }),
    keys: () => ({ contractId: w.fx.contract.salesorderid, actualId: w.u.a1 }),
  },
  {
    name: 'a synced actual without a staging row',
    invariant: 'syncedActualStaged',
    seed: async () => deleteRow(fo.staging, (await fo.staging.get(w.fx.contract.salesorderid, w.u.c1))!, w.fx.contract.salesorderid, w.u.c1),
    keys: () => ({ contractId: w.fx.contract.salesorderid, actualId: w.u.c1 }),
  },
  {
    name: 'an Imported unbilled row without its project transaction',
    invariant: 'postedRowHasTransaction',
    seed: async () => deleteRow(fo.projectTransactions, (await fo.projectTransactions.get(w.fx.projectId, w.u.a1))!, w.fx.projectId, w.u.a1),
    keys: () => ({ contractId: w.fx.contract.salesorderid, actualId: w.u.a1, projectId: w.fx.projectId }),
  },
  {
    name: 'an Imported cost row whose project transaction has another amount',
    invariant: 'postedRowHasTransaction',
    seed: async () => changeRow(fo.projectTransactions, (await fo.projectTransactions.get(w.fx.projectId, w.costOfA1))!, { Amount: '1.00' }),
    keys: () => ({ contractId: w.fx.contract.salesorderid, actualId: w.costOfA1, projectId: w.fx.projectId }),
  },
  {
    name: 'an Imported billed row that is not a line of its proposal',
    invariant: 'postedRowHasTransaction',
    seed: async () => {
      const lineId = billedOf(w.b, w.u.b1);
      return deleteRow(fo.proposalLines, (await fo.proposalLines.get(w.b.invoicenumber, lineId))!, w.b.invoicenumber, lineId);
    },
    keys: () => ({ contractId: w.fx.contract.salesorderid, actualId: billedOf(w.b, w.u.b1), proposalId: w.b.invoicenumber }),
  },
  {
    name: 'a voucher that does not balance',
    invariant: 'voucherBalances',
    seed: async () => {
      const [first] = await fo.ledgerEntries.listPartition(postingVoucher(w.a.invoicenumber));
      return changeRow(fo.ledgerEntries, first!, { Amount: amount(dec(first!.Amount).plus(1)) });
    },
    keys: () => ({ voucher: postingVoucher(w.a.invoicenumber) }),
  },
  {
    name: 'a Posted proposal without its customer invoice',
    invariant: 'postedProposalHasCustomerInvoice',
    seed: async () => {
      const civ = await customerInvoiceOfA();
      return deleteRow(fo.customerInvoices, civ, civ.InvoiceId, civ.InvoiceId);
    },
    keys: () => ({ proposalId: w.a.invoicenumber }),
  },
  {
    name: 'a customer invoice whose amount is not the sum of its proposal lines',
    invariant: 'postedProposalHasCustomerInvoice',
    seed: async () => changeRow(fo.customerInvoices, await customerInvoiceOfA(), { InvoiceAmount: '1.00' }),
    keys: () => ({ proposalId: w.a.invoicenumber, customerInvoiceId: w.civA }),
  },
  {
    name: 'a dead-lettered message without an error row',
    invariant: 'deadLetterHasErrorRow',
    seed: async () => async () => undefined,
    deadLetters: [{ queue: Queues.invoiceConfirmations, messageId: 'dlq-unknown', reason: 'MaxDeliveryCountExceeded' }],
    keys: () => ({ queue: Queues.invoiceConfirmations, messageId: 'dlq-unknown' }),
  },
];

async function customerInvoiceOfA() {
  return (await fo.customerInvoices.get(w.civA, w.civA))!;
}

describe('one violation at a time', () => {
  it('covers every invariant', () => {
    expect([...new Set(cases.map((c) => c.invariant))].sort()).toEqual([...INVARIANTS].sort());
  });

  it.each(cases)('$invariant: $name', async (c) => {
    const undo = await c.seed();
    try {
      const report = await check(c.deadLetters);
      expect(report.violations).toEqual([{ invariant: c.invariant, keys: c.keys(), detail: expect.any(String) }]);
      expect(report.violations[0]!.detail.length).toBeGreaterThan(20);
    } finally {
      await undo();
    }
    expect((await check()).violations).toEqual([]);
  });
});

// ---- what the real flow does with an edited ILD ---------------------------------------------------

describe('an invoice with an edited detail (quantity lowered), through the real flow', () => {
  it('bills the ILD and its 0.00 remainder correctly; the adjusted source keeps its staging row as synced', async () => {
    const fx = await seedContract(dv, { key: 'invariants-test-edited', currency: 'EUR' });
    const approved = await approveEntries({ dataverse: dv, publisher }, { entries: [time(fx, 'e1', '8')] });
    const source = approved.entries[0]!.unbilledActualId!;
    await deliver();
    await importNow();
    await setReadyToInvoice({ dataverse: dv }, { actualIds: [source], ready: true });
    const e = await createProformaInvoice({ dataverse: dv, numbers: numbers() }, fx.contract.salesorderid, { invoiceDate: '2026-11-30' });
    await updateInvoiceLineDetail({ dataverse: dv }, e.invoice.invoiceid, e.details[0]!.msdyn_invoicelinetransactionid, { msdyn_quantity: '6' });
    await confirm(e.invoice.invoiceid);
    await importNow();

    // Everything holds (the 0.00 remainder billed too). The source actual became Adjusted after it
    // was staged; staging keeps the row as synced (F&O takes the adjustment from the adjustment
    // reversal), which the checker does not count as a difference.
    const report = await check();
    expect(report.violations).toEqual([]);
    expect((await fo.staging.get(fx.contract.salesorderid, source))?.AdjustmentStatus).toBeUndefined();
    const stored = await dv.actuals.get(fx.contract.salesorderid, source);
    expect(stored?.msdyn_adjustmentstatus).toBe(AdjustmentStatus.Adjusted);
    expect(stored?.msdyn_transactiontypecode).toBe(TransactionType.UnbilledSales);
  });
});
