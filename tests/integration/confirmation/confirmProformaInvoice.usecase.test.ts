/**
 * confirmProformaInvoice on real Azurite, with a recording Publisher: what it writes, what it
 * publishes, redelivery, crash after every write step, concurrent changes, refusals.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type LocalAzurite } from '../../../tools/azurite';
import { ACTUALS_LISTING_FLOOR, DataverseStore } from '../../../shared/dataverse/dataverseStore';
import { confirmationActualId, ConfirmationRole, planConfirmation } from '../../../shared/dataverse/rules/confirmation/plan';
import { actualSchema, type Actual } from '../../../shared/dataverse/records';
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
import { BusinessError, NotFoundError } from '../../../shared/core/errors';
import { invoiceProposalMessage, type Publisher } from '../../../shared/messages';
import {
  confirmationMessages,
  confirmProformaInvoice,
  ConfirmationStep,
  type ConfirmProformaInvoiceDeps,
} from '../../../shared/bridge/confirmProformaInvoice';
import {
  clearDataverse,
  dataverseState,
  seedActuals,
  seedContract,
  seedDraftInvoice,
  seedMilestones,
  type ContractFixture,
  type InvoiceFixture,
} from '../../kit/fixtures/dataverse';
import { RecordingPublisher } from '../../kit/publisher';
import { recomputeConfirmation } from '../../../shared/bridge/republishConfirmation';

let azurite: LocalAzurite;
let dv: DataverseStore;

beforeAll(async () => {
  azurite = await startAzurite();
  dv = new DataverseStore(azurite.connectionString);
});
afterAll(async () => {
  await azurite?.stop();
});

const CONFIRMED_ON = '2024-04-02T09:30:00.000Z';

function deps(publisher: Publisher, extra: Partial<ConfirmProformaInvoiceDeps> = {}): ConfirmProformaInvoiceDeps {
  return { dataverse: dv, publisher, ...extra };
}

/**
 * A mixed invoice: an unchanged actual, one with quantity cut (remainder), one with price changed,
 * one switched to Complimentary, a milestone, a manual T&M Fee and a manual fixed-price Fee.
 */
async function seedMixed(key?: string): Promise<{ fx: ContractFixture; inv: InvoiceFixture; actuals: Actual[] }> {
  const fx = await seedContract(dv, { key });
  const actuals = await seedActuals(dv, fx, [
    { quantity: '8', price: '100.00' },
    { quantity: '8', price: '120.00', documentDate: '2024-03-11' },
    { quantity: '4', price: '95.50', cls: TransactionClass.Expense },
    { quantity: '2', price: '100.00' },
    // Not on the invoice: stays untouched.
    { quantity: '3', price: '100.00' },
  ]);
  const milestones = await seedMilestones(dv, fx, [{ amount: '5000.00', name: 'Go-live' }]);
  const [a0, a1, a2, a3] = actuals as [Actual, Actual, Actual, Actual, Actual];
  const inv = await seedDraftInvoice(dv, fx, {
    actuals: [a0, a1, a2, a3],
    milestones,
    edits: {
      [a1.msdyn_actualid]: { quantity: '6' },
      [a2.msdyn_actualid]: { price: '90.00' },
      [a3.msdyn_actualid]: { billingType: BillingType.Complimentary },
    },
    manual: [{ cls: TransactionClass.Fee, quantity: '1', price: '250.00' }, { line: fx.fixedLine, cls: TransactionClass.Fee, quantity: '1', price: '400.00' }],
    taxRate: '0.10',
  });
  return { fx, inv, actuals };
}

/**
 * The store, watched: the size of each bounded listing of a contract's actuals, and every id read
 * by key after it.
 */
function watchActualReads(): { watched: DataverseStore; listed: number[]; byKey: string[] } {
  const listed: number[] = [];
  const byKey: string[] = [];
  const watched = Object.assign(Object.create(dv) as DataverseStore, {
    actualsOfContractUpTo: async (contractId: string, limit: () => number) => {
      const result = await dv.actualsOfContractUpTo(contractId, limit);
      listed.push(result.actuals.size);
      return result;
    },
    actualsOfContractByIds: (contractId: string, ids: Iterable<string>) => {
      const list = [...ids];
      byKey.push(...list);
      return dv.actualsOfContractByIds(contractId, list);
    },
  });
  return { watched, listed, byKey };
}

const refOf = (fx: ContractFixture, inv: InvoiceFixture) => ({ contractId: fx.contract.salesorderid, invoiceId: inv.invoice.invoiceid });

describe('confirmProformaInvoice (use case on Azurite)', () => {
  it('writes the planned actuals, updates sources, milestone, lines and invoice, and publishes proposal and actuals', async () => {
    const { fx, inv, actuals } = await seedMixed();
    const publisher = new RecordingPublisher();
    const invoiceId = inv.invoice.invoiceid;
    const result = await confirmProformaInvoice(deps(publisher), { invoiceId, confirmedOn: '2024-04-02T11:30:00+02:00' });

    // 4 unchanged + changed... count by role: a0 unchanged: 2; a1 cut: 4 + 3 remainder; a2 price: 4; a3 type: 4;
    // milestone: 1; manual T&M: 3; manual fixed: 1  => 22
    expect(result).toMatchObject({ outcome: 'confirmed', invoiceNumber: inv.invoice.invoicenumber, created: 22 });

    const state = await dataverseState(dv, refOf(fx, inv));
    expect(state.invoice).toMatchObject({
      msdyn_projectinvoicestatus: InvoiceStatus.Confirmed,
      msdyn_confirmedon: CONFIRMED_ON,
      totalamount: inv.invoice.totalamount,
      totaltax: inv.invoice.totaltax,
    });
    expect(state.actuals).toHaveLength(5 + 22);

    const byId = new Map(state.actuals.map((a) => [String(a.msdyn_actualid), actualSchema.parse(a)]));
    const [a0, a1, a2, a3, a4] = actuals as [Actual, Actual, Actual, Actual, Actual];
    expect(byId.get(a0.msdyn_actualid)).toMatchObject({ msdyn_billingstatus: BillingStatus.CustomerInvoicePosted });
    expect(byId.get(a0.msdyn_actualid)!.msdyn_adjustmentstatus).toBeUndefined();
    for (const a of [a1, a2, a3]) {
      expect(byId.get(a.msdyn_actualid)).toMatchObject({
        msdyn_billingstatus: BillingStatus.CustomerInvoicePosted,
        msdyn_adjustmentstatus: AdjustmentStatus.Adjusted,
      });
    }
    expect(byId.get(a4.msdyn_actualid)).toEqual(a4); // not on the invoice: untouched

    // The billed actual of the cut ILD, and its remainder.
    const ild1 = inv.detailOf(a1.msdyn_actualid).msdyn_invoicelinetransactionid;
    const billed1 = byId.get(confirmationActualId(invoiceId, ild1, ConfirmationRole.Billed));
    const unbilled1 = confirmationActualId(invoiceId, ild1, ConfirmationRole.Unbilled);
    expect(billed1).toMatchObject({
      msdyn_transactiontypecode: TransactionType.BilledSales,
      msdyn_quantity: '6',
      msdyn_amount: '720.00',
      msdyn_salestaxamount: '72.00',
      msdyn_invoice: invoiceId,
      msdyn_unbilledactual: unbilled1,
      msdyn_skipsync: false,
    });
    expect(byId.get(confirmationActualId(invoiceId, ild1, ConfirmationRole.RemainderUnbilled))).toMatchObject({
      msdyn_quantity: '2',
      msdyn_amount: '0.00',
      msdyn_billingtype: BillingType.NonChargeable,
    });
    expect(byId.get(confirmationActualId(invoiceId, ild1, ConfirmationRole.AdjustmentReversal))).toMatchObject({
      msdyn_amount: '-960.00',
      msdyn_adjustmentstatus: AdjustmentStatus.Unadjustable,
      msdyn_reversedactual: a1.msdyn_actualid,
      msdyn_skipsync: false,
    });

    expect(state.milestones).toHaveLength(1);
    expect(state.milestones[0]).toMatchObject({ msdyn_invoicestatus: MilestoneStatus.CustomerInvoicePosted });
    const lineTotals = (rows: Record<string, unknown>[]) =>
      Object.fromEntries(rows.map((l) => [String(l.invoicedetailid), [l.extendedamount, l.tax]]));
    expect(lineTotals(state.lines)).toEqual(lineTotals(inv.lines));

    // Published: the header, then the synced new actuals in one message (< 100).
    const sent = publisher.unique();
    const proposal = sent.get(`proposal-${invoiceId}`);
    expect(proposal?.queue).toBe('invoice-proposals');
    const header = invoiceProposalMessage.parse(proposal?.body);
    const billed = [...byId.values()].filter((a) => a.msdyn_transactiontypecode === TransactionType.BilledSales);
    expect(header).toMatchObject({
      proposalId: inv.invoice.invoicenumber,
      invoiceId,
      customerAccount: fx.account.accountnumber,
      currencyCode: 'EUR',
      expectedLineCount: billed.length,
      expectedAmount: inv.invoice.totalamount,
      expectedTax: inv.invoice.totaltax,
      confirmedOn: CONFIRMED_ON,
    });
    const actualsMessage = sent.get(`actuals-${invoiceId}-1`);
    expect(actualsMessage?.queue).toBe('actuals');
    expect(sent.size).toBe(2);
    const published = (actualsMessage?.body as { actuals: unknown[] }).actuals.map((a) => actualSchema.parse(a));
    const seededIds = new Set(actuals.map((a) => a.msdyn_actualid));
    const synced = state.actuals.filter((a) => !seededIds.has(String(a.msdyn_actualid)) && a.msdyn_skipsync === false);
    expect(published.map((a) => a.msdyn_actualid).sort()).toEqual(synced.map((a) => String(a.msdyn_actualid)).sort());
    for (const a of published) {
      expect(a.msdyn_skipsync).toBe(false);
      expect(byId.get(a.msdyn_actualid)).toEqual(a); // what was published is what was stored
    }
    // Publisher order: proposal before actuals.
    expect(publisher.sent.map((s) => s.queue)).toEqual(['invoice-proposals', 'actuals']);
  });

  it('a second delivery writes nothing and republishes the same messages', async () => {
    const { fx, inv } = await seedMixed();
    const publisher = new RecordingPublisher();
    const invoiceId = inv.invoice.invoiceid;
    await confirmProformaInvoice(deps(publisher), { invoiceId }, { enqueuedAt: new Date(CONFIRMED_ON) });
    const before = await dataverseState(dv, refOf(fx, inv), { withEtags: true });
    const firstSend = publisher.sent.length;

    const again = await confirmProformaInvoice(deps(publisher), { invoiceId }, { enqueuedAt: new Date('2024-05-01T00:00:00Z') });
    expect(again).toMatchObject({ outcome: 'alreadyConfirmed', created: 0, updated: 0 });
    expect(await dataverseState(dv, refOf(fx, inv), { withEtags: true })).toEqual(before); // not one write
    expect(before.invoice?.msdyn_confirmedon).toBe(CONFIRMED_ON);
    expect(publisher.sent.length).toBe(2 * firstSend);
    expect(publisher.sent.slice(firstSend)).toEqual(publisher.sent.slice(0, firstSend)); // same ids, same bodies
  });

  it('an In Review invoice confirms like a Draft', async () => {
    const fx = await seedContract(dv);
    const actuals = await seedActuals(dv, fx, [{}]);
    const inv = await seedDraftInvoice(dv, fx, { actuals, status: InvoiceStatus.InReview });
    const publisher = new RecordingPublisher();
    await confirmProformaInvoice(deps(publisher), { invoiceId: inv.invoice.invoiceid, confirmedOn: CONFIRMED_ON });
    expect((await dv.invoices.get(inv.invoice.invoiceid, inv.invoice.invoiceid))?.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Confirmed);
  });

  // The second pass lists one of the contract's actuals and reads what the plan needs by key, as a
  // confirmation does on a contract whose history is longer than its listing bound.
  it.each([
    ['', {}],
    [' (contract listed up to 1 actual, the rest read by key)', { actualsListingLimit: 1 }],
  ] as const)('a crash after any write step, then redelivery, ends in exactly the clean-run state and messages%s', async (_label, extra) => {
    const key = 'crash-scenario';
    const message = { invoiceId: '' };
    const meta = { enqueuedAt: new Date(CONFIRMED_ON) };

    // The clean run.
    await clearDataverse(dv);
    let { fx, inv } = await seedMixed(key);
    message.invoiceId = inv.invoice.invoiceid;
    const cleanPublisher = new RecordingPublisher();
    await confirmProformaInvoice(deps(cleanPublisher, extra), message, meta);
    const clean = await dataverseState(dv, refOf(fx, inv));
    const cleanMessages = cleanPublisher.unique();

    for (const crashAt of Object.values(ConfirmationStep)) {
      await clearDataverse(dv);
      ({ fx, inv } = await seedMixed(key));
      expect(inv.invoice.invoiceid).toBe(message.invoiceId);
      const publisher = new RecordingPublisher();
      const crash = deps(publisher, {
        ...extra,
        afterStep: (step) => {
          if (step === crashAt) throw new Error(`crash after ${step} (injected)`);
        },
      });
      await expect(confirmProformaInvoice(crash, message, meta), crashAt).rejects.toThrow(/injected/);
      await confirmProformaInvoice(deps(publisher, extra), message, meta); // the redelivery
      expect(await dataverseState(dv, refOf(fx, inv)), `crash after ${crashAt}`).toEqual(clean);
      expect(publisher.unique(), `crash after ${crashAt}`).toEqual(cleanMessages);
      // And one more delivery changes nothing.
      const settled = await dataverseState(dv, refOf(fx, inv), { withEtags: true });
      await confirmProformaInvoice(deps(publisher, extra), message, meta);
      expect(await dataverseState(dv, refOf(fx, inv), { withEtags: true })).toEqual(settled);
    }

    // A crash inside a step: part of the new actuals and part of the source updates written.
    await clearDataverse(dv);
    ({ fx, inv } = await seedMixed(key));
    const plan = planConfirmation({
      invoice: inv.invoice,
      lines: inv.lines,
      details: inv.details,
      sourceActuals: new Map(
        (await dv.actuals.listPartition(fx.contract.salesorderid)).map(({ etag: _e, ...a }) => [a.msdyn_actualid, a]),
      ),
      milestones: new Map(
        (await dv.milestones.listPartition(fx.contract.salesorderid)).map(({ etag: _e, salesorderid: _s, ...m }) => [
          m.msdyn_contractlinescheduleofvalueid,
          m,
        ]),
      ),
      contract: fx.contract,
      contractLines: new Map(fx.lines.map((l) => [l.salesorderdetailid, l])),
      account: fx.account,
      confirmedOn: CONFIRMED_ON,
    });
    await dv.actuals.createManyIfAbsent(plan.newActuals.filter((_, i) => i % 2 === 0));
    const publisher = new RecordingPublisher();
    await confirmProformaInvoice(deps(publisher, extra), message, meta);
    expect(await dataverseState(dv, refOf(fx, inv))).toEqual(clean);
    expect(publisher.unique()).toEqual(cleanMessages);
  });

  it('in chunks: a crash between chunks resumes to the state and messages of one run in one chunk', async () => {
    const key = 'chunked';
    const meta = { enqueuedAt: new Date(CONFIRMED_ON) };
    // 230 ILDs: two new actuals each, the billed ones published in messages of 100 (100, 100, 30),
    // planned and written in chunks of 7 ILDs.
    const seed = async () => {
      await clearDataverse(dv);
      const fx = await seedContract(dv, { key });
      const actuals = await seedActuals(dv, fx, Array.from({ length: 230 }, (_, i) => ({ quantity: String(1 + (i % 5)), price: '100.00' })));
      const inv = await seedDraftInvoice(dv, fx, { actuals });
      return { fx, inv, message: { invoiceId: inv.invoice.invoiceid } };
    };

    let { fx, inv, message } = await seed();
    // What slicing the whole plan publishes: the chunked publish must send exactly these.
    const plan = planConfirmation({
      invoice: inv.invoice,
      lines: inv.lines,
      details: inv.details,
      sourceActuals: new Map((await dv.actuals.listPartition(fx.contract.salesorderid)).map(({ etag: _e, ...a }) => [a.msdyn_actualid, a])),
      milestones: new Map(),
      contract: fx.contract,
      contractLines: new Map(fx.lines.map((l) => [l.salesorderdetailid, l])),
      account: fx.account,
      confirmedOn: CONFIRMED_ON,
    });
    const whole = confirmationMessages(plan);
    const cleanPublisher = new RecordingPublisher();
    const one = await confirmProformaInvoice(deps(cleanPublisher), message, meta);
    expect(one.created).toBe(460);
    expect(one.published).toBe(1 + 3);
    const clean = await dataverseState(dv, refOf(fx, inv));
    const cleanMessages = cleanPublisher.unique();
    expect([...cleanMessages].map(([id, { body }]) => [id, body])).toEqual([whole.proposal, ...whole.actuals].map((m) => [m.messageId, m.body]));

    // Each write step crashes the third time it is reached (in the third chunk).
    for (const crashAt of [ConfirmationStep.NewActuals, ConfirmationStep.SourceActuals] as const) {
      ({ fx, inv, message } = await seed());
      const publisher = new RecordingPublisher();
      let reached = 0;
      const crash = deps(publisher, {
        chunkSize: 7,
        afterStep: (step) => {
          if (step === crashAt && ++reached === 3) throw new Error(`crash in chunk 3 after ${step} (injected)`);
        },
      });
      await expect(confirmProformaInvoice(crash, message, meta)).rejects.toThrow(/injected/);
      // Part of the invoice is written: 3 chunks' new actuals (and sources) of 33.
      const written = (await dv.actuals.listPartition(fx.contract.salesorderid)).filter((a) => a.msdyn_transactiontypecode === TransactionType.BilledSales);
      expect(written).toHaveLength(21);
      expect(publisher.unique().size).toBe(0);
      const redelivered = await confirmProformaInvoice(deps(publisher, { chunkSize: 7 }), message, meta);
      expect(redelivered.created).toBe(460 - 42);
      expect(await dataverseState(dv, refOf(fx, inv)), `crash in chunk 3 after ${crashAt}`).toEqual(clean);
      // The same message ids with the same bodies, though built chunk by chunk.
      expect(publisher.unique(), `crash in chunk 3 after ${crashAt}`).toEqual(cleanMessages);
    }
  });

  it('a contract with more actuals than the listing bound: lists up to the bound, reads only what the plan needs by key, and ends in the state of a whole listing', async () => {
    const key = 'listing-bound';
    const meta = { enqueuedAt: new Date(CONFIRMED_ON) };
    await clearDataverse(dv);
    let { fx, inv } = await seedMixed(key);
    const message = { invoiceId: inv.invoice.invoiceid };
    const wholePublisher = new RecordingPublisher();
    await confirmProformaInvoice(deps(wholePublisher), message, meta);
    const whole = await dataverseState(dv, refOf(fx, inv));

    await clearDataverse(dv);
    const seeded = await seedMixed(key);
    ({ fx, inv } = seeded);
    // History the invoice does not touch: 40 more actuals of the contract.
    const history = await seedActuals(dv, fx, Array.from({ length: 40 }, (_, i) => ({ quantity: '1', price: `${10 + i}.00` })), 1_000);
    const stored = (await dv.actuals.listPartition(fx.contract.salesorderid)).length;
    const { watched, listed, byKey } = watchActualReads();
    const publisher = new RecordingPublisher();
    await confirmProformaInvoice({ dataverse: watched, publisher, actualsListingLimit: 10 }, message, meta);
    expect(stored).toBeGreaterThan(40);
    expect(listed).toEqual([10]);
    // Read by key: the sources not listed, then every actual the plan makes (none of them listed,
    // as none existed); each id once, none of the history.
    const historyIds = new Set(history.map((a) => a.msdyn_actualid));
    const sourceIds = new Set(inv.details.map((d) => d.msdyn_sourceactual).filter((id): id is string => id !== undefined));
    const seededIds = new Set(seeded.actuals.map((a) => a.msdyn_actualid));
    const createdIds = whole.actuals.map((a) => String(a.msdyn_actualid)).filter((id) => !seededIds.has(id));
    expect(createdIds.length).toBeGreaterThan(inv.details.length);
    expect(new Set(byKey).size).toBe(byKey.length);
    expect(byKey.filter((id) => !sourceIds.has(id)).sort()).toEqual([...createdIds].sort());
    expect(byKey.filter((id) => historyIds.has(id))).toEqual([]);

    const bounded = await dataverseState(dv, refOf(fx, inv));
    expect(publisher.unique()).toEqual(wholePublisher.unique());
    expect({ ...bounded, actuals: bounded.actuals.filter((a) => !historyIds.has(String(a.msdyn_actualid))) }).toEqual(whole);
  });

  it("the dry run's and preview's read (actualsOfContractNamed): a contract past the bound is listed up to it, and only the named ids it did not reach are read by key", async () => {
    await clearDataverse(dv);
    const fx = await seedContract(dv, { key: 'named-bound' });
    const many = await seedActuals(dv, fx, Array.from({ length: ACTUALS_LISTING_FLOOR + 100 }, () => ({ quantity: '1', price: '10.00' })));
    const byRowKey = [...many].sort((a, b) => (a.msdyn_actualid < b.msdyn_actualid ? -1 : 1));
    const early = byRowKey[10]!.msdyn_actualid;
    const late = byRowKey[ACTUALS_LISTING_FLOOR + 50]!.msdyn_actualid;
    const unknown = '00000000-0000-4000-8000-000000000000';
    const { watched, byKey } = watchActualReads();
    const found = await watched.actualsOfContractNamed(fx.contract.salesorderid, new Set([early, late, unknown]), 1);
    expect([...found.keys()].sort()).toEqual([early, late].sort());
    expect(found.get(late)?.etag).toMatch(/^W\//);
    expect(byKey.sort()).toEqual([late, unknown].sort());
    // Within the bound (an invoice of 1,000 ILDs may list 10,000): one listing, nothing by key.
    byKey.length = 0;
    expect((await watched.actualsOfContractNamed(fx.contract.salesorderid, new Set([early, late]), 1_000)).size).toBe(2);
    expect(byKey).toEqual([]);
  });

  it('republish on a contract past the listing bound: the same recomputed messages, the history never read by key', async () => {
    await clearDataverse(dv);
    const { fx, inv } = await seedMixed('republish-bound');
    await confirmProformaInvoice(deps(new RecordingPublisher()), { invoiceId: inv.invoice.invoiceid }, { enqueuedAt: new Date(CONFIRMED_ON) });
    const before = await recomputeConfirmation(dv, inv.invoice.invoiceid);
    const history = await seedActuals(dv, fx, Array.from({ length: ACTUALS_LISTING_FLOOR + 100 }, () => ({ quantity: '1', price: '10.00' })), 10_000);
    const { watched, listed, byKey } = watchActualReads();
    const after = await recomputeConfirmation(watched, inv.invoice.invoiceid);
    expect(listed).toEqual([ACTUALS_LISTING_FLOOR]);
    expect(after.messages).toEqual(before.messages);
    const historyIds = new Set(history.map((a) => a.msdyn_actualid));
    expect(byKey.filter((id) => historyIds.has(id))).toEqual([]);
    expect(new Set(byKey).size).toBe(byKey.length);
    // The ids are deterministic: with this seed some of the plan's actuals sort after the first 5,000 rows.
    expect(byKey.length).toBeGreaterThan(0);
  });

  it('a broker failure while publishing throws; the redelivery republishes everything', async () => {
    const { inv } = await seedMixed();
    const publisher = new RecordingPublisher();
    publisher.failAfter = 1; // the proposal goes out, the actuals do not
    const message = { invoiceId: inv.invoice.invoiceid, confirmedOn: CONFIRMED_ON };
    await expect(confirmProformaInvoice(deps(publisher), message)).rejects.toThrow(/broker unavailable/);
    publisher.failAfter = undefined;
    await confirmProformaInvoice(deps(publisher), message);
    expect([...publisher.unique().keys()].sort()).toEqual([`actuals-${inv.invoice.invoiceid}-1`, `proposal-${inv.invoice.invoiceid}`]);
  });

  it('a source actual changed by someone else after it was read fails the ETag-guarded write; the redelivery keeps the change', async () => {
    const { fx, inv, actuals } = await seedMixed();
    const a0 = actuals[0]!;
    const publisher = new RecordingPublisher();
    const message = { invoiceId: inv.invoice.invoiceid, confirmedOn: CONFIRMED_ON };
    const racing = deps(publisher, {
      afterStep: async (step) => {
        if (step !== ConfirmationStep.NewActuals) return;
        // F&O's accounting details arrive for the source actual meanwhile.
        const current = (await dv.actuals.get(fx.contract.salesorderid, a0.msdyn_actualid))!;
        const { etag: _e, ...row } = current;
        await dv.actuals.upsert({ ...row, msdyn_externalreferenceid: 'VOU-0001', msdyn_postingdate: '2024-03-12' });
      },
    });
    await expect(confirmProformaInvoice(racing, message)).rejects.toThrow();
    expect((await dv.invoices.get(inv.invoice.invoiceid, inv.invoice.invoiceid))?.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Draft);

    await confirmProformaInvoice(deps(publisher), message);
    const source = await dv.actuals.get(fx.contract.salesorderid, a0.msdyn_actualid);
    expect(source).toMatchObject({ msdyn_billingstatus: BillingStatus.CustomerInvoicePosted, msdyn_externalreferenceid: 'VOU-0001' });
    expect((await dv.invoices.get(inv.invoice.invoiceid, inv.invoice.invoiceid))?.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Confirmed);
  });

  describe('refusals: a Business error, nothing written, nothing published', () => {
    async function expectRefused(invoiceId: string, ref: { contractId: string; invoiceId: string }, pattern: RegExp, type: abstract new (...args: never[]) => Error = BusinessError) {
      const before = await dataverseState(dv, ref, { withEtags: true });
      const publisher = new RecordingPublisher();
      const error = await confirmProformaInvoice(deps(publisher), { invoiceId, confirmedOn: CONFIRMED_ON }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(type);
      expect((error as Error).message).toMatch(pattern);
      expect(publisher.sent).toEqual([]);
      expect(await dataverseState(dv, ref, { withEtags: true })).toEqual(before);
    }

    it('unknown invoice', async () => {
      const id = '0b1e5a4c-0000-4000-8000-000000000001';
      await expectRefused(id, { contractId: id, invoiceId: id }, /Invoice 0b1e5a4c-0000-4000-8000-000000000001 was not found/, NotFoundError);
    });

    it('a Posted or Paid invoice', async () => {
      for (const status of [InvoiceStatus.Posted, InvoiceStatus.Paid]) {
        const fx = await seedContract(dv);
        const actuals = await seedActuals(dv, fx, [{}]);
        const inv = await seedDraftInvoice(dv, fx, { actuals, status });
        await expectRefused(inv.invoice.invoiceid, refOf(fx, inv), /is (Posted|Paid); only a Draft or In Review invoice can be confirmed/);
      }
    });

    it('an invoice Confirmed without this integration (its actuals missing)', async () => {
      const fx = await seedContract(dv);
      const actuals = await seedActuals(dv, fx, [{}]);
      const inv = await seedDraftInvoice(dv, fx, { actuals, status: InvoiceStatus.Confirmed });
      // A source in the state a confirmation leaves it, as if confirmed elsewhere.
      await dv.actuals.upsert({ ...actuals[0]!, msdyn_billingstatus: BillingStatus.CustomerInvoicePosted });
      await expectRefused(inv.invoice.invoiceid, refOf(fx, inv), /already Confirmed, but not by this integration/);
    });

    it('a rule of the plan (amount that is not quantity x price), with the ILD named', async () => {
      const fx = await seedContract(dv);
      const actuals = await seedActuals(dv, fx, [{}]);
      const inv = await seedDraftInvoice(dv, fx, { actuals });
      const ild = inv.details[0]!;
      await dv.invoiceLineDetails.upsert({ ...ild, msdyn_amount: '1.00' });
      await expectRefused(inv.invoice.invoiceid, refOf(fx, inv), new RegExp(`${ild.msdyn_invoicelinetransactionid}.*has amount 1.00`));
    });

    it('a source actual already posted by another confirmation', async () => {
      const fx = await seedContract(dv, { lines: [{ billingMethod: BillingMethod.TimeAndMaterial }] });
      const actuals = await seedActuals(dv, fx, [{}, {}]);
      const inv = await seedDraftInvoice(dv, fx, { actuals });
      await dv.actuals.upsert({ ...actuals[1]!, msdyn_billingstatus: BillingStatus.CustomerInvoicePosted });
      await expectRefused(inv.invoice.invoiceid, refOf(fx, inv), new RegExp(`actual ${actuals[1]!.msdyn_actualid} is already Customer Invoice Posted`));
    });
  });
});
