/**
 * A credit note through the real stack (domain.md step 12, the F&O side): Azurite, the local
 * Service Bus broker and the local Functions host running the real app.
 *
 * An EUR invoice (time, expense, a milestone; 20 % tax) is confirmed through `invoice-confirmations`
 * and imported. Then its corrective invoice arrives the way the Dataverse side sends it: a corrective
 * header on `invoice-proposals` (correctedInvoiceId, correctedProposalId, negative totals) and on
 * `actuals` a billed sales reversal of every billed actual (its negative copy, Unadjustable, on the
 * corrective invoice, with the original's unbilled actual) and the credited work back in the backlog
 * as new unbilled actuals. The test builds those messages itself (the Dataverse side produces the
 * same). The credit cannot be posted before the original; once the original is posted, the credit
 * note is the original negated to the cent, every voucher balances, the credited transactions are no
 * longer fully invoiced, and the corrective invoice becomes Posted on Dataverse with its accounting
 * details. Replays and republishing change nothing, and the repair sweep restores accounting details
 * a lost message never delivered. The import and the sweep run through their use cases.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actual, Invoice } from '../../../shared/dataverse/records';
import { isBalanced } from '../../../shared/finance/rules/ledger';
import { isComplete } from '../../../shared/finance/rules/completeness';
import { postingVoucher } from '../../../shared/finance/rules/posting';
import { deterministicGuid } from '../../../shared/core/ids';
import { amount, dec, negate, sum } from '../../../shared/core/money';
import { AdjustmentStatus, BillingStatus, InvoiceStatus, TransactionClass, TransactionType } from '../../../shared/core/options';
import { withoutEtag } from '../../../shared/core/stored';
import { StagingWork } from '../../../shared/finance/import/stagingIndexStore';
import { TableLeases } from '../../../shared/storage/leases';
import { TableSequenceStore } from '../../../shared/storage/sequences';
import { ServiceBusPublisher } from '../../../shared/servicebus/publisher';
import { invoiceProposalMessage, Queues, type InvoiceProposalMessage } from '../../../shared/messages';
import { runImportFromStaging } from '../../../shared/finance/import/importFromStaging';
import { CUSTOMER_INVOICE_SEQUENCE, postInvoiceProposal, postingRequestId } from '../../../shared/finance/posting/postInvoiceProposal';
import { checkInvariants } from '../../../shared/operations/invariants';
import { reconcile } from '../../../shared/operations/reconcile';
import { seedActuals, seedContract, seedDraftInvoice, seedMilestones, type ContractFixture } from '../../kit/fixtures/dataverse';
import { startSystem, waitFor, type TestSystem } from '../../kit/system';

let sys: TestSystem;
let publisher: ServiceBusPublisher;
let sequences: TableSequenceStore;

const RATES = [
  { FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.084500', ValidFrom: '2024-01-01' },
  { FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.100000', ValidFrom: '2024-03-20' },
];
const CORRECTION_DATE = '2024-04-15';

beforeAll(async () => {
  sys = await startSystem();
  publisher = new ServiceBusPublisher(sys.serviceBus);
  sequences = new TableSequenceStore(sys.settings.IntegrationTables!);
  await sys.finance.exchangeRates.upsertMany(RATES);
}, 120_000);

afterAll(async () => {
  await publisher?.close();
  await sys?.stop();
});

async function importNow() {
  const result = await runImportFromStaging(
    { finance: sys.finance, work: new StagingWork(sys.settings.FinanceTables!), leases: new TableLeases(sys.settings.IntegrationTables!), publisher, accountingCurrency: 'USD' },
    { now: new Date() },
  );
  await sys.drain();
  return result;
}

const ACCOUNTING_FIELDS = ['msdyn_externalreferenceid', 'msdyn_postingdate', 'msdyn_accountingcurrency', 'msdyn_accountingamount', 'msdyn_exchangerate'] as const;

/** An actual as the Dataverse side would send it (no accounting details from F&O, no ETag). */
function asSent(a: Actual): Actual {
  const out: Record<string, unknown> = { ...withoutEtag(a as Actual & { etag?: string }) };
  for (const field of ACCOUNTING_FIELDS) delete out[field];
  return out as Actual;
}

/** The billed sales reversal of billed actual `b` on the corrective invoice (interface point 2). */
function billedReversal(b: Actual, correctiveId: string): Actual {
  const r: Actual = {
    ...asSent(b),
    msdyn_actualid: deterministicGuid('credit-flow', 'reversal', b.msdyn_actualid),
    msdyn_quantity: negate(b.msdyn_quantity),
    msdyn_amount: negate(b.msdyn_amount),
    msdyn_salestaxamount: negate(b.msdyn_salestaxamount ?? '0.00'),
    msdyn_adjustmentstatus: AdjustmentStatus.Unadjustable,
    msdyn_billingstatus: BillingStatus.CustomerInvoicePosted,
    msdyn_reversedactual: b.msdyn_actualid,
    msdyn_invoice: correctiveId,
    msdyn_accountingdate: CORRECTION_DATE,
    msdyn_skipsync: false,
  };
  return r;
}

/** The credited work of a T&M billed actual, back in the backlog: an ordinary unbilled actual. */
function backInBacklog(b: Actual): Actual {
  const { msdyn_invoice: _i, msdyn_unbilledactual: _u, msdyn_salestaxamount: _t, msdyn_adjustmentstatus: _a, msdyn_reversedactual: _r, ...rest } = asSent(b);
  return {
    ...rest,
    msdyn_actualid: deterministicGuid('credit-flow', 'backlog', b.msdyn_actualid),
    msdyn_transactiontypecode: TransactionType.UnbilledSales,
    msdyn_billingstatus: BillingStatus.UnbilledSalesCreated,
    msdyn_accountingdate: CORRECTION_DATE,
    msdyn_skipsync: false,
  };
}

/** Everything both sides hold of the contract and its two invoices (ETags kept: any write shows). */
async function state(fx: ContractFixture, invoiceIds: string[], proposalIds: string[]): Promise<string> {
  const contractId = fx.contract.salesorderid;
  const parts = await Promise.all([
    Promise.all(proposalIds.map((p) => sys.finance.proposals.get(p, p))),
    Promise.all(proposalIds.map((p) => sys.finance.proposalLines.listPartition(p))),
    sys.finance.customerInvoices.query(),
    sys.finance.ledgerEntries.query(),
    sys.finance.projectTransactions.listPartition(fx.projectId),
    sys.finance.staging.listPartition(contractId),
    sys.dataverse.actuals.listPartition(contractId),
    Promise.all(invoiceIds.map((i) => sys.dataverse.invoices.get(i, i))),
    sequences.last(CUSTOMER_INVOICE_SEQUENCE),
  ]);
  return JSON.stringify(parts);
}

describe('a credit note through the real stack', () => {
  it('credits a posted invoice in full: refused before the original is posted, then the original negated to the cent', { timeout: 300_000 }, async () => {
    // ---- the original: Dataverse invoice, approved actuals in F&O, confirmation, import ----------
    const fx = await seedContract(sys.dataverse, { key: 'credit-note-flow', currency: 'EUR' });
    const contractId = fx.contract.salesorderid;
    const unbilled = await seedActuals(sys.dataverse, fx, [
      { quantity: '8', price: '150.00' },
      { quantity: '1', price: '333.33', cls: TransactionClass.Expense },
    ]);
    const milestones = await seedMilestones(sys.dataverse, fx, [{ amount: '5000.00' }]);
    const inv = await seedDraftInvoice(sys.dataverse, fx, { actuals: unbilled, milestones, taxRate: '0.20' });
    const originalId = inv.invoice.invoiceid;
    const originalNumber = inv.invoice.invoicenumber;

    const approved = [...(await sys.dataverse.actualsOfContract(contractId)).values()].map(asSent);
    await sys.send(Queues.actuals, { actuals: approved }, { messageId: 'credit-flow-approved' });
    await sys.drain();
    expect((await importNow()).posted).toBe(2);

    await sys.send(Queues.invoiceConfirmations, { invoiceId: originalId, confirmedOn: '2024-03-31T10:00:00Z' }, { messageId: 'credit-flow-confirm' });
    await waitFor('the original proposal', () => sys.finance.proposals.get(originalNumber, originalNumber), 60_000);
    await sys.drain();
    await importNow();
    const original = (await sys.finance.proposals.get(originalNumber, originalNumber))!;
    const confirmed = (await sys.dataverse.invoices.get(originalId, originalId))!;
    expect(original).toMatchObject({ ExpectedLineCount: 3, ExpectedAmount: '6533.33', ExpectedTax: '1306.67', ImportedLineCount: 3, ImportedAmount: '6533.33', ImportedTax: '1306.67', Status: 'Open' });
    expect(confirmed).toMatchObject({ totalamount: '6533.33', totaltax: '1306.67', msdyn_projectinvoicestatus: InvoiceStatus.Confirmed });
    expect(isComplete(original)).toBe(true);

    // ---- the corrective invoice, as the Dataverse side sends it ------------------------------
    const originalBilled = [...(await sys.dataverse.actualsOfContract(contractId)).values()].filter(
      (a) => a.msdyn_transactiontypecode === TransactionType.BilledSales && a.msdyn_invoice === originalId,
    );
    expect(originalBilled).toHaveLength(3);
    const correctiveId = deterministicGuid('credit-flow', 'corrective-invoice');
    const correctiveNumber = `${originalNumber}-C1`;
    const reversals = originalBilled.map((b) => billedReversal(b, correctiveId));
    const backlog = originalBilled.filter((b) => b.msdyn_unbilledactual !== undefined).map(backInBacklog);
    expect(backlog).toHaveLength(2); // the milestone goes back to Ready on Dataverse, nothing for F&O
    const corrective: Invoice = {
      ...withoutEtag(confirmed),
      invoiceid: correctiveId,
      invoicenumber: correctiveNumber,
      name: `Correction of ${originalNumber}`,
      msdyn_projectinvoicestatus: InvoiceStatus.Confirmed,
      msdyn_invoicedate: CORRECTION_DATE,
      msdyn_confirmedon: `${CORRECTION_DATE}T09:00:00.000Z`,
      totalamount: negate(confirmed.totalamount),
      totaltax: negate(confirmed.totaltax),
      msdyn_correctedinvoice: originalId,
    };
    delete corrective.pi_confirmationrequestedon;
    await sys.dataverse.invoices.upsert(corrective);
    await sys.dataverse.actuals.upsertMany([...reversals, ...backlog, ...originalBilled.map((b) => ({ ...withoutEtag(b), msdyn_adjustmentstatus: AdjustmentStatus.Adjusted }))]);
    const creditHeader: InvoiceProposalMessage = invoiceProposalMessage.parse({
      proposalId: correctiveNumber,
      invoiceId: correctiveId,
      contractId,
      customerId: fx.contract.customerid,
      customerAccount: original.CustomerAccount,
      currencyCode: 'EUR',
      invoiceDate: CORRECTION_DATE,
      expectedLineCount: reversals.length,
      expectedAmount: amount(sum(reversals.map((r) => r.msdyn_amount))),
      expectedTax: amount(sum(reversals.map((r) => r.msdyn_salestaxamount!))),
      confirmedOn: corrective.msdyn_confirmedon,
      correctedInvoiceId: originalId,
      correctedProposalId: originalNumber,
    });
    expect(creditHeader).toMatchObject({ expectedAmount: '-6533.33', expectedTax: '-1306.67' });
    await sys.send(Queues.invoiceProposals, creditHeader, { messageId: `proposal-${correctiveId}` });
    await sys.send(Queues.actuals, { actuals: [...reversals, ...backlog] }, { messageId: 'credit-flow-corrective-actuals' });
    await sys.drain();
    const run = await importNow();
    expect(run).toMatchObject({ posted: 2, linesCreated: 3, waiting: 0, errors: 0 });

    const credit = (await sys.finance.proposals.get(correctiveNumber, correctiveNumber))!;
    expect(credit).toMatchObject({
      InvoiceId: correctiveId,
      CorrectedProposalId: originalNumber,
      CorrectedInvoiceId: originalId,
      ExpectedLineCount: 3,
      ExpectedAmount: '-6533.33',
      ExpectedTax: '-1306.67',
      ImportedLineCount: 3,
      ImportedAmount: '-6533.33',
      ImportedTax: '-1306.67',
      Status: 'Open',
    });
    expect(isComplete(credit)).toBe(true);
    const creditLines = await sys.finance.proposalLines.listPartition(correctiveNumber);
    expect(creditLines.every((l) => dec(l.LineAmount).lte(0) && l.ReversedActualId !== undefined)).toBe(true);
    expect(creditLines.map((l) => l.ReversedActualId).sort()).toEqual(originalBilled.map((b) => b.msdyn_actualid).sort());

    // The proposals view shows the credit proposal with what it corrects, and the original with its credit.
    const view = await sys.http('GET', `finance/proposals/${correctiveNumber}`);
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({
      kind: 'Credit',
      corrects: { proposalId: originalNumber, status: 'Open', invoiceId: originalId },
      reconciliation: { expectedAmount: '-6533.33', importedAmount: '-6533.33', taxChecked: true, expectedTax: '-1306.67', importedTax: '-1306.67', missingTax: '0.00', complete: true },
    });
    expect((await sys.http('GET', `finance/proposals/${originalNumber}`)).body).toMatchObject({ kind: 'Invoice', correctedBy: [{ proposalId: correctiveNumber, status: 'Open' }] });

    // ---- a credit before its original: refused, nothing written ------------------------------
    const early = await sys.http('POST', `finance/proposals/${correctiveNumber}/post`);
    expect(early.status).toBe(409);
    expect(early.body.detail).toContain(`Credit proposal ${correctiveNumber} corrects invoice proposal ${originalNumber}, which is Open (not posted yet)`);
    expect(early.body.detail).toContain(`Post ${originalNumber} first`);
    await sys.send(Queues.proposalPostings, { proposalId: correctiveNumber }, { messageId: 'credit-flow-too-early' });
    const refused = await waitFor('the early credit posting refused', async () => (await sys.errorLog.list({ source: 'postInvoiceProposal' })).find((r) => r.MessageId === 'credit-flow-too-early'), 60_000);
    expect(refused).toMatchObject({ Category: 'Business', Reference: correctiveNumber, Message: expect.stringContaining(`Post ${originalNumber} first`) });
    await sys.drain();
    expect(await sequences.last(CUSTOMER_INVOICE_SEQUENCE)).toBe(0);
    expect(await sys.finance.customerInvoices.query()).toEqual([]);

    // ---- post the original, then the credit ------------------------------------------------
    expect((await sys.http('POST', `finance/proposals/${originalNumber}/post`)).status).toBe(202);
    await waitFor('the original invoice Posted on Dataverse', async () => {
      const i = await sys.dataverse.invoices.get(originalId, originalId);
      return i?.msdyn_projectinvoicestatus === InvoiceStatus.Posted ? i : undefined;
    }, 60_000);
    await sys.drain();
    expect((await sys.http('POST', `finance/proposals/${correctiveNumber}/post`)).status).toBe(202);
    const dvCorrective = await waitFor('the corrective invoice Posted on Dataverse', async () => {
      const i = await sys.dataverse.invoices.get(correctiveId, correctiveId);
      return i?.msdyn_projectinvoicestatus === InvoiceStatus.Posted ? i : undefined;
    }, 60_000);
    await sys.drain();

    const postedOriginal = (await sys.finance.proposals.get(originalNumber, originalNumber))!;
    const postedCredit = (await sys.finance.proposals.get(correctiveNumber, correctiveNumber))!;
    expect(postedOriginal).toMatchObject({ Status: 'Posted', CustomerInvoiceId: 'CIV-000001' });
    expect(postedCredit).toMatchObject({ Status: 'Posted', CustomerInvoiceId: 'CIV-000002', Voucher: postingVoucher(correctiveNumber) });
    expect(dvCorrective).toMatchObject({ msdyn_customerinvoicenumber: 'CIV-000002', msdyn_customerinvoicedate: CORRECTION_DATE, msdyn_correctedinvoice: originalId });
    expect(await sys.dataverse.invoices.get(originalId, originalId)).toMatchObject({ msdyn_projectinvoicestatus: InvoiceStatus.Posted, msdyn_customerinvoicenumber: 'CIV-000001' });

    // The credit note is the original negated, to the cent (both posted at 1.100000).
    const civ1 = withoutEtag((await sys.finance.customerInvoices.get('CIV-000001', 'CIV-000001'))!);
    const civ2 = withoutEtag((await sys.finance.customerInvoices.get('CIV-000002', 'CIV-000002'))!);
    expect(civ1).toMatchObject({ InvoiceAmount: '6533.33', SalesTaxAmount: '1306.67', TotalAmount: '7840.00', AccountingAmount: '8624.00' });
    expect(civ2).toEqual({
      InvoiceId: 'CIV-000002',
      ProposalId: correctiveNumber,
      CustomerAccount: civ1.CustomerAccount,
      InvoiceDate: CORRECTION_DATE,
      CurrencyCode: 'EUR',
      InvoiceAmount: '-6533.33',
      SalesTaxAmount: '-1306.67',
      TotalAmount: '-7840.00',
      AccountingAmount: '-8624.00',
      Voucher: postingVoucher(correctiveNumber),
      CorrectedInvoiceId: 'CIV-000001',
      CorrectedProposalId: originalNumber,
    });

    // Every voucher balances; the credit voucher has the sides reversed and re-accrues the WIP.
    const ledger = await sys.finance.ledgerEntries.query();
    const vouchers = new Map<string, typeof ledger>();
    for (const e of ledger) vouchers.set(e.Voucher, [...(vouchers.get(e.Voucher) ?? []), e]);
    for (const [v, entries] of vouchers) expect(isBalanced(entries), `voucher ${v}`).toBe(true);
    const creditVoucher = vouchers.get(postingVoucher(correctiveNumber))!;
    const originalVoucher = vouchers.get(postingVoucher(originalNumber))!;
    const total = (entries: typeof ledger, account: string) => amount(sum(entries.filter((e) => e.MainAccount === account).map((e) => e.Amount)));
    // The two unbilled transactions were posted at import at 1.084500: 1301.40 + 361.50.
    expect(creditVoucher.map((e) => [e.MainAccount, e.Amount])).toEqual([
      ['WIPSalesValue', '1662.90'],
      ['AccruedRevenue', '-1662.90'],
      ['CustomerBalance', '-8624.00'],
      ['Revenue', '7186.66'],
      ['SalesTaxPayable', '1437.34'],
    ]);
    for (const account of ['CustomerBalance', 'Revenue', 'SalesTaxPayable', 'WIPSalesValue', 'AccruedRevenue']) {
      expect(total(creditVoucher, account), account).toBe(amount(dec(total(originalVoucher, account)).negated()));
    }

    // The credited transactions are no longer fully invoiced; the work back in the backlog is posted, not invoiced.
    const transactions = new Map((await sys.finance.projectTransactions.listPartition(fx.projectId)).map((t) => [t.TransId, t] as const));
    for (const u of unbilled) {
      const t = transactions.get(u.msdyn_actualid)!;
      expect(t).toMatchObject({ FullyInvoiced: false, CreditNoteId: 'CIV-000002', CreditedInvoiceId: 'CIV-000001' });
      expect(t.CustomerInvoiceId).toBeUndefined();
    }
    for (const a of backlog) expect(transactions.get(a.msdyn_actualid)).toMatchObject({ TransType: 'UnbilledSales', FullyInvoiced: false, Amount: a.msdyn_amount });

    // Accounting details reach the Dataverse actuals: every reversal (and the backlog actuals, from the import).
    const dv = await sys.dataverse.actualsOfContract(contractId);
    for (const r of reversals) {
      const got = dv.get(r.msdyn_actualid)!;
      expect(got).toMatchObject({ msdyn_externalreferenceid: postingVoucher(correctiveNumber), msdyn_postingdate: CORRECTION_DATE, msdyn_accountingcurrency: 'USD', msdyn_exchangerate: '1.100000', msdyn_salestaxamount: r.msdyn_salestaxamount });
      expect(dec(got.msdyn_accountingamount!).lte(0)).toBe(true);
    }
    const accounted = (ids: string[]) => amount(sum(ids.map((i) => dv.get(i)!.msdyn_accountingamount!)));
    expect(accounted(reversals.map((r) => r.msdyn_actualid))).toBe(negate(accounted(originalBilled.map((b) => b.msdyn_actualid))));
    for (const a of backlog) expect(dv.get(a.msdyn_actualid)?.msdyn_externalreferenceid).toMatch(/^PJV-/);

    // The F&O invariants hold (the Dataverse-side ones are the corrective invoice's own business).
    const report = await checkInvariants({ dataverse: sys.dataverse, finance: sys.finance, errorLog: sys.errorLog });
    expect(report.violations.filter((v) => ['postedRowHasTransaction', 'voucherBalances', 'postedProposalHasCustomerInvoice'].includes(v.invariant))).toEqual([]);
    expect(await sys.errorLog.list({ source: 'syncActualsAccounting' })).toEqual([]);

    // ---- replays change nothing ----------------------------------------------------------------
    const before = await state(fx, [originalId, correctiveId], [originalNumber, correctiveNumber]);
    // The same posting request redelivered (after Posted): its accounting details go again, nothing else.
    const again = await postInvoiceProposal({ finance: sys.finance, sequences, publisher, accountingCurrency: 'USD' }, { proposalId: correctiveNumber, requestId: postingRequestId(correctiveNumber) });
    expect(again).toMatchObject({ outcome: 'republished', customerInvoiceId: 'CIV-000002' });
    // Another request to post it: refused as already posted.
    await sys.send(Queues.proposalPostings, { proposalId: correctiveNumber }, { messageId: 'credit-flow-second' });
    const second = await waitFor('the second credit posting refused', async () => (await sys.errorLog.list({ source: 'postInvoiceProposal' })).find((r) => r.MessageId === 'credit-flow-second'), 60_000);
    expect(second.Message).toContain(`Invoice proposal ${correctiveNumber} is already posted as customer invoice CIV-000002`);
    // The accounting details republished by hand.
    expect((await sys.http('POST', `finance/proposals/${correctiveNumber}/republish-accounting`)).status).toBe(202);
    await sys.drain();
    expect(await state(fx, [originalId, correctiveId], [originalNumber, correctiveNumber])).toBe(before);
    expect(await sys.errorLog.list({ source: 'syncActualsAccounting' })).toEqual([]);

    // ---- the repair sweep brings back accounting details a lost message never delivered ---------
    const lost = reversals[0]!.msdyn_actualid;
    await sys.dataverse.actuals.upsert(asSent(withoutEtag(dv.get(lost)!)));
    expect((await sys.dataverse.actuals.get(contractId, lost))?.msdyn_externalreferenceid).toBeUndefined();
    const swept = await reconcile(
      {
        dataverse: sys.dataverse,
        finance: sys.finance,
        work: new StagingWork(sys.settings.FinanceTables!),
        sequences,
        leases: new TableLeases(sys.settings.IntegrationTables!),
        publisher,
        errorLog: sys.errorLog,
      },
      { now: new Date(Date.now() + 20 * 60_000) },
    );
    expect(swept.republished.accountingProposals).toBe(1);
    expect(swept.problems).toBe(0);
    await sys.drain();
    expect(await sys.dataverse.actuals.get(contractId, lost)).toMatchObject({ msdyn_externalreferenceid: postingVoucher(correctiveNumber), msdyn_salestaxamount: reversals[0]!.msdyn_salestaxamount });
  });
});
