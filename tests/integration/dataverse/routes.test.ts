/**
 * Every Dataverse-side and operations route through the real local Functions host (the real app,
 * Azurite, the local Service Bus): the happy path, and bad input for each (malformed JSON, wrong
 * types, unknown ids, wrong state, unsupported methods), each answering problem+json with the
 * right status and a useful message, and writing nothing.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deterministicGuid } from '../../../shared/core/ids';
import { AdjustmentStatus, BillingMethod, BillingStatus, BillingType, InvoiceStatus, MilestoneStatus, TransactionClass } from '../../../shared/core/options';
import { odata } from '../../../shared/storage/tableStore';
import { startSystem, waitFor, type TestSystem } from '../../kit/system';

let system: TestSystem;

beforeAll(async () => {
  system = await startSystem();
}, 120_000);
afterAll(async () => {
  await system?.stop();
});

async function contract() {
  const key = randomUUID();
  const id = (...p: string[]) => deterministicGuid('dv-route-test', key, ...p);
  const ids = { account: id('account'), contract: id('contract'), project: id('project'), tm: id('tm'), fp: id('fp'), kickoff: id('kickoff') };
  const dv = system.dataverse;
  await dv.accounts.createIfAbsent({ accountid: ids.account, name: 'Route test customer', accountnumber: `R-${key.slice(0, 6)}` });
  await dv.contracts.createIfAbsent({ salesorderid: ids.contract, name: 'Route test contract', ordernumber: `RT-${key.slice(0, 6)}`, customerid: ids.account, transactioncurrencyid: 'USD' });
  await dv.contractLines.createManyIfAbsent([
    { salesorderdetailid: ids.tm, salesorderid: ids.contract, productdescription: 'T&M', msdyn_billingmethod: BillingMethod.TimeAndMaterial, msdyn_project: ids.project },
    { salesorderdetailid: ids.fp, salesorderid: ids.contract, productdescription: 'Fixed', msdyn_billingmethod: BillingMethod.FixedPrice, msdyn_project: ids.project },
  ]);
  await dv.milestones.createIfAbsent({ msdyn_contractlinescheduleofvalueid: ids.kickoff, msdyn_contractlineid: ids.fp, salesorderid: ids.contract, msdyn_name: 'Kick-off', msdyn_amount: '1000.00', msdyn_invoicestatus: MilestoneStatus.NotReady, msdyn_milestonedate: '2026-10-01' });
  return ids;
}
type Fx = Awaited<ReturnType<typeof contract>>;

const entry = (fx: Fx, quantity = '8') => ({ entryId: randomUUID(), contractLineId: fx.tm, classification: 'Time', quantity, price: '100.00', costPrice: '60.00', documentDate: '2026-11-02' });

/** Everything stored for a contract, with ETags: equal snapshots mean nothing was written. */
async function snapshot(contractId: string): Promise<string> {
  const dv = system.dataverse;
  const [actuals, milestones, invoices] = await Promise.all([dv.actuals.listPartition(contractId), dv.milestones.listPartition(contractId), dv.invoices.query(odata`salesorderid eq ${contractId}`)]);
  const details = await Promise.all(invoices.map((i) => dv.invoiceLineDetails.listPartition(i.invoiceid)));
  const lines = await Promise.all(invoices.map((i) => dv.invoiceLines.listPartition(i.invoiceid)));
  const keys = [...actuals, ...milestones, ...invoices, ...details.flat(), ...lines.flat()].map((r) => JSON.stringify(r)).sort();
  return keys.join('\n');
}

async function expectProblem(call: Promise<{ status: number; headers: Headers; body: any }>, status: number, detail: RegExp | string) {
  const response = await call;
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(response.headers.get('content-type')).toContain('application/problem+json');
  expect(response.body.status).toBe(status);
  if (typeof detail === 'string') expect(response.body.detail).toContain(detail);
  else expect(response.body.detail).toMatch(detail);
  return response;
}

async function approveAndReady(fx: Fx, quantities: string[]): Promise<string[]> {
  const approved = await system.http('POST', 'dataverse/approvals', { entries: quantities.map((q) => entry(fx, q)) });
  expect(approved.status).toBe(201);
  const ids: string[] = approved.body.entries.map((e: { unbilledActualId: string }) => e.unbilledActualId);
  expect((await system.http('POST', 'dataverse/actuals/ready', { actualIds: ids, ready: true })).status).toBe(200);
  return ids;
}

describe('POST dataverse/approvals', () => {
  it('approves entries into actuals (201) that reach F&O staging through the actuals queue', async () => {
    const fx = await contract();
    const e = entry(fx);
    const response = await system.http('POST', 'dataverse/approvals', { entries: [e, { ...entry(fx, '2'), contractLineId: fx.fp }] });
    expect(response.status).toBe(201);
    expect(response.body.created).toBe(3);
    expect(response.body.actuals).toHaveLength(3);
    const unbilled = response.body.entries[0].unbilledActualId;
    expect((await system.dataverse.actuals.get(fx.contract, unbilled))?.msdyn_billingstatus).toBe(BillingStatus.UnbilledSalesCreated);
    const rows = await waitFor('staging rows of the approved actuals', async () => {
      const staged = await system.finance.staging.listPartition(fx.contract);
      return staged.length === 3 ? staged : undefined;
    });
    expect(rows.map((r) => r.TransType).sort()).toEqual(['Cost', 'Cost', 'UnbilledSales']);
  });

  it('refuses malformed JSON, wrong types, unknown fields, empty bodies and unknown contract lines, writing nothing', async () => {
    const fx = await contract();
    const before = await snapshot(fx.contract);
    await expectProblem(system.http('POST', 'dataverse/approvals', '{"entries": ['), 400, 'not valid JSON');
    await expectProblem(system.http('POST', 'dataverse/approvals', ''), 400, 'empty');
    await expectProblem(system.http('POST', 'dataverse/approvals', { entries: [{ ...entry(fx), quantity: 8 }] }), 400, 'entries.0.quantity');
    await expectProblem(system.http('POST', 'dataverse/approvals', { entries: [{ ...entry(fx), classification: 'Milestone' }] }), 400, 'entries.0.classification');
    await expectProblem(system.http('POST', 'dataverse/approvals', { entries: [{ ...entry(fx), quantity: 'eight' }] }), 400, 'entries.0.quantity: must be a decimal string');
    await expectProblem(system.http('POST', 'dataverse/approvals', { entries: [{ ...entry(fx), quantity: '0' }] }), 400, 'must be greater than 0');
    await expectProblem(system.http('POST', 'dataverse/approvals', { entries: [{ ...entry(fx), qty: '8' }] }), 400, 'qty');
    await expectProblem(system.http('POST', 'dataverse/approvals', { entries: [{ ...entry(fx), documentDate: '2026-02-30' }] }), 400, 'entries.0.documentDate');
    await expectProblem(system.http('POST', 'dataverse/approvals', { entries: [] }), 400, 'at least one entry');
    const unknown = randomUUID();
    await expectProblem(system.http('POST', 'dataverse/approvals', { entries: [entry(fx), { ...entry(fx), contractLineId: unknown }] }), 404, unknown);
    const e = entry(fx);
    expect((await system.http('POST', 'dataverse/approvals', { entries: [e] })).status).toBe(201);
    const approved = await snapshot(fx.contract);
    await expectProblem(system.http('POST', 'dataverse/approvals', { entries: [{ ...e, price: '120.00' }] }), 409, 'approved before with other values');
    expect(await snapshot(fx.contract)).toBe(approved);
    expect(approved).not.toBe(before);
  });
});

describe('POST dataverse/actuals/ready', () => {
  it('marks ready and back (200), and refuses bad input, unknown ids and adjusted actuals, writing nothing', async () => {
    const fx = await contract();
    const approved = await system.http('POST', 'dataverse/approvals', { entries: [entry(fx), entry(fx, '3')] });
    const [good, other] = approved.body.entries.map((e: { unbilledActualId: string }) => e.unbilledActualId);
    const ok = await system.http('POST', 'dataverse/actuals/ready', { actualIds: [good], milestoneIds: [fx.kickoff], ready: true });
    expect(ok.status).toBe(200);
    expect(ok.body.actuals[0]).toMatchObject({ actualId: good, billingStatus: BillingStatus.ReadyToInvoice, changed: true });
    expect((await system.dataverse.milestones.get(fx.contract, fx.kickoff))?.msdyn_invoicestatus).toBe(MilestoneStatus.Ready);

    const row = (await system.dataverse.actuals.get(fx.contract, other))!;
    const { etag: _e, ...plain } = row;
    await system.dataverse.actuals.upsert({ ...plain, msdyn_adjustmentstatus: AdjustmentStatus.Adjusted });
    const before = await snapshot(fx.contract);
    await expectProblem(system.http('POST', 'dataverse/actuals/ready', '{ready: true}'), 400, 'not valid JSON');
    await expectProblem(system.http('POST', 'dataverse/actuals/ready', { actualIds: [good], ready: 'yes' }), 400, 'ready');
    await expectProblem(system.http('POST', 'dataverse/actuals/ready', { actualIds: ['not-a-guid'], ready: true }), 400, 'actualIds.0');
    await expectProblem(system.http('POST', 'dataverse/actuals/ready', { ready: true }), 400, 'at least one');
    const unknown = randomUUID();
    await expectProblem(system.http('POST', 'dataverse/actuals/ready', { actualIds: [good, unknown], ready: false }), 404, unknown);
    await expectProblem(system.http('POST', 'dataverse/actuals/ready', { actualIds: [good, other], ready: false }), 409, `actual ${other} is Adjusted`);
    expect(await snapshot(fx.contract)).toBe(before);
  });

  it('with contractId, reads the ids in that contract only: same result, and an id of another contract is unknown', async () => {
    const fx = await contract();
    const elsewhere = await contract();
    const [mine] = (await system.http('POST', 'dataverse/approvals', { entries: [entry(fx)] })).body.entries.map((e: { unbilledActualId: string }) => e.unbilledActualId);
    const [theirs] = (await system.http('POST', 'dataverse/approvals', { entries: [entry(elsewhere)] })).body.entries.map((e: { unbilledActualId: string }) => e.unbilledActualId);

    const before = await snapshot(fx.contract);
    const refused = await expectProblem(
      system.http('POST', 'dataverse/actuals/ready', { contractId: fx.contract, actualIds: [mine, theirs], ready: true }),
      404,
      `in contract ${fx.contract}: actual ${theirs}`,
    );
    expect(refused.body.detail).not.toContain(mine);
    await expectProblem(system.http('POST', 'dataverse/actuals/ready', { contractId: 'nope', actualIds: [mine], ready: true }), 400, 'contractId');
    expect(await snapshot(fx.contract)).toBe(before);

    const ok = await system.http('POST', 'dataverse/actuals/ready', { contractId: fx.contract, actualIds: [mine, mine], milestoneIds: [fx.kickoff], ready: true });
    expect(ok.status).toBe(200);
    expect(ok.body.actuals).toEqual([{ actualId: mine, contractId: fx.contract, billingStatus: BillingStatus.ReadyToInvoice, changed: true }]);
    expect(ok.body.milestones).toEqual([{ milestoneId: fx.kickoff, contractId: fx.contract, invoiceStatus: MilestoneStatus.Ready, changed: true }]);
    expect((await system.dataverse.actuals.get(fx.contract, mine))?.msdyn_billingstatus).toBe(BillingStatus.ReadyToInvoice);
    expect((await system.dataverse.actuals.get(elsewhere.contract, theirs))?.msdyn_billingstatus).toBe(BillingStatus.UnbilledSalesCreated);
  });

  it('answers 405 to changing an actual directly', async () => {
    const response = await expectProblem(system.http('PATCH', `dataverse/actuals/${randomUUID()}`, { msdyn_amount: '1.00' }), 405, 'immutable');
    expect(response.headers.get('allow')).toBe('');
    await expectProblem(system.http('DELETE', `dataverse/actuals/${randomUUID()}`), 405, 'immutable');
  });
});

describe('proforma invoice routes', () => {
  it('create (201), read, edit, delete and add details, with bad input refused and nothing written', async () => {
    const fx = await contract();
    await expectProblem(system.http('POST', 'dataverse/contracts/not-a-guid/invoices'), 400, 'contractId "not-a-guid" is not a GUID');
    await expectProblem(system.http('POST', `dataverse/contracts/${randomUUID()}/invoices`), 404, 'was not found');
    await expectProblem(system.http('POST', `dataverse/contracts/${fx.contract}/invoices`), 409, 'nothing ready to invoice');
    const [a1] = await approveAndReady(fx, ['8', '2']);
    const beforeCreate = await snapshot(fx.contract);
    await expectProblem(system.http('POST', `dataverse/contracts/${fx.contract}/invoices`, '{"taxPercent": '), 400, 'not valid JSON');
    await expectProblem(system.http('POST', `dataverse/contracts/${fx.contract}/invoices`, { taxPercent: '150' }), 400, 'taxPercent');
    await expectProblem(system.http('POST', `dataverse/contracts/${fx.contract}/invoices`, { taxPercent: 'nineteen' }), 400, 'taxPercent');
    await expectProblem(system.http('POST', `dataverse/contracts/${fx.contract}/invoices`, { invoiceDate: '20261120' }), 400, 'invoiceDate');
    expect(await snapshot(fx.contract)).toBe(beforeCreate);

    const created = await system.http('POST', `dataverse/contracts/${fx.contract}/invoices`, { taxPercent: '10', invoiceDate: '2026-11-20' });
    expect(created.status).toBe(201);
    const inv = created.body.invoice.invoiceid as string;
    expect(created.headers.get('location')).toBe(`/api/dataverse/invoices/${inv}`);
    expect(created.body.invoice).toMatchObject({ msdyn_projectinvoicestatus: InvoiceStatus.Draft, totalamount: '1000.00', totaltax: '100.00', msdyn_invoicedate: '2026-11-20' });

    const read = await system.http('GET', `dataverse/invoices/${inv}`);
    expect(read.status).toBe(200);
    expect(read.body.details).toHaveLength(2);
    // The create answers what it wrote without reading it back: exactly what a read answers.
    expect(created.body).toEqual(read.body);
    await expectProblem(system.http('GET', 'dataverse/invoices/123'), 400, 'invoiceId "123" is not a GUID');
    await expectProblem(system.http('GET', `dataverse/invoices/${randomUUID()}`), 404, 'was not found');

    const ild = read.body.details.find((d: { msdyn_sourceactual?: string }) => d.msdyn_sourceactual === a1).msdyn_invoicelinetransactionid as string;
    const detailRoute = `dataverse/invoices/${inv}/details/${ild}`;
    const beforeEdit = await snapshot(fx.contract);
    await expectProblem(system.http('PATCH', detailRoute, '{"msdyn_quantity": "6"'), 400, 'not valid JSON');
    await expectProblem(system.http('PATCH', detailRoute, { msdyn_quantity: 6 }), 400, 'msdyn_quantity');
    await expectProblem(system.http('PATCH', detailRoute, { msdyn_quantity: '-1' }), 400, 'msdyn_quantity');
    await expectProblem(system.http('PATCH', detailRoute, {}), 400, 'at least one');
    await expectProblem(system.http('PATCH', detailRoute, { msdyn_amount: '1.00' }), 400, 'msdyn_amount');
    await expectProblem(system.http('PATCH', detailRoute, { msdyn_billingtype: BillingType.NotAvailable }), 400, 'Not Available cannot be invoiced');
    await expectProblem(system.http('PATCH', detailRoute, { msdyn_transactionclassification: TransactionClass.Expense }), 409, 'can never be changed');
    await expectProblem(system.http('PATCH', `dataverse/invoices/${inv}/details/${randomUUID()}`, { msdyn_quantity: '1' }), 404, 'is not on invoice');
    await expectProblem(system.http('PATCH', `dataverse/invoices/${randomUUID()}/details/${ild}`, { msdyn_quantity: '1' }), 404, 'was not found');
    await expectProblem(system.http('PATCH', `dataverse/invoices/${inv}/details/x`, { msdyn_quantity: '1' }), 400, 'detailId "x"');
    const put = await expectProblem(system.http('PUT', detailRoute, { msdyn_quantity: '1' }), 405, 'PATCH');
    expect(put.headers.get('allow')).toBe('PATCH, DELETE');
    await expectProblem(system.http('DELETE', `dataverse/invoices/${inv}`), 405, 'computed from its details');
    expect(await snapshot(fx.contract)).toBe(beforeEdit);

    const edited = await system.http('PATCH', detailRoute, { msdyn_quantity: '6', msdyn_transactionclassification: TransactionClass.Time });
    expect(edited.status).toBe(200);
    expect(edited.body.detail).toMatchObject({ msdyn_quantity: '6', msdyn_amount: '600.00', msdyn_tax: '60.00' });
    expect(edited.body.invoice).toMatchObject({ totalamount: '800.00', totaltax: '80.00' });

    const addRoute = `dataverse/invoices/${inv}/details`;
    const fee = { msdyn_salescontractlineid: fx.fp, msdyn_transactionclassification: TransactionClass.Fee, msdyn_quantity: '1', msdyn_price: '250.00', taxPercent: '10' };
    const beforeAdd = await snapshot(fx.contract);
    await expectProblem(system.http('POST', addRoute, '{'), 400, 'not valid JSON');
    await expectProblem(system.http('POST', addRoute, { ...fee, msdyn_transactionclassification: TransactionClass.Milestone }), 400, 'manual detail');
    await expectProblem(system.http('POST', addRoute, { ...fee, msdyn_price: 250 }), 400, 'msdyn_price');
    await expectProblem(system.http('POST', addRoute, { ...fee, msdyn_tax: '25.00' }), 400, 'either msdyn_tax or taxPercent');
    await expectProblem(system.http('POST', addRoute, { ...fee, msdyn_salescontractlineid: randomUUID() }), 404, 'is not a line of contract');
    await expectProblem(system.http('POST', `dataverse/invoices/${randomUUID()}/details`, fee), 404, 'was not found');
    expect(await snapshot(fx.contract)).toBe(beforeAdd);
    const added = await system.http('POST', addRoute, fee);
    expect(added.status).toBe(201);
    expect(added.body.detail).toMatchObject({ msdyn_amount: '250.00', msdyn_tax: '25.00' });
    expect(added.body.invoice).toMatchObject({ totalamount: '1050.00', totaltax: '105.00' });

    await expectProblem(system.http('DELETE', `dataverse/invoices/${inv}/details/${randomUUID()}`), 404, 'is not on invoice');
    const deleted = await system.http('DELETE', detailRoute);
    expect(deleted.status).toBe(200);
    expect(deleted.body.invoice).toMatchObject({ totalamount: '450.00', totaltax: '45.00' });
    expect((await system.dataverse.actuals.get(fx.contract, a1!))?.msdyn_billingstatus).toBe(BillingStatus.ReadyToInvoice);
    await expectProblem(system.http('DELETE', `dataverse/invoices/${inv}/details/not-a-guid`), 400, 'detailId "not-a-guid"');

    // An invoice without details cannot be confirmed: refused at once, nothing sent.
    for (const d of deleted.body.details) expect((await system.http('DELETE', `dataverse/invoices/${inv}/details/${d.msdyn_invoicelinetransactionid}`)).status).toBe(200);
    await expectProblem(system.http('POST', `dataverse/invoices/${inv}/confirm`), 409, 'no invoice line details');
    expect((await system.dataverse.invoices.get(inv, inv))?.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Draft);
  });

  it('confirm (202 with the trace as Location) runs the confirmation; afterwards the invoice is read-only (409) and a repeat changes nothing', async () => {
    const fx = await contract();
    await approveAndReady(fx, ['8']);
    const created = await system.http('POST', `dataverse/contracts/${fx.contract}/invoices`, {});
    const inv = created.body.invoice.invoiceid as string;
    const ild = created.body.details[0].msdyn_invoicelinetransactionid as string;

    await expectProblem(system.http('POST', `dataverse/invoices/${inv}/confirm`, '{"confirmedBy"'), 400, 'not valid JSON');
    await expectProblem(system.http('POST', `dataverse/invoices/${inv}/confirm`, { confirmedBy: 5 }), 400, 'confirmedBy');
    await expectProblem(system.http('POST', `dataverse/invoices/${randomUUID()}/confirm`), 404, 'was not found');
    expect((await system.dataverse.invoices.get(inv, inv))?.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Draft);

    const confirm = await system.http('POST', `dataverse/invoices/${inv}/confirm`, { confirmedBy: 'route test' });
    expect(confirm.status).toBe(202);
    expect(confirm.headers.get('location')).toBe(`/api/invoices/${inv}/trace`);
    expect(confirm.body).toMatchObject({ status: 'Queued', invoicenumber: created.body.invoice.invoicenumber });
    await waitFor('the confirmation', async () => (await system.dataverse.invoices.get(inv, inv))?.msdyn_projectinvoicestatus === InvoiceStatus.Confirmed);

    const before = await snapshot(fx.contract);
    await expectProblem(system.http('PATCH', `dataverse/invoices/${inv}/details/${ild}`, { msdyn_quantity: '1' }), 409, 'is Confirmed');
    await expectProblem(system.http('DELETE', `dataverse/invoices/${inv}/details/${ild}`), 409, 'is Confirmed');
    await expectProblem(system.http('POST', `dataverse/invoices/${inv}/details`, { msdyn_salescontractlineid: fx.tm, msdyn_transactionclassification: TransactionClass.Time, msdyn_quantity: '1', msdyn_price: '1.00' }), 409, 'read-only');
    const repeat = await system.http('POST', `dataverse/invoices/${inv}/confirm`);
    expect(repeat.status).toBe(200);
    expect(repeat.body.status).toBe('AlreadyConfirmed');
    expect(await snapshot(fx.contract)).toBe(before);

    const trace = await system.http('GET', `invoices/${inv}/trace`);
    expect(trace.status).toBe(200);
    expect(trace.body.steps.find((s: { step: string }) => s.step === 'confirmed').state).toBe('done');
    await expectProblem(system.http('GET', 'invoices/nope/trace'), 400, 'not a GUID');
    await expectProblem(system.http('GET', `invoices/${randomUUID()}/trace`), 404, 'was not found');
  });
});

describe('operations routes', () => {
  it('GET errors filters by source and status and refuses a bad query; GET dashboard counts', async () => {
    await system.send('invoice-confirmations', { invoiceId: 'not-a-guid' });
    const listed = await waitFor('the poison message in the error log', async () => {
      const r = await system.http('GET', 'errors?source=confirmProformaInvoice&status=Open');
      return r.status === 200 && r.body.count > 0 ? r : undefined;
    });
    expect(listed.body.errors[0]).toMatchObject({ Source: 'confirmProformaInvoice', Category: 'Validation', Status: 'Open' });
    expect(listed.body.errors[0].Message).toContain('invoiceId');
    expect((await system.http('GET', 'errors?source=confirmProformaInvoice&status=Resolved')).body.count).toBe(0);
    await expectProblem(system.http('GET', 'errors?status=Closed'), 400, 'status: must be Open, Resolved or Replayed');
    await expectProblem(system.http('GET', 'errors?top=0'), 400, 'top');
    await expectProblem(system.http('GET', 'errors?colour=red'), 400, 'colour');

    const board = await system.http('GET', 'dashboard');
    expect(board.status).toBe(200);
    expect(board.body.errors.bySource.confirmProformaInvoice).toBeGreaterThanOrEqual(1);
    expect(board.body.invoices.Confirmed).toBeGreaterThanOrEqual(1);
    expect(Object.keys(board.body.staging).sort()).toEqual(['Error', 'Imported', 'Pending', 'Waiting']);
  });
});
