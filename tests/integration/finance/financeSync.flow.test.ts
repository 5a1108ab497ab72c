/**
 * The F&O inbound maps and views through the whole system: messages sent with the real
 * @azure/service-bus SDK to the local broker, handled by the real app in the local Functions host,
 * stored in Azurite; HTTP through the host's routes.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { InvoiceStatus, TransactionClass, TransactionType } from '../../../shared/core/options';
import { StagingWork } from '../../../shared/finance/import/stagingIndexStore';
import { TableLeases } from '../../../shared/storage/leases';
import { runImportFromStaging } from '../../../shared/finance/import/importFromStaging';
import { startSystem, waitFor, type TestSystem } from '../../kit/system';
import { billedActual, costActual, id, proposalMessage, scenario, unbilledActual } from '../../kit/fixtures/finance';
import { RecordingPublisher } from '../../kit/publisher';

let sys: TestSystem;
let work: StagingWork;
const hostLog: string[] = [];

beforeAll(async () => {
  sys = await startSystem({ log: (line) => hostLog.push(line) });
  work = new StagingWork(sys.settings.FinanceTables!);
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

const header = (proposalId: string) => sys.finance.proposals.get(proposalId, proposalId);
const stagingRow = (contractId: string, actualId: string) => sys.finance.staging.get(contractId, actualId);

describe('syncInvoiceProposal and syncActuals through Service Bus', () => {
  it('lands the proposal header and the staging rows with exact fields and mapped values; skip-sync actuals stay out', async () => {
    const s = scenario('flow-exact', 'EUR');
    const cost = { ...costActual(s, id('flow-exact', 'cost'), '412.50'), msdyn_transactionclassification: TransactionClass.Expense, msdyn_quantity: '1', msdyn_price: '412.50' };
    const unbilled = unbilledActual(s, id('flow-exact', 'unbilled'), '800.00');
    const billed = billedActual(s, id('flow-exact', 'billed'), unbilled.msdyn_actualid, '800.00');
    const milestone = {
      ...billedActual(s, id('flow-exact', 'milestone'), undefined, '5000.00'),
      msdyn_transactionclassification: TransactionClass.Milestone,
      msdyn_quantity: '1',
      msdyn_price: '5000.00',
    };
    const reversal = { ...unbilledActual(s, id('flow-exact', 'reversal'), '-800.00'), msdyn_skipsync: true, msdyn_reversedactual: unbilled.msdyn_actualid };

    await sys.send('invoice-proposals', proposalMessage(s, ['800.00', '5000.00']), { messageId: `proposal-${s.proposalId}` });
    await sys.send('actuals', { actuals: [cost, unbilled, billed, milestone, reversal] }, { messageId: 'actuals-flow-exact' });
    await sys.drain();

    expect(await header(s.proposalId)).toMatchObject({
      ProposalId: s.proposalId,
      InvoiceId: s.invoiceId,
      ContractId: s.contractId,
      CustomerAccount: 'CUST-001',
      CurrencyCode: 'EUR',
      InvoiceDate: '2024-03-31',
      ExpectedLineCount: 2,
      ExpectedAmount: '5800.00',
      ImportedLineCount: 0,
      ImportedAmount: '0.00',
      Status: 'Open',
    });

    const { etag: _e1, ...costRow } = (await stagingRow(s.contractId, cost.msdyn_actualid))!;
    expect(costRow).toEqual({
      ActualId: cost.msdyn_actualid,
      TransType: 'Cost',
      TransactionClassification: 'Expense',
      BillingType: 'Chargeable',
      Quantity: '1',
      UnitPrice: '412.50',
      Amount: '412.50',
      TransactionCurrencyId: 'EUR',
      AccountingDate: '2024-03-10',
      DocumentDate: '2024-03-10',
      ContractId: s.contractId,
      ContractLineId: s.contractLineId,
      ProjectId: s.projectId,
      ImportStatus: 'Pending',
    });
    expect(await stagingRow(s.contractId, unbilled.msdyn_actualid)).toMatchObject({ TransType: 'UnbilledSales', TransactionClassification: 'Time', Quantity: '8', UnitPrice: '100.00', Amount: '800.00', ImportStatus: 'Pending' });
    expect(await stagingRow(s.contractId, billed.msdyn_actualid)).toMatchObject({
      TransType: 'BilledSales',
      InvoiceId: s.invoiceId,
      UnbilledActualId: unbilled.msdyn_actualid,
      SalesTaxAmount: '0.00',
      ImportStatus: 'Pending',
    });
    expect(await stagingRow(s.contractId, milestone.msdyn_actualid)).toMatchObject({ TransType: 'BilledSales', TransactionClassification: 'Milestone', Amount: '5000.00' });
    expect(await stagingRow(s.contractId, reversal.msdyn_actualid)).toBeUndefined();
    // the pending index holds the four rows import has to do, and not the skip-sync one
    const indexed = new Set((await work.list()).map((i) => i.ActualId));
    for (const a of [cost, unbilled, billed, milestone]) expect(indexed.has(a.msdyn_actualid)).toBe(true);
    expect(indexed.has(reversal.msdyn_actualid)).toBe(false);
    expect(await sys.errorLog.list({ source: 'syncActuals' })).toEqual([]);
  });

  it('is harmless to deliver everything twice, and to deliver the actuals before their header', async () => {
    const s = scenario('flow-twice');
    const unbilled = unbilledActual(s, id('flow-twice', 'u'), '120.00');
    const billed = billedActual(s, id('flow-twice', 'b'), unbilled.msdyn_actualid, '120.00');
    const actuals = { actuals: [unbilled, billed] };

    // actuals first (twice, as two different messages), then the header (twice)
    await sys.send('actuals', actuals);
    await sys.send('actuals', actuals);
    await sys.drain();
    const first = await stagingRow(s.contractId, billed.msdyn_actualid);
    expect(first?.ImportStatus).toBe('Pending');
    await sys.send('invoice-proposals', proposalMessage(s, ['120.00']));
    await sys.send('invoice-proposals', proposalMessage(s, ['120.00']));
    await sys.drain();
    expect((await stagingRow(s.contractId, billed.msdyn_actualid))?.etag).toBe(first?.etag);
    const created = await header(s.proposalId);
    expect(created).toMatchObject({ ExpectedLineCount: 1, ExpectedAmount: '120.00', ImportedLineCount: 0, Status: 'Open' });

    // import (called directly: the timer never fires in tests), then everything once more
    const publisher = new RecordingPublisher();
    const deps = { finance: sys.finance, work, leases: new TableLeases(sys.settings.IntegrationTables!), publisher, accountingCurrency: 'USD' };
    const run = await runImportFromStaging(deps);
    expect(run.ran).toBe(true);
    expect(await stagingRow(s.contractId, billed.msdyn_actualid)).toMatchObject({ ImportStatus: 'Imported', InvoiceProposalId: s.proposalId });
    expect(await header(s.proposalId)).toMatchObject({ ImportedLineCount: 1, ImportedAmount: '120.00' });

    await sys.send('actuals', actuals);
    await sys.send('invoice-proposals', proposalMessage(s, ['120.00']));
    await sys.drain();
    expect(await stagingRow(s.contractId, billed.msdyn_actualid)).toMatchObject({ ImportStatus: 'Imported' });
    expect(await stagingRow(s.contractId, unbilled.msdyn_actualid)).toMatchObject({ ImportStatus: 'Imported' });
    expect(await header(s.proposalId)).toMatchObject({ ImportedLineCount: 1, ImportedAmount: '120.00', Status: 'Open' });
    await runImportFromStaging(deps);
    expect(await sys.finance.proposalLines.listPartition(s.proposalId)).toHaveLength(1);
    expect((await sys.finance.projectTransactions.listPartition(s.projectId)).filter((t) => t.TransId === unbilled.msdyn_actualid)).toHaveLength(1);
    expect(await sys.errorLog.list({ source: 'syncActuals' })).toEqual([]);
    expect(await sys.errorLog.list({ source: 'syncInvoiceProposal' })).toEqual([]);
  });

  it("names a billed row's proposal by the Dataverse invoice's number, so import reads the proposal by its key instead of searching by InvoiceId", async () => {
    const s = scenario('flow-named');
    const unbilled = unbilledActual(s, id('flow-named', 'u'), '300.00');
    const billed = billedActual(s, id('flow-named', 'b'), unbilled.msdyn_actualid, '300.00');
    await sys.dataverse.invoices.upsert({
      invoiceid: s.invoiceId,
      invoicenumber: s.proposalId,
      name: 'Named proposal',
      customerid: s.customerId,
      salesorderid: s.contractId,
      transactioncurrencyid: 'USD',
      msdyn_projectinvoicestatus: InvoiceStatus.Confirmed,
      msdyn_invoicedate: '2024-03-31',
      totalamount: '300.00',
      totaltax: '0.00',
    });
    // An invoice that the Dataverse side does not hold: its billed row keeps finding its proposal by InvoiceId.
    const other = scenario('flow-named-unknown');
    const otherBilled = billedActual(other, id('flow-named', 'ob'), undefined, '50.00');

    await sys.send('actuals', { actuals: [unbilled, billed, otherBilled] });
    await sys.send('invoice-proposals', proposalMessage(s, ['300.00']));
    await sys.send('invoice-proposals', proposalMessage(other, ['50.00']));
    await sys.drain();
    expect(await stagingRow(s.contractId, billed.msdyn_actualid)).toMatchObject({ InvoiceId: s.invoiceId, InvoiceProposalId: s.proposalId, ImportStatus: 'Pending' });
    expect((await stagingRow(s.contractId, unbilled.msdyn_actualid))!.InvoiceProposalId).toBeUndefined();
    expect((await stagingRow(other.contractId, otherBilled.msdyn_actualid))!.InvoiceProposalId).toBeUndefined();
    expect((await work.list()).find((i) => i.ActualId === billed.msdyn_actualid)).toMatchObject({ InvoiceProposalId: s.proposalId });

    // The search by InvoiceId (a scan of foProposals in Azure) runs for the unknown invoice, not for
    // the named one (rows the other tests left waiting are searched too).
    const searched = vi.spyOn(sys.finance, 'proposalsOfInvoice');
    try {
      const deps = { finance: sys.finance, work, leases: new TableLeases(sys.settings.IntegrationTables!), publisher: new RecordingPublisher(), accountingCurrency: 'USD' };
      expect((await runImportFromStaging(deps)).ran).toBe(true);
      const searchedFor = searched.mock.calls.map(([invoiceId]) => invoiceId);
      expect(searchedFor).toContain(other.invoiceId);
      expect(searchedFor).not.toContain(s.invoiceId);
    } finally {
      searched.mockRestore();
    }
    expect(await stagingRow(s.contractId, billed.msdyn_actualid)).toMatchObject({ ImportStatus: 'Imported', InvoiceProposalId: s.proposalId });
    expect(await stagingRow(other.contractId, otherBilled.msdyn_actualid)).toMatchObject({ ImportStatus: 'Imported', InvoiceProposalId: other.proposalId });
    expect(await header(s.proposalId)).toMatchObject({ ImportedLineCount: 1, ImportedAmount: '300.00' });
    expect(await header(other.proposalId)).toMatchObject({ ImportedLineCount: 1, ImportedAmount: '50.00' });
  });

  it('writes the good records of a message with one bad record and logs the bad one', async () => {
    const s = scenario('flow-partial');
    const good1 = unbilledActual(s, id('flow-partial', 1));
    const good2 = costActual(s, id('flow-partial', 2));
    const bad = { ...unbilledActual(s, id('flow-partial', 3)), msdyn_transactiontypecode: TransactionType.Cost + 1 };
    await sys.send('actuals', { actuals: [good1, bad, good2] }, { messageId: 'partial-1' });
    await sys.drain();

    expect(await stagingRow(s.contractId, good1.msdyn_actualid)).toBeDefined();
    expect(await stagingRow(s.contractId, good2.msdyn_actualid)).toBeDefined();
    expect(await stagingRow(s.contractId, bad.msdyn_actualid)).toBeUndefined();
    const errors = await waitFor('the error row', async () => {
      const rows = await sys.errorLog.list({ source: 'syncActuals' });
      return rows.length ? rows : undefined;
    });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ Source: 'syncActuals', Category: 'Validation', Reference: bad.msdyn_actualid, MessageId: 'partial-1', Status: 'Open' });
    expect(errors[0]!.Message).toMatch(/record 2 of 3/);
    expect(errors[0]!.Message).toMatch(new RegExp(`msdyn_transactiontypecode: .*\\(got ${TransactionType.Cost + 1}\\)`));
    // nothing left on the queue: the message was completed, not retried
    const receiver = sys.serviceBus.createReceiver('actuals', { subQueueType: 'deadLetter' });
    try {
      expect(await receiver.peekMessages(5)).toHaveLength(0);
    } finally {
      await receiver.close();
    }
  });
});

describe('finance/proposals routes', () => {
  it('lists proposals and shows one with its lines and expected versus imported figures', async () => {
    const s = scenario('flow-http');
    const billed = billedActual(s, id('flow-http', 'b'), undefined, '75.00');
    await sys.send('invoice-proposals', proposalMessage(s, ['75.00', '25.00']));
    await sys.send('actuals', { actuals: [billed] });
    await sys.drain();
    await runImportFromStaging({ finance: sys.finance, work, leases: new TableLeases(sys.settings.IntegrationTables!), publisher: new RecordingPublisher(), accountingCurrency: 'USD' });

    const list = await sys.http('GET', 'finance/proposals');
    expect(list.status).toBe(200);
    const listed = (list.body.proposals as { ProposalId: string }[]).find((p) => p.ProposalId === s.proposalId);
    expect(listed).toMatchObject({
      ProposalId: s.proposalId,
      Status: 'Open',
      reconciliation: { expectedLineCount: 2, importedLineCount: 1, missingLineCount: 1, expectedAmount: '100.00', importedAmount: '75.00', missingAmount: '25.00', complete: false },
    });
    expect((await sys.http('GET', 'finance/proposals?status=Posted')).body.proposals.some((p: { ProposalId: string }) => p.ProposalId === s.proposalId)).toBe(false);
    expect((await sys.http('GET', 'finance/proposals?status=Nope')).status).toBe(400);

    const one = await sys.http('GET', `finance/proposals/${s.proposalId}`);
    expect(one.status).toBe(200);
    expect(one.body.proposal).toMatchObject({ ProposalId: s.proposalId, InvoiceId: s.invoiceId, ExpectedLineCount: 2, ImportedLineCount: 1 });
    expect(one.body.proposal.etag).toBeUndefined();
    expect(one.body.reconciliation).toMatchObject({ expectedLineCount: 2, importedLineCount: 1, complete: false });
    expect(one.body.lines).toEqual([
      expect.objectContaining({ LineId: billed.msdyn_actualid, ActualId: billed.msdyn_actualid, TransType: 'Hour', LineAmount: '75.00', CurrencyCode: 'USD' }),
    ]);
    expect(one.body.notImported).toEqual([]);
  });

  it('answers 404 problem+json for an unknown proposal', async () => {
    const response = await sys.http('GET', 'finance/proposals/INV-NOPE-404');
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(response.body).toMatchObject({ status: 404, title: 'Not found' });
    expect(response.body.detail).toMatch(/Invoice proposal INV-NOPE-404 does not exist/);
  });

  it('refuses to create or delete a proposal by hand with 405 and the reason', async () => {
    const s = scenario('flow-405');
    await sys.send('invoice-proposals', proposalMessage(s, ['10.00']));
    await sys.drain();
    const before = await header(s.proposalId);

    const create = await sys.http('POST', 'finance/proposals', { ProposalId: 'INV-HANDMADE' });
    expect(create.status).toBe(405);
    expect(create.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(create.headers.get('allow')).toBe('GET');
    expect(create.body).toMatchObject({ status: 405, title: 'Method not allowed' });
    expect(create.body.detail).toMatch(/invoice proposals come only from confirmed Dataverse invoices/);
    expect(await header('INV-HANDMADE')).toBeUndefined();

    const remove = await sys.http('DELETE', `finance/proposals/${s.proposalId}`);
    expect(remove.status).toBe(405);
    expect(remove.headers.get('allow')).toBe('GET');
    expect(remove.body.detail).toMatch(new RegExp(`Deleting invoice proposal ${s.proposalId} is not allowed: invoice proposals come only from confirmed Dataverse invoices`));
    expect(await header(s.proposalId)).toEqual(before);
  });
});

describe('importFromStaging timer function', () => {
  it('runs in the host (invoked through the admin API), posts, and its accounting details reach the Dataverse actuals', async () => {
    const s = scenario('flow-timer');
    const unbilled = unbilledActual(s, id('flow-timer', 'u'), '640.00');
    const billed = billedActual(s, id('flow-timer', 'b'), unbilled.msdyn_actualid, '640.00');
    await sys.dataverse.actuals.createManyIfAbsent([unbilled, billed]);
    await sys.send('invoice-proposals', proposalMessage(s, ['640.00']));
    await sys.send('actuals', { actuals: [unbilled, billed] });
    await sys.drain();

    const response = await fetch(`${sys.host.baseUrl}/admin/functions/importFromStaging`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(response.status).toBe(202);
    const posted = await waitFor('the billed row to be imported', async () => {
      const row = await stagingRow(s.contractId, billed.msdyn_actualid);
      return row?.ImportStatus === 'Imported' ? row : undefined;
    });
    expect(posted.InvoiceProposalId).toBe(s.proposalId);
    const unbilledRow = (await stagingRow(s.contractId, unbilled.msdyn_actualid))!;
    expect(unbilledRow).toMatchObject({ ImportStatus: 'Imported', AccountingAmount: '640.00', ExchangeRate: '1.000000' });
    expect(await header(s.proposalId)).toMatchObject({ ImportedLineCount: 1, ImportedAmount: '640.00' });

    // actuals-accounting -> syncActualsAccounting -> dvActuals
    const dv = await waitFor('the accounting details on the Dataverse actual', async () => {
      const a = await sys.dataverse.actuals.get(s.contractId, unbilled.msdyn_actualid);
      return a?.msdyn_externalreferenceid ? a : undefined;
    });
    expect(dv).toMatchObject({
      msdyn_externalreferenceid: unbilledRow.VoucherNumber,
      msdyn_postingdate: '2024-03-10',
      msdyn_accountingcurrency: 'USD',
      msdyn_accountingamount: '640.00',
      msdyn_exchangerate: '1.000000',
    });
    // one log line for the run, with its counts and duration
    const runLine = /\[importFromStaging\] run=\S+ done read=\d+ posted=\d+ linesCreated=\d+ waiting=\d+ errors=\d+ .*durationMs=\d+/;
    await waitFor('the run log line', async () => hostLog.some((l) => runLine.test(l)));
    expect(hostLog.filter((l) => runLine.test(l))).toHaveLength(1);
  });
});
