/**
 * GET dataverse/invoices/{invoiceId}/confirmation-preview through the real local Functions host:
 * the preview writes nothing, and confirming afterwards writes exactly what it showed, record by
 * record (new actuals, updated actuals, milestones, lines, the invoice's totals, the proposal F&O
 * receives), for an ordinary invoice with every kind of detail and for a corrective invoice; a
 * refused invoice names every refusal; a Posted one says it cannot be confirmed.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deterministicGuid } from '../../../shared/core/ids';
import { BillingMethod, BillingType, InvoiceStatus, MilestoneStatus } from '../../../shared/core/options';
import type { ConfirmationPreview } from '../../../shared/dataverse/invoices/confirmationPreview';
import { previewSchema } from '../../../shared/operations/openapi/answers';
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
  const id = (...p: string[]) => deterministicGuid('preview-test', key, ...p);
  const ids = { account: id('account'), contract: id('contract'), project: id('project'), tm: id('tm'), fp: id('fp'), kickoff: id('kickoff') };
  const dv = system.dataverse;
  await dv.accounts.createIfAbsent({ accountid: ids.account, name: 'Preview customer', accountnumber: `P-${key.slice(0, 6)}` });
  await dv.contracts.createIfAbsent({ salesorderid: ids.contract, name: 'Preview contract', ordernumber: `PV-${key.slice(0, 6)}`, customerid: ids.account, transactioncurrencyid: 'USD' });
  await dv.contractLines.createManyIfAbsent([
    { salesorderdetailid: ids.tm, salesorderid: ids.contract, productdescription: 'Consulting', msdyn_billingmethod: BillingMethod.TimeAndMaterial, msdyn_project: ids.project },
    { salesorderdetailid: ids.fp, salesorderid: ids.contract, productdescription: 'Fixed', msdyn_billingmethod: BillingMethod.FixedPrice, msdyn_project: ids.project },
  ]);
  await dv.milestones.createIfAbsent({ msdyn_contractlinescheduleofvalueid: ids.kickoff, msdyn_contractlineid: ids.fp, salesorderid: ids.contract, msdyn_name: 'Kick-off', msdyn_amount: '1000.00', msdyn_invoicestatus: MilestoneStatus.Ready, msdyn_milestonedate: '2026-10-01' });
  return ids;
}
type Fx = Awaited<ReturnType<typeof contract>>;

/** A Draft invoice of three time entries (8, 4, 2 h at 100.00) and the Kick-off milestone, 20 % tax. */
async function draft(fx: Fx) {
  const entries = ['8', '4', '2'].map((quantity) => ({ entryId: randomUUID(), contractLineId: fx.tm, classification: 'Time', quantity, price: '100.00', costPrice: '60.00', documentDate: '2026-11-02' }));
  const approved = await system.http('POST', 'dataverse/approvals', { entries });
  expect(approved.status).toBe(201);
  const unbilled: string[] = approved.body.entries.map((e: { unbilledActualId: string }) => e.unbilledActualId);
  expect((await system.http('POST', 'dataverse/actuals/ready', { actualIds: unbilled, milestoneIds: [fx.kickoff], ready: true, contractId: fx.contract })).status).toBe(200);
  const created = await system.http('POST', `dataverse/contracts/${fx.contract}/invoices`, { taxPercent: '20', name: 'Preview invoice' });
  expect(created.status).toBe(201);
  return { invoiceId: created.body.invoice.invoiceid as string, details: created.body.details as { msdyn_invoicelinetransactionid: string; msdyn_sourceactual?: string; msdyn_quantity: string }[], unbilled };
}

async function preview(invoiceId: string): Promise<ConfirmationPreview> {
  const reply = await system.http('GET', `dataverse/invoices/${invoiceId}/confirmation-preview`);
  expect(reply.status, reply.text).toBe(200);
  expect(previewSchema.safeParse(reply.body).success, JSON.stringify(previewSchema.safeParse(reply.body).error?.issues)).toBe(true);
  return reply.body as ConfirmationPreview;
}

async function confirmAndWait(invoiceId: string) {
  const reply = await system.http('POST', `dataverse/invoices/${invoiceId}/confirm`, {});
  expect(reply.status, reply.text).toBe(202);
  await waitFor('the confirmation', async () => (await system.dataverse.invoices.get(invoiceId, invoiceId))?.msdyn_projectinvoicestatus === InvoiceStatus.Confirmed, 30_000);
}

function stored<T extends { etag?: string }>(row: T | undefined): Omit<T, 'etag'> | undefined {
  if (!row) return undefined;
  const { etag: _etag, ...rest } = row;
  return rest;
}

/** Confirm after the preview and compare what was written with what the preview showed, record by record. */
async function expectConfirmationWrites(p: ConfirmationPreview, contractId: string) {
  const plan = p.plan!;
  const invoiceId = p.invoiceId;
  const before = stored(await system.dataverse.invoices.get(invoiceId, invoiceId));
  // The preview wrote nothing: no new actual exists yet, the invoice is as it was.
  const actualsBefore = await system.dataverse.actualsOfContract(contractId);
  expect(plan.newActuals.filter((n) => actualsBefore.has(n.actual.msdyn_actualid))).toEqual([]);
  expect(before?.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Draft);

  await confirmAndWait(invoiceId);

  const actuals = await system.dataverse.actualsOfContract(contractId);
  for (const n of plan.newActuals) expect(stored(actuals.get(n.actual.msdyn_actualid)), `new actual ${n.actual.msdyn_actualid} (${n.kind})`).toEqual(n.actual);
  for (const a of plan.updatedActuals) expect(stored(actuals.get(a.msdyn_actualid)), `updated actual ${a.msdyn_actualid}`).toEqual(a);
  for (const m of plan.updatedMilestones) {
    expect(stored(await system.dataverse.milestones.get(contractId, m.msdyn_contractlinescheduleofvalueid)), `milestone ${m.msdyn_name}`).toEqual({ ...m, salesorderid: contractId });
  }
  const lines = await system.dataverse.invoiceLines.listPartition(invoiceId);
  expect(lines.map((l) => stored(l)).sort((a, b) => (a!.invoicedetailid < b!.invoicedetailid ? -1 : 1))).toEqual(plan.lines);
  const invoice = stored(await system.dataverse.invoices.get(invoiceId, invoiceId))!;
  // The confirmation stamps its own time; everything else is as previewed.
  const { msdyn_confirmedon: confirmedAt, ...rest } = invoice;
  const { msdyn_confirmedon: _previewedAt, ...previewed } = plan.invoice;
  expect(rest).toEqual(previewed);
  expect(confirmedAt).toBeDefined();
  // The proposal F&O receives is the previewed header.
  const proposal = await waitFor('the proposal header in F&O', () => system.finance.proposals.get(plan.proposal.proposalId, plan.proposal.proposalId), 30_000);
  expect({
    proposalId: proposal.ProposalId,
    invoiceId: proposal.InvoiceId,
    contractId: proposal.ContractId,
    customerAccount: proposal.CustomerAccount,
    currencyCode: proposal.CurrencyCode,
    invoiceDate: proposal.InvoiceDate,
    expectedLineCount: proposal.ExpectedLineCount,
    expectedAmount: proposal.ExpectedAmount,
    expectedTax: proposal.ExpectedTax,
    ...(proposal.CorrectedProposalId !== undefined ? { correctedProposalId: proposal.CorrectedProposalId, correctedInvoiceId: proposal.CorrectedInvoiceId } : {}),
  }).toEqual({
    proposalId: plan.proposal.proposalId,
    invoiceId: plan.proposal.invoiceId,
    contractId: plan.proposal.contractId,
    customerAccount: plan.proposal.customerAccount,
    currencyCode: plan.proposal.currencyCode,
    invoiceDate: plan.proposal.invoiceDate,
    expectedLineCount: plan.proposal.expectedLineCount,
    expectedAmount: plan.proposal.expectedAmount,
    expectedTax: plan.proposal.expectedTax,
    ...(plan.proposal.correctedProposalId !== undefined ? { correctedProposalId: plan.proposal.correctedProposalId, correctedInvoiceId: plan.proposal.correctedInvoiceId } : {}),
  });
}

describe('GET dataverse/invoices/{invoiceId}/confirmation-preview', () => {
  let fx: Fx;
  let invoiceId: string;

  it('shows what confirming a Draft will write (an edit, a billing type change, a manual detail, a milestone), and confirming writes exactly that', async () => {
    fx = await contract();
    const d = await draft(fx);
    invoiceId = d.invoiceId;
    const eight = d.details.find((x) => x.msdyn_quantity === '8')!;
    const four = d.details.find((x) => x.msdyn_quantity === '4')!;
    expect((await system.http('PATCH', `dataverse/invoices/${invoiceId}/details/${eight.msdyn_invoicelinetransactionid}`, { msdyn_quantity: '6', taxPercent: '20' })).status).toBe(200);
    expect((await system.http('PATCH', `dataverse/invoices/${invoiceId}/details/${four.msdyn_invoicelinetransactionid}`, { msdyn_billingtype: BillingType.Complimentary })).status).toBe(200);
    expect((await system.http('POST', `dataverse/invoices/${invoiceId}/details`, { msdyn_salescontractlineid: fx.tm, msdyn_transactionclassification: 192350001, msdyn_quantity: '1', msdyn_price: '45.50', taxPercent: '20' })).status).toBe(201);

    const p = await preview(invoiceId);
    expect(p.outcome).toBe('Confirmable');
    expect(p.refusals).toEqual([]);
    expect(p.writesNothing).toBe(true);
    const kinds = p.plan!.newActuals.map((n) => n.kind);
    expect(kinds).toEqual(expect.arrayContaining(['billed sales', 'invoicing reversal (skip-sync)', 'adjustment reversal of the original unbilled actual (synced, Unadjustable)', 'non-chargeable remainder, billed at 0.00']));
    expect(p.plan!.newActuals.every((n) => n.detailId !== undefined && n.role !== undefined)).toBe(true);
    expect(p.plan!.updatedMilestones.map((m) => m.msdyn_invoicestatus)).toEqual([MilestoneStatus.CustomerInvoicePosted]);
    // 2 h unchanged, 6 of 8 (+ the 2 h remainder at 0.00), 4 h complimentary, the manual expense, the milestone.
    expect(p.plan!.counts.billed).toBe(6);
    expect(p.plan!.proposal.expectedLineCount).toBe(6);

    // Previewing twice changes nothing and answers the same plan.
    const again = await preview(invoiceId);
    expect(again.plan!.newActuals).toEqual(p.plan!.newActuals);

    await expectConfirmationWrites(p, fx.contract);
  }, 120_000);

  it('previews a corrective invoice, and confirming it writes exactly that', async () => {
    const created = await system.http('POST', `dataverse/invoices/${invoiceId}/corrections`, { invoiceDate: '2026-11-20' });
    expect(created.status, created.text).toBe(201);
    const correctiveId: string = created.body.invoiceId;
    // Keep 1 h of the 2 h line: a partial credit.
    const two = (created.body.details as { msdyn_invoicelinetransactionid: string; msdyn_amount: string }[]).find((x) => x.msdyn_amount === '-200.00');
    expect(two).toBeDefined();
    const kept = await system.http('PATCH', `dataverse/invoices/${correctiveId}/details/${two!.msdyn_invoicelinetransactionid}`, { msdyn_quantity: '1' });
    expect(kept.status, kept.text).toBe(200);
    const p0 = await preview(correctiveId);
    expect(p0.outcome).toBe('Confirmable');
    expect(p0.plan!.proposal.correctedProposalId).toBeDefined();
    expect(p0.plan!.newActuals.map((n) => n.kind)).toEqual(expect.arrayContaining(['billed sales reversal of the corrected line (synced)']));
    await expectConfirmationWrites(p0, fx.contract);
  }, 120_000);

  it('names every refusal of an invoice the confirmation would refuse, writes nothing, and the confirmation refuses it too', async () => {
    const other = await contract();
    const d = await draft(other);
    // Two details broken behind the routes' back: amounts that are not quantity x price.
    const details = await system.dataverse.invoiceLineDetails.listPartition(d.invoiceId);
    const broken = details.filter((x) => x.msdyn_sourceactual !== undefined).slice(0, 2);
    for (const b of broken) {
      const { etag, ...row } = b;
      expect(await system.dataverse.invoiceLineDetails.replaceIfMatch({ ...row, msdyn_amount: '1.00' }, etag)).toBeDefined();
    }
    const p = await preview(d.invoiceId);
    expect(p.outcome).toBe('Refused');
    expect(p.plan).toBeUndefined();
    expect(p.refusals.map((r) => r.detailId).sort()).toEqual(broken.map((b) => b.msdyn_invoicelinetransactionid).sort());
    expect(p.refusals.every((r) => r.code === 'AmountMismatch' && r.reason.includes('has amount 1.00'))).toBe(true);
    const refused = await system.http('POST', `dataverse/invoices/${d.invoiceId}/confirm`, {});
    expect(refused.status).toBe(409);
    expect(p.refusals.map((r) => r.reason)).toContain(refused.body.detail.replace(/ Nothing was sent\.$/, ''));
    expect((await system.dataverse.invoices.get(d.invoiceId, d.invoiceId))?.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Draft);
  }, 120_000);

  it('says a Confirmed invoice is confirmed already, and answers 404 for an unknown one', async () => {
    const p = await preview(invoiceId);
    expect(p.outcome).toBe('AlreadyConfirmed');
    expect(p.plan).toBeUndefined();
    const unknown = await system.http('GET', `dataverse/invoices/${randomUUID()}/confirmation-preview`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toContain('application/problem+json');
  });
});
