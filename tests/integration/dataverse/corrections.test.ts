/**
 * The Dataverse side of corrections and billing controls through the real local Functions host
 * (the real app, Azurite, the local Service Bus): the corrective Draft route and its refusals,
 * what may change on a corrective detail, confirming a partial credit, the not-to-exceed limit
 * (refused, then freed by a credit), and fixed-price details whose quantity and price are fixed.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deterministicGuid } from '../../../shared/core/ids';
import { AdjustmentStatus, BillingMethod, BillingStatus, InvoiceStatus, MilestoneStatus, TransactionType } from '../../../shared/core/options';
import { confirmationActualId, ConfirmationRole } from '../../../shared/dataverse/rules/confirmation/plan';
import { correctiveInvoiceId } from '../../../shared/dataverse/rules/correctionRules';
import { confirmProformaInvoice } from '../../../shared/bridge/confirmProformaInvoice';
import { RecordingPublisher } from '../../kit/publisher';
import { startSystem, waitFor, type TestSystem } from '../../kit/system';

let system: TestSystem;

beforeAll(async () => {
  system = await startSystem();
}, 120_000);
afterAll(async () => {
  await system?.stop();
});

async function contract(notExceed?: string) {
  const key = randomUUID();
  const id = (...p: string[]) => deterministicGuid('dv-correction-test', key, ...p);
  const ids = { account: id('account'), contract: id('contract'), project: id('project'), tm: id('tm'), fp: id('fp'), kickoff: id('kickoff') };
  const dv = system.dataverse;
  await dv.accounts.createIfAbsent({ accountid: ids.account, name: 'Correction customer', accountnumber: `C-${key.slice(0, 6)}` });
  await dv.contracts.createIfAbsent({ salesorderid: ids.contract, name: 'Correction contract', ordernumber: `CT-${key.slice(0, 6)}`, customerid: ids.account, transactioncurrencyid: 'USD' });
  await dv.contractLines.createManyIfAbsent([
    { salesorderdetailid: ids.tm, salesorderid: ids.contract, productdescription: 'Consulting', msdyn_billingmethod: BillingMethod.TimeAndMaterial, msdyn_project: ids.project, ...(notExceed ? { msdyn_notexceedamount: notExceed } : {}) },
    { salesorderdetailid: ids.fp, salesorderid: ids.contract, productdescription: 'Fixed', msdyn_billingmethod: BillingMethod.FixedPrice, msdyn_project: ids.project },
  ]);
  await dv.milestones.createIfAbsent({ msdyn_contractlinescheduleofvalueid: ids.kickoff, msdyn_contractlineid: ids.fp, salesorderid: ids.contract, msdyn_name: 'Kick-off', msdyn_amount: '1000.00', msdyn_invoicestatus: MilestoneStatus.Ready, msdyn_milestonedate: '2026-10-01' });
  return ids;
}
type Fx = Awaited<ReturnType<typeof contract>>;

async function approve(fx: Fx, quantities: string[]): Promise<string[]> {
  const entries = quantities.map((quantity) => ({ entryId: randomUUID(), contractLineId: fx.tm, classification: 'Time', quantity, price: '100.00', costPrice: '60.00', documentDate: '2026-11-02' }));
  const approved = await system.http('POST', 'dataverse/approvals', { entries });
  expect(approved.status).toBe(201);
  return approved.body.entries.map((e: { unbilledActualId: string }) => e.unbilledActualId);
}

/** Approve, mark ready, invoice at 20 % tax and confirm; the Confirmed invoice's view. */
async function confirmedInvoice(fx: Fx, quantities: string[]) {
  const unbilled = await approve(fx, quantities);
  expect((await system.http('POST', 'dataverse/actuals/ready', { actualIds: unbilled, ready: true })).status).toBe(200);
  const created = await system.http('POST', `dataverse/contracts/${fx.contract}/invoices`, { taxPercent: '20' });
  expect(created.status).toBe(201);
  const invoiceId: string = created.body.invoice.invoiceid;
  expect((await system.http('POST', `dataverse/invoices/${invoiceId}/confirm`, {})).status).toBe(202);
  await waitFor('the confirmation', async () => (await system.dataverse.invoices.get(invoiceId, invoiceId))?.msdyn_projectinvoicestatus === InvoiceStatus.Confirmed, 30_000);
  return { invoiceId, unbilled, view: (await system.http('GET', `dataverse/invoices/${invoiceId}`)).body };
}

async function expectProblem(call: Promise<{ status: number; headers: Headers; body: any }>, status: number, detail: string) {
  const response = await call;
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(response.headers.get('content-type')).toContain('application/problem+json');
  expect(response.body.detail).toContain(detail);
  return response;
}

describe('POST dataverse/invoices/{invoiceId}/corrections', () => {
  it('makes a corrective Draft of a Confirmed invoice: every billed line credited in full; a second request names the open one', async () => {
    const fx = await contract();
    const { invoiceId, view } = await confirmedInvoice(fx, ['8', '4']);
    const created = await system.http('POST', `dataverse/invoices/${invoiceId}/corrections`, { invoiceDate: '2026-11-20' });
    expect(created.status).toBe(201);
    const correctiveId = correctiveInvoiceId(invoiceId, 1);
    expect(created.headers.get('location')).toBe(`/api/dataverse/invoices/${correctiveId}`);
    expect(created.body).toMatchObject({
      invoiceId: correctiveId,
      correctedInvoiceId: invoiceId,
      invoice: { msdyn_correctedinvoice: invoiceId, msdyn_projectinvoicestatus: InvoiceStatus.Draft, msdyn_invoicedate: '2026-11-20', totalamount: '-2200.00', totaltax: '-440.00' },
    });
    expect(created.body.invoice.invoicenumber).not.toBe(view.invoice.invoicenumber);
    // The two time lines and the milestone, each at quantity 0.
    expect(created.body.details).toHaveLength(3);
    expect(created.body.details.every((d: { msdyn_quantity: string; msdyn_originalbilledactual?: string }) => d.msdyn_quantity === '0' && d.msdyn_originalbilledactual !== undefined)).toBe(true);
    expect(created.body.details.find((d: { msdyn_milestone?: string }) => d.msdyn_milestone === fx.kickoff)).toMatchObject({ msdyn_amount: '-1000.00', msdyn_tax: '-200.00' });

    const second = await expectProblem(system.http('POST', `dataverse/invoices/${invoiceId}/corrections`, {}), 409, 'already has an open correction');
    expect(second.body.detail).toContain(created.body.invoice.invoicenumber);
  });

  it('refuses a Draft original, an unknown invoice, a malformed id and an unknown field', async () => {
    const fx = await contract();
    const unbilled = await approve(fx, ['2']);
    await system.http('POST', 'dataverse/actuals/ready', { actualIds: unbilled, ready: true });
    const draft = await system.http('POST', `dataverse/contracts/${fx.contract}/invoices`, {});
    await expectProblem(system.http('POST', `dataverse/invoices/${draft.body.invoice.invoiceid}/corrections`, {}), 409, 'only a Confirmed or Posted invoice can be corrected');
    await expectProblem(system.http('POST', `dataverse/invoices/${randomUUID()}/corrections`, {}), 404, 'was not found');
    await expectProblem(system.http('POST', 'dataverse/invoices/not-a-guid/corrections', {}), 400, 'invoiceId');
    await expectProblem(system.http('POST', `dataverse/invoices/${draft.body.invoice.invoiceid}/corrections`, { credit: 'all' }), 400, 'credit');
  });
});

describe('a corrective Draft', () => {
  it('changes only the quantity kept, within the billed quantity; takes no manual detail; and confirms as a partial credit', async () => {
    const fx = await contract();
    const { invoiceId } = await confirmedInvoice(fx, ['8']);
    const created = await system.http('POST', `dataverse/invoices/${invoiceId}/corrections`, {});
    const correctiveId: string = created.body.invoiceId;
    const time = created.body.details.find((d: { msdyn_milestone?: string }) => d.msdyn_milestone === undefined);
    const milestone = created.body.details.find((d: { msdyn_milestone?: string }) => d.msdyn_milestone !== undefined);
    const route = (d: { msdyn_invoicelinetransactionid: string }) => `dataverse/invoices/${correctiveId}/details/${d.msdyn_invoicelinetransactionid}`;

    await expectProblem(system.http('PATCH', route(time), { msdyn_price: '90.00' }), 409, 'can change only its quantity');
    await expectProblem(system.http('PATCH', route(time), { msdyn_quantity: '9' }), 409, 'cannot exceed the quantity billed (8)');
    await expectProblem(system.http('PATCH', route(milestone), { msdyn_quantity: '0.5' }), 409, 'in full only');
    await expectProblem(
      system.http('POST', `dataverse/invoices/${correctiveId}/details`, { msdyn_salescontractlineid: fx.tm, msdyn_transactionclassification: 192350004, msdyn_quantity: '1', msdyn_price: '10.00' }),
      409,
      'is a corrective invoice',
    );
    const kept = await system.http('PATCH', route(time), { msdyn_quantity: '3' });
    expect(kept.status).toBe(200);
    expect(kept.body.detail).toMatchObject({ msdyn_quantity: '3', msdyn_amount: '-500.00', msdyn_tax: '-100.00' });
    // Deleting the milestone's corrective detail keeps the milestone invoiced.
    expect((await system.http('DELETE', route(milestone))).status).toBe(200);
    const after = await system.http('GET', `dataverse/invoices/${correctiveId}`);
    expect(after.body.invoice).toMatchObject({ totalamount: '-500.00', totaltax: '-100.00' });
    expect((await system.dataverse.milestones.get(fx.contract, fx.kickoff))?.msdyn_invoicestatus).toBe(MilestoneStatus.CustomerInvoicePosted);

    expect((await system.http('POST', `dataverse/invoices/${correctiveId}/confirm`, {})).status).toBe(202);
    await waitFor('the correction to be confirmed', async () => (await system.dataverse.invoices.get(correctiveId, correctiveId))?.msdyn_projectinvoicestatus === InvoiceStatus.Confirmed, 30_000);
    const actuals = await system.dataverse.actualsOfContract(fx.contract);
    const billedId = time.msdyn_originalbilledactual as string;
    expect(actuals.get(billedId)?.msdyn_adjustmentstatus).toBe(AdjustmentStatus.Adjusted);
    const ild = time.msdyn_invoicelinetransactionid as string;
    expect(actuals.get(confirmationActualId(correctiveId, ild, ConfirmationRole.CreditReversal))).toMatchObject({ msdyn_amount: '-800.00', msdyn_salestaxamount: '-160.00', msdyn_invoice: correctiveId, msdyn_reversedactual: billedId, msdyn_adjustmentstatus: AdjustmentStatus.Unadjustable });
    expect(actuals.get(confirmationActualId(correctiveId, ild, ConfirmationRole.CreditUnbilled))).toMatchObject({ msdyn_quantity: '5', msdyn_amount: '500.00', msdyn_billingstatus: BillingStatus.UnbilledSalesCreated });
    expect(actuals.get(confirmationActualId(correctiveId, ild, ConfirmationRole.Billed))).toMatchObject({ msdyn_transactiontypecode: TransactionType.BilledSales, msdyn_quantity: '3', msdyn_amount: '300.00', msdyn_salestaxamount: '60.00', msdyn_invoice: correctiveId });
    // Confirmed, the correction is closed: another one may be opened, taking what is left (the 3 hours billed again, the milestone).
    const next = await system.http('POST', `dataverse/invoices/${invoiceId}/corrections`, {});
    expect(next.status).toBe(201);
    expect(next.body.invoiceId).toBe(correctiveInvoiceId(invoiceId, 2));
    expect(next.body.details.map((d: { msdyn_milestone?: string }) => d.msdyn_milestone)).toEqual([fx.kickoff]);
  });
  it('confirms a partial credit on a contract listed only in part: the corrected original and the new actuals read by key', async () => {
    const fx = await contract();
    const { invoiceId } = await confirmedInvoice(fx, ['8', '2', '1']);
    const created = await system.http('POST', `dataverse/invoices/${invoiceId}/corrections`, {});
    const correctiveId: string = created.body.invoiceId;
    const details = created.body.details.filter((d: { msdyn_milestone?: string }) => d.msdyn_milestone === undefined);
    expect(details).toHaveLength(3);
    // Keep 3 of the 8 hours; credit the rest of everything.
    const eightHours: { msdyn_invoicelinetransactionid: string; msdyn_originalbilledactual: string }[] = [];
    for (const d of details) {
      const billed = (await system.dataverse.actuals.get(fx.contract, d.msdyn_originalbilledactual))!;
      if (billed.msdyn_quantity === '8') eightHours.push(d);
    }
    expect(eightHours).toHaveLength(1);
    const kept = eightHours[0]!;
    expect((await system.http('PATCH', `dataverse/invoices/${correctiveId}/details/${kept.msdyn_invoicelinetransactionid}`, { msdyn_quantity: '3' })).status).toBe(200);

    // Confirmed by the use case itself, listing at most 2 of the contract's actuals.
    const stored = (await system.dataverse.actualsOfContract(fx.contract)).size;
    const byKey: string[] = [];
    const listed = new Set<string>();
    const watched = Object.assign(Object.create(system.dataverse) as typeof system.dataverse, {
      actualsOfContractUpTo: async (contractId: string, limit: () => number) => {
        const result = await system.dataverse.actualsOfContractUpTo(contractId, limit);
        for (const id of result.actuals.keys()) listed.add(id);
        return result;
      },
      actualsOfContractByIds: (contractId: string, ids: Iterable<string>) => {
        const list = [...ids];
        byKey.push(...list);
        return system.dataverse.actualsOfContractByIds(contractId, list);
      },
    });
    const outcome = await confirmProformaInvoice({ dataverse: watched, publisher: new RecordingPublisher(), actualsListingLimit: 2 }, { invoiceId: correctiveId });
    expect(outcome.outcome).toBe('confirmed');
    expect(stored).toBeGreaterThan(2);
    expect(listed.size).toBe(2);
    // Each corrected original was listed or read by key; nothing listed was read again.
    for (const d of details) expect(listed.has(d.msdyn_originalbilledactual) || byKey.includes(d.msdyn_originalbilledactual)).toBe(true);
    expect(byKey.filter((id) => listed.has(id))).toEqual([]);

    const actuals = await system.dataverse.actualsOfContract(fx.contract);
    for (const d of details) expect(actuals.get(d.msdyn_originalbilledactual)?.msdyn_adjustmentstatus).toBe(AdjustmentStatus.Adjusted);
    const ild = kept.msdyn_invoicelinetransactionid as string;
    expect(actuals.get(confirmationActualId(correctiveId, ild, ConfirmationRole.CreditReversal))).toMatchObject({ msdyn_amount: '-800.00', msdyn_reversedactual: kept.msdyn_originalbilledactual, msdyn_adjustmentstatus: AdjustmentStatus.Unadjustable });
    expect(actuals.get(confirmationActualId(correctiveId, ild, ConfirmationRole.CreditUnbilled))).toMatchObject({ msdyn_quantity: '5', msdyn_amount: '500.00', msdyn_billingstatus: BillingStatus.UnbilledSalesCreated });
    expect(actuals.get(confirmationActualId(correctiveId, ild, ConfirmationRole.Billed))).toMatchObject({ msdyn_quantity: '3', msdyn_amount: '300.00', msdyn_salestaxamount: '60.00', msdyn_invoice: correctiveId });
    expect((await system.dataverse.invoices.get(correctiveId, correctiveId))?.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Confirmed);
  });
});

describe('billing controls', () => {
  it('refuses marking ready over a line\'s not-to-exceed limit, naming the limit and the excess; a credit frees the limit', async () => {
    const fx = await contract('1000.00');
    const { invoiceId } = await confirmedInvoice(fx, ['6']); // 600.00 invoiced
    const more = await approve(fx, ['3', '2']); // 300 + 200 would make 1,100.00
    const refused = await expectProblem(system.http('POST', 'dataverse/actuals/ready', { actualIds: more, ready: true }), 409, 'not-to-exceed limit of 1000.00');
    expect(refused.body.detail).toContain('600.00 is invoiced or ready');
    expect(refused.body.detail).toContain('add 500.00, 100.00 over the limit');
    expect((await system.dataverse.actuals.get(fx.contract, more[0]!))?.msdyn_billingstatus).toBe(BillingStatus.UnbilledSalesCreated);
    // Within the limit it goes through.
    expect((await system.http('POST', 'dataverse/actuals/ready', { actualIds: [more[0]!], ready: true })).status).toBe(200);
    // Credit the invoiced 6 hours: 600.00 is freed, and the other 200.00 fits.
    const correction = await system.http('POST', `dataverse/invoices/${invoiceId}/corrections`, {});
    const correctiveId: string = correction.body.invoiceId;
    expect((await system.http('POST', `dataverse/invoices/${correctiveId}/confirm`, {})).status).toBe(202);
    await waitFor('the credit', async () => (await system.dataverse.invoices.get(correctiveId, correctiveId))?.msdyn_projectinvoicestatus === InvoiceStatus.Confirmed, 30_000);
    expect((await system.http('POST', 'dataverse/actuals/ready', { actualIds: [more[1]!], ready: true })).status).toBe(200);
  });

  it('refuses quantity and price edits of fixed-price details; their billing type and tax may change', async () => {
    const fx = await contract();
    const created = await system.http('POST', `dataverse/contracts/${fx.contract}/invoices`, {});
    expect(created.status).toBe(201);
    const invoiceId: string = created.body.invoice.invoiceid;
    const manual = await system.http('POST', `dataverse/invoices/${invoiceId}/details`, { msdyn_salescontractlineid: fx.fp, msdyn_transactionclassification: 192350004, msdyn_quantity: '1', msdyn_price: '250.00' });
    expect(manual.status).toBe(201);
    const route = `dataverse/invoices/${invoiceId}/details/${manual.body.detail.msdyn_invoicelinetransactionid}`;
    await expectProblem(system.http('PATCH', route, { msdyn_quantity: '2' }), 409, 'quantity and price cannot change');
    await expectProblem(system.http('PATCH', route, { msdyn_price: '300.00' }), 409, 'quantity and price cannot change');
    const taxed = await system.http('PATCH', route, { msdyn_tax: '47.50' });
    expect(taxed.status).toBe(200);
    expect(taxed.body.detail).toMatchObject({ msdyn_quantity: '1', msdyn_amount: '250.00', msdyn_tax: '47.50' });
  });
});
