/**
 * End to end, on Azurite, the local Service Bus broker and the local Functions host running the
 * real app: a proforma invoice of a EUR contract (USD accounting currency), with time-and-material
 * actuals (one ILD edited), a milestone and tax on some lines, goes from its confirmation message
 * to a Posted invoice whose Dataverse actuals carry their vouchers and accounting amounts.
 * The import timer never fires in tests; the test runs the import use case between steps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actual } from '../../shared/dataverse/records';
import { isBalanced } from '../../shared/finance/rules/ledger';
import { toAccounting } from '../../shared/finance/rules/exchange';
import { isComplete } from '../../shared/finance/rules/import';
import { postingVoucher } from '../../shared/finance/rules/posting';
import { deterministicGuid } from '../../shared/core/ids';
import { amount, dec, extend, sum } from '../../shared/core/money';
import { InvoiceStatus, TransactionClass, TransactionType } from '../../shared/core/options';
import { StagingWork } from '../../shared/finance/import/stagingIndexStore';
import { TableLeases } from '../../shared/storage/leases';
import { TableSequenceStore } from '../../shared/storage/sequences';
import { ServiceBusPublisher } from '../../shared/servicebus/publisher';
import { Queues } from '../../shared/messages';
import { runImportFromStaging } from '../../shared/finance/import/importFromStaging';
import { CUSTOMER_INVOICE_SEQUENCE, postInvoiceProposal, postingRequestId } from '../../shared/finance/posting/postInvoiceProposal';
import { seedActuals, seedContract, seedDraftInvoice, seedMilestones, type ContractFixture, type InvoiceFixture } from '../kit/fixtures/dataverse';
import { startSystem, waitFor, type TestSystem } from '../kit/system';

let system: TestSystem;
let publisher: ServiceBusPublisher;
let sequences: TableSequenceStore;

const RATES = [
  { FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.084500', ValidFrom: '2024-01-01' },
  { FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.100000', ValidFrom: '2024-03-20' },
];

beforeAll(async () => {
  system = await startSystem();
  publisher = new ServiceBusPublisher(system.serviceBus);
  sequences = new TableSequenceStore(system.settings.IntegrationTables!);
  await system.finance.exchangeRates.upsertMany(RATES);
}, 120_000);

afterAll(async () => {
  await publisher?.close();
  await system?.stop();
});

async function importNow() {
  return runImportFromStaging(
    {
      finance: system.finance,
      work: new StagingWork(system.settings.FinanceTables!),
      leases: new TableLeases(system.settings.IntegrationTables!),
      publisher,
      accountingCurrency: 'USD',
    },
    { now: new Date() },
  );
}

function costOf(a: Actual): Actual {
  const { msdyn_billingstatus: _status, ...rest } = a;
  return {
    ...rest,
    msdyn_actualid: deterministicGuid('e2e-cost', a.msdyn_actualid),
    msdyn_transactiontypecode: TransactionType.Cost,
    msdyn_price: '90.00',
    msdyn_amount: extend(a.msdyn_quantity, '90.00'),
  };
}

describe('from a confirmation message to a Posted invoice', () => {
  let fx: ContractFixture;
  let inv: InvoiceFixture;
  let proposalId: string;

  it('runs the whole flow and refuses what must be refused on the way', { timeout: 300_000 }, async () => {
    // Dataverse: a EUR contract, three approved T&M entries (cost + unbilled), one ready milestone, a draft invoice.
    fx = await seedContract(system.dataverse, { key: 'e2e-posting', currency: 'EUR' });
    const unbilled = await seedActuals(system.dataverse, fx, [
      { quantity: '8', price: '150.00' },
      { quantity: '1', price: '333.33', cls: TransactionClass.Expense },
      { quantity: '4', price: '150.00' },
    ]);
    const milestones = await seedMilestones(system.dataverse, fx, [{ amount: '5000.00' }]);
    inv = await seedDraftInvoice(system.dataverse, fx, {
      actuals: unbilled,
      milestones,
      edits: { [unbilled[2]!.msdyn_actualid]: { quantity: '3' } }, // 4 h invoiced as 3: adjusted
      taxRate: '0.20',
    });
    // Tax on some lines only: the expense is tax-exempt.
    const expenseIld = inv.detailOf(unbilled[1]!.msdyn_actualid);
    await system.dataverse.invoiceLineDetails.upsert({ ...expenseIld, msdyn_tax: '0.00' });
    const taxOf = (d: { msdyn_invoicelinetransactionid: string; msdyn_tax: string }) => (d.msdyn_invoicelinetransactionid === expenseIld.msdyn_invoicelinetransactionid ? '0.00' : d.msdyn_tax);
    await system.dataverse.invoiceLines.upsertMany(
      inv.lines.map((l) => ({ ...l, tax: amount(sum(inv.details.filter((d) => d.msdyn_invoicelineid === l.invoicedetailid).map(taxOf))) })),
    );
    await system.dataverse.invoices.upsert({ ...inv.invoice, totaltax: amount(sum(inv.details.map(taxOf))) });
    proposalId = inv.invoice.invoicenumber;

    // The approved cost and unbilled actuals reach F&O (actuals sync) and are posted by the import.
    const invoiced = await system.dataverse.actualsOfContract(fx.contract.salesorderid);
    const costs = unbilled.map(costOf);
    await system.dataverse.actuals.upsertMany(costs);
    const toSync = [...[...invoiced.values()].map(({ etag: _etag, ...a }) => a), ...costs];
    await system.send(Queues.actuals, { actuals: toSync }, { messageId: 'e2e-approved-actuals' });
    await system.drain();
    const first = await importNow();
    expect(first.posted).toBe(6);
    await system.drain();

    // Confirmation message -> proposal header and billed actuals on the F&O side.
    await system.send(Queues.invoiceConfirmations, { invoiceId: inv.invoice.invoiceid, confirmedOn: '2024-03-31T10:00:00Z' }, { messageId: 'e2e-confirm' });
    const proposal = await waitFor('the proposal header', () => system.finance.proposals.get(proposalId, proposalId), 60_000);
    await system.drain();
    expect(proposal).toMatchObject({ CurrencyCode: 'EUR', ExpectedLineCount: 5, ExpectedAmount: '6983.33', ImportedLineCount: 0, Status: 'Open' });
    // The billed rows name their proposal (the invoice number) before the import takes them.
    const billedStaged = (await system.finance.staging.listPartition(fx.contract.salesorderid)).filter((r) => r.TransType === 'BilledSales');
    expect(billedStaged).toHaveLength(5);
    expect(billedStaged.map((r) => [r.ImportStatus, r.InvoiceId, r.InvoiceProposalId])).toEqual(billedStaged.map(() => ['Pending', inv.invoice.invoiceid, proposalId]));

    // Refusals before the import: incomplete (409 with the numbers), unknown (404), bad messages in the error log.
    const early = await system.http('POST', `finance/proposals/${proposalId}/post`);
    expect(early.status).toBe(409);
    expect(early.headers.get('content-type')).toContain('application/problem+json');
    expect(early.body.detail).toContain('expected 5 lines totalling 6983.33 EUR, imported 0 lines totalling 0.00 EUR');
    const unknown = await system.http('POST', 'finance/proposals/INV-NOSUCH/post', {});
    expect(unknown.status).toBe(404);
    expect(unknown.body.detail).toContain('Invoice proposal INV-NOSUCH does not exist');
    await system.send(Queues.proposalPostings, { proposalId }, { messageId: 'e2e-too-early' });
    await system.send(Queues.proposalPostings, { proposalId: 'INV-NOSUCH' }, { messageId: 'e2e-unknown' });
    await system.send(Queues.proposalPostings, { proposalId, postingDate: '31/03/2024' }, { messageId: 'e2e-bad-date' });
    const refusals = await waitFor(
      'three posting refusals in the error log',
      async () => {
        const rows = await system.errorLog.list({ source: 'postInvoiceProposal' });
        return rows.length >= 3 ? rows : undefined;
      },
      60_000,
    );
    expect(refusals.find((r) => r.MessageId === 'e2e-too-early')).toMatchObject({ Category: 'Business', Reference: proposalId, Message: expect.stringContaining('imported 0 lines') });
    expect(refusals.find((r) => r.MessageId === 'e2e-unknown')).toMatchObject({ Category: 'Business', Message: expect.stringContaining('INV-NOSUCH does not exist') });
    expect(refusals.find((r) => r.MessageId === 'e2e-bad-date')).toMatchObject({ Category: 'Validation', Message: expect.stringContaining('postingDate') });
    expect(await sequences.last(CUSTOMER_INVOICE_SEQUENCE)).toBe(0);

    // Import again: the new unbilled actual and the adjustment reversal post, then every billed row becomes a line.
    await importNow();
    await system.drain();
    const complete = await system.finance.proposals.get(proposalId, proposalId);
    expect(complete && isComplete(complete)).toBe(true);

    // A posting crashes after writing the ledger and the invoiced transactions (the same request the route sends) ...
    await expect(
      postInvoiceProposal(
        {
          finance: system.finance,
          sequences,
          publisher,
          accountingCurrency: 'USD',
          afterStep: (step) => {
            if (step === 'transactions') throw new Error('injected crash');
          },
        },
        { proposalId, requestId: postingRequestId(proposalId) },
      ),
    ).rejects.toThrow('injected crash');
    expect((await system.finance.proposals.get(proposalId, proposalId))?.Status).toBe('Open');

    // ... and the accountant's command (same request) finishes that posting through the host.
    const accepted = await system.http('POST', `finance/proposals/${proposalId}/post`);
    expect(accepted.status).toBe(202);
    expect(accepted.headers.get('location')).toMatch(new RegExp(`finance/proposals/${proposalId}$`));
    const posted = await waitFor('the proposal to be Posted', async () => {
      const p = await system.finance.proposals.get(proposalId, proposalId);
      return p?.Status === 'Posted' ? p : undefined;
    }, 60_000);
    const dvInvoice = await waitFor('the Dataverse invoice to be Posted', async () => {
      const i = await system.dataverse.invoices.get(inv.invoice.invoiceid, inv.invoice.invoiceid);
      return i?.msdyn_projectinvoicestatus === InvoiceStatus.Posted ? i : undefined;
    }, 60_000);
    await system.drain();

    const voucher = postingVoucher(proposalId);
    expect(posted).toMatchObject({ CustomerInvoiceId: 'CIV-000001', Voucher: voucher });
    expect(dvInvoice).toMatchObject({ msdyn_customerinvoicenumber: 'CIV-000001', msdyn_customerinvoicedate: '2024-03-31' });
    const civ = await system.finance.customerInvoices.get('CIV-000001', 'CIV-000001');
    const expectedTax = amount(sum(inv.details.map(taxOf)));
    expect(civ).toMatchObject({ ProposalId: proposalId, CurrencyCode: 'EUR', InvoiceAmount: '6983.33', SalesTaxAmount: expectedTax, Voucher: voucher });
    expect(civ?.AccountingAmount).toBe(toAccounting(dec('6983.33').plus(expectedTax), '1.100000'));

    // Every voucher balances: the import's project transaction vouchers and the invoice's.
    const ledger = await system.finance.ledgerEntries.query();
    const vouchers = new Map<string, typeof ledger>();
    for (const e of ledger) vouchers.set(e.Voucher, [...(vouchers.get(e.Voucher) ?? []), e]);
    expect(vouchers.has(voucher)).toBe(true);
    for (const [v, entries] of vouchers) expect(isBalanced(entries), `voucher ${v}`).toBe(true);

    // The Dataverse actuals carry their vouchers and accounting amounts.
    const actuals = [...(await system.dataverse.actualsOfContract(fx.contract.salesorderid)).values()];
    const synced = actuals.filter((a) => !a.msdyn_skipsync);
    const billed = synced.filter((a) => a.msdyn_transactiontypecode === TransactionType.BilledSales);
    expect(billed).toHaveLength(5);
    for (const a of synced) {
      expect(a.msdyn_externalreferenceid, `voucher of ${a.msdyn_actualid}`).toBeDefined();
      expect(a.msdyn_accountingcurrency).toBe('USD');
      if (a.msdyn_transactiontypecode !== TransactionType.BilledSales) {
        expect(a.msdyn_accountingamount).toBe(toAccounting(a.msdyn_amount, a.msdyn_exchangerate!));
      }
    }
    for (const a of billed) {
      expect(a).toMatchObject({ msdyn_externalreferenceid: voucher, msdyn_postingdate: '2024-03-31', msdyn_exchangerate: '1.100000' });
      expect(a.msdyn_salestaxamount).toBeDefined();
    }
    expect(billed.find((a) => a.msdyn_unbilledactual === unbilled[1]!.msdyn_actualid)?.msdyn_salestaxamount).toBe('0.00');
    expect(amount(sum(billed.map((a) => a.msdyn_accountingamount!)))).toBe(
      amount(sum(vouchers.get(voucher)!.filter((e) => e.MainAccount === 'Revenue').map((e) => dec(e.Amount).negated()))),
    );
    expect(actuals.filter((a) => a.msdyn_skipsync).every((a) => a.msdyn_externalreferenceid === undefined)).toBe(true);

    // The invoiced unbilled transactions are fully invoiced; the billed staging rows carry the details.
    const transactions = await system.finance.projectTransactions.listPartition(fx.projectId);
    const invoicedTx = transactions.filter((t) => t.FullyInvoiced);
    expect(invoicedTx).toHaveLength(4); // two unchanged, the edited one's new unbilled and its zero remainder
    expect(invoicedTx.every((t) => t.CustomerInvoiceId === 'CIV-000001')).toBe(true);
    const staging = await system.finance.staging.listPartition(fx.contract.salesorderid);
    expect(staging.filter((r) => r.TransType === 'BilledSales').every((r) => r.VoucherNumber === voucher && r.AccountingAmount !== undefined)).toBe(true);

    // Posting the same proposal twice posts once.
    const again = await system.http('POST', `finance/proposals/${proposalId}/post`);
    expect(again.status).toBe(409);
    expect(again.body.detail).toContain('already posted as customer invoice CIV-000001');
    await system.send(Queues.proposalPostings, { proposalId }, { messageId: 'e2e-second-posting' });
    await system.send(Queues.proposalPostings, { proposalId }, { messageId: postingRequestId(proposalId) }); // the first request, redelivered
    const second = await waitFor('the second posting refused', async () => {
      const rows = await system.errorLog.list({ source: 'postInvoiceProposal' });
      return rows.find((r) => r.MessageId === 'e2e-second-posting');
    }, 60_000);
    expect(second).toMatchObject({ Category: 'Business', Message: expect.stringContaining(`Invoice proposal ${proposalId} is already posted as customer invoice CIV-000001`) });
    await system.drain();
    const errors = await system.errorLog.list({ source: 'postInvoiceProposal' });
    expect(errors.filter((r) => r.MessageId === postingRequestId(proposalId))).toEqual([]);
    expect(await system.errorLog.list({ source: 'syncActualsAccounting' })).toEqual([]);
    expect(await sequences.last(CUSTOMER_INVOICE_SEQUENCE)).toBe(1);
    expect((await system.finance.customerInvoices.query()).map((c) => c.InvoiceId)).toEqual(['CIV-000001']);
    expect((await system.finance.ledgerEntries.listPartition(voucher)).length).toBe(vouchers.get(voucher)!.length);
  });
});
