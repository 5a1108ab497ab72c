/**
 * Corrections end to end (domain.md step 12) on the whole system: the real app in the local
 * Functions host, Azurite, the local Service Bus and the real import timer (every 2 seconds).
 * An invoice is posted (the demo's story), then fully credited through the public routes: the
 * credit note is the original negated to the cent, every voucher balances, the credited work is
 * back in the backlog and is invoiced and posted again on a new invoice, and the invariant checker
 * finds nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amount, dec, negate, sum } from '../../shared/core/money';
import { AdjustmentStatus, BillingStatus, BillingType, InvoiceStatus, TransactionType } from '../../shared/core/options';
import { confirmationActualId, ConfirmationRole } from '../../shared/dataverse/rules/confirmation/plan';
import { isBalanced } from '../../shared/finance/rules/ledger';
import { checkInvariants } from '../../shared/operations/invariants';
import { odata } from '../../shared/storage/tableStore';
import { DEMO_IDS, seedDemoData } from '../../tools/demoData';
import { runCorrectionDemo, runDemo } from '../../tools/demo';
import { startSystem, waitFor, type TestSystem } from '../kit/system';

let system: TestSystem;

beforeAll(async () => {
  system = await startSystem({ settings: { ImportFromStagingSchedule: '*/2 * * * * *' } });
  await seedDemoData(system.dataverse, system.finance);
}, 120_000);
afterAll(async () => {
  await system?.stop();
});

const billedOf = (invoiceId: string) =>
  system.dataverse.actuals.query(odata`PartitionKey eq ${DEMO_IDS.contosoContract} and msdyn_invoice eq ${invoiceId} and msdyn_transactiontypecode eq ${TransactionType.BilledSales}`);

describe('correcting a posted invoice', () => {
  it('credits it in full, puts the work back in the backlog, and the work is invoiced and posted again', { timeout: 420_000 }, async () => {
    const quiet = () => undefined;
    const demo = { baseUrl: system.host.baseUrl, log: quiet, timeoutMs: 120_000, pollMs: 500 };
    const original = await runDemo({ ...demo, runId: 'e2e-correction' });
    expect(original.trace.reconciliation.status).toBe('Matched');
    const originalInvoice = (await system.dataverse.invoices.get(original.invoiceId, original.invoiceId))!;
    expect(originalInvoice.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Posted);

    // Refused while open: a second correction of the same invoice names the first.
    const lines: string[] = [];
    let secondAnswer: Promise<{ status: number; body: { detail?: string } }> | undefined;
    const correction = await runCorrectionDemo(
      {
        ...demo,
        log: (line) => {
          lines.push(line);
          // Right after the draft is made, while it is open, ask for another one.
          if (line.startsWith('[correction 1/6]')) secondAnswer = system.http('POST', `dataverse/invoices/${original.invoiceId}/corrections`, {});
        },
      },
      original.invoiceId,
    );
    const second = await secondAnswer!;
    expect(second.status).toBe(409);
    expect(second.body.detail).toContain('already has an open correction');

    expect(lines.filter((l) => l.startsWith('[correction ')).map((l) => l.slice(0, 16))).toEqual(
      ['1', '2', '3', '4', '5', '6'].map((k) => `[correction ${k}/6]`),
    );
    expect(correction.trace.reconciliation.status).toBe('Matched');
    expect(lines.at(-1)).toBe('Reconciliation: Matched');

    // The corrective invoice is Posted and carries the credit note's number.
    const corrective = (await system.dataverse.invoices.get(correction.invoiceId, correction.invoiceId))!;
    expect(corrective).toMatchObject({ msdyn_projectinvoicestatus: InvoiceStatus.Posted, msdyn_correctedinvoice: original.invoiceId });
    expect(corrective.totalamount).toBe(negate(originalInvoice.totalamount));
    expect(corrective.totaltax).toBe(negate(originalInvoice.totaltax));

    // The credit note is the original customer invoice negated, to the cent.
    const originalCiv = (await system.finance.customerInvoices.get(originalInvoice.msdyn_customerinvoicenumber!, originalInvoice.msdyn_customerinvoicenumber!))!;
    const creditNote = (await system.finance.customerInvoices.get(corrective.msdyn_customerinvoicenumber!, corrective.msdyn_customerinvoicenumber!))!;
    expect(creditNote.InvoiceId).not.toBe(originalCiv.InvoiceId);
    expect(creditNote.InvoiceAmount).toBe(negate(originalCiv.InvoiceAmount));
    expect(creditNote.SalesTaxAmount).toBe(negate(originalCiv.SalesTaxAmount));
    expect(creditNote.TotalAmount).toBe(negate(originalCiv.TotalAmount));

    // Every voucher balances (imports, the invoice, the credit note).
    const ledger = await system.finance.ledgerEntries.query();
    const vouchers = new Map<string, typeof ledger>();
    for (const e of ledger) vouchers.set(e.Voucher, [...(vouchers.get(e.Voucher) ?? []), e]);
    expect(vouchers.has(creditNote.Voucher)).toBe(true);
    for (const [v, entries] of vouchers) expect(isBalanced(entries), `voucher ${v}`).toBe(true);

    // The original's billed lines are Adjusted, their reversals carry accounting details, and
    // what was billed on both invoices nets to zero.
    const originalBilled = await billedOf(original.invoiceId);
    expect(originalBilled.every((b) => b.msdyn_adjustmentstatus === AdjustmentStatus.Adjusted)).toBe(true);
    const reversals = await billedOf(correction.invoiceId);
    expect(reversals).toHaveLength(originalBilled.length);
    expect(reversals.every((r) => r.msdyn_externalreferenceid !== undefined && dec(r.msdyn_amount).lte(0))).toBe(true);
    expect(amount(sum([...originalBilled, ...reversals].map((a) => a.msdyn_amount)))).toBe('0.00');

    // The credited work is back in the backlog: one new unbilled actual per credited line that
    // billed work, at its quantity, price and billing type.
    const view = await system.http('GET', `dataverse/invoices/${correction.invoiceId}`);
    const actualsNow = await system.dataverse.actualsOfContract(DEMO_IDS.contosoContract);
    const creditedBack = [];
    for (const d of view.body.details as { msdyn_invoicelinetransactionid: string; msdyn_originalbilledactual: string }[]) {
      const billed = originalBilled.find((b) => b.msdyn_actualid === d.msdyn_originalbilledactual)!;
      const backId = confirmationActualId(correction.invoiceId, d.msdyn_invoicelinetransactionid, ConfirmationRole.CreditUnbilled);
      const back = actualsNow.get(backId);
      if (billed.msdyn_unbilledactual === undefined) {
        expect(back, `no work behind ${billed.msdyn_actualid}, nothing back in the backlog`).toBeUndefined();
        continue;
      }
      expect(back).toMatchObject({ msdyn_transactiontypecode: TransactionType.UnbilledSales, msdyn_billingstatus: BillingStatus.UnbilledSalesCreated, msdyn_quantity: billed.msdyn_quantity, msdyn_price: billed.msdyn_price, msdyn_billingtype: billed.msdyn_billingtype });
      if (back!.msdyn_billingtype === BillingType.Chargeable) creditedBack.push(back!);
    }
    expect(creditedBack.length).toBeGreaterThan(0);

    // Invoice that work again: ready, a new invoice, confirm, import, post.
    const ready = await system.http('POST', 'dataverse/actuals/ready', { actualIds: creditedBack.map((a) => a.msdyn_actualid), ready: true, contractId: DEMO_IDS.contosoContract });
    expect(ready.status).toBe(200);
    const again = await system.http('POST', `dataverse/contracts/${DEMO_IDS.contosoContract}/invoices`, { taxPercent: '19' });
    expect(again.status).toBe(201);
    const againId: string = again.body.invoice.invoiceid;
    const creditedIds = new Set(creditedBack.map((a) => a.msdyn_actualid));
    expect(again.body.details.filter((d: { msdyn_sourceactual?: string }) => creditedIds.has(d.msdyn_sourceactual ?? '')).length).toBe(creditedBack.length);
    expect((await system.http('POST', `dataverse/invoices/${againId}/confirm`, {})).status).toBe(202);
    const proposalId: string = again.body.invoice.invoicenumber;
    await waitFor('the new proposal to be complete', async () => {
      const trace = await system.http('GET', `invoices/${againId}/trace`);
      return trace.body.steps?.some((s: { step: string; state: string }) => s.step === 'linesImported' && s.state === 'done');
    }, 120_000, 500);
    expect((await system.http('POST', `finance/proposals/${encodeURIComponent(proposalId)}/post`, {})).status).toBe(202);
    await waitFor('the new invoice to be Posted', async () => (await system.dataverse.invoices.get(againId, againId))?.msdyn_projectinvoicestatus === InvoiceStatus.Posted, 120_000, 500);
    await system.drain();

    // Nothing broke a money invariant along the way.
    await waitFor('the import to settle', async () => (await system.finance.staging.query(odata`ImportStatus eq ${'Pending'}`)).length === 0, 60_000, 500);
    const report = await checkInvariants({ dataverse: system.dataverse, finance: system.finance, errorLog: system.errorLog });
    expect(report.violations).toEqual([]);
    expect(report.checked.confirmedInvoiceMatchesBilled).toBe(3);
  });
});
