/**
 * `npm run demo` end to end: the whole system (real app in the local Functions host, Azurite, the
 * local Service Bus, the real import timer every 2 seconds) seeded with the demo data, then the
 * demo's story through the public HTTP routes, ending in a reconciliation of both sides.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_IDS, seedDemoData } from '../../tools/demoData';
import { runDemo } from '../../tools/demo';
import { amount, dec } from '../../shared/core/money';
import { InvoiceStatus, TransactionType } from '../../shared/core/options';
import { odata } from '../../shared/storage/tableStore';
import { startSystem, type TestSystem } from '../kit/system';

let system: TestSystem;

beforeAll(async () => {
  // The host checks function keys, as in Azure: the demo sends its key on every call.
  system = await startSystem({ settings: { ImportFromStagingSchedule: '*/2 * * * * *' }, functionKey: 'demo-test-key' });
}, 120_000);
afterAll(async () => {
  await system?.stop();
});

describe('npm run demo', () => {
  it('seeds an empty store once', async () => {
    const seeded = await seedDemoData(system.dataverse, system.finance);
    expect(seeded.seeded).toBe(true);
    expect(seeded.stagingRows).toBe(seeded.actuals);
    expect((await seedDemoData(system.dataverse, system.finance)).seeded).toBe(false);
    expect(await system.dataverse.accounts.query()).toHaveLength(2);
    expect(await system.finance.exchangeRates.query(odata`PartitionKey eq ${'EUR-USD'}`)).toHaveLength(2);
  });

  it('walks approval -> ready -> invoice -> edit -> confirm -> import -> post -> accounting, and both sides reconcile', async () => {
    const lines: string[] = [];
    const result = await runDemo({ baseUrl: system.host.baseUrl, functionKey: 'demo-test-key', log: (line) => lines.push(line), timeoutMs: 120_000, pollMs: 500, runId: 'e2e' });
    if (process.env.DEMO_PRINT) console.log(lines.join('\n'));

    // One progress line per step, then the table.
    const progress = lines.filter((l) => /^\[\d\/9\]/.test(l));
    expect(progress.map((l) => l.slice(0, 5))).toEqual(['[1/9]', '[2/9]', '[3/9]', '[4/9]', '[5/9]', '[6/9]', '[7/9]', '[8/9]', '[9/9]']);
    expect(result.table).toContain(result.invoicenumber);
    expect(lines.at(-1)).toBe('Reconciliation: Matched');

    const r = result.trace.reconciliation;
    expect(r.status).toBe('Matched');
    expect(r.problems).toEqual([]);
    expect(result.trace.steps.every((s) => s.state === 'done')).toBe(true);
    // 3 seeded ready actuals + 3 approved by the demo + the Kick-off milestone, plus the
    // non-chargeable remainder of the edited detail (8 h billed as 6 h).
    expect(r.dataverse.billedActuals).toBe(8);
    expect(r.rows.every((row) => row.state === 'Matched' && row.voucher !== undefined)).toBe(true);
    expect(r.finance.lines).toBe(8);
    expect(r.finance.linesAmount).toBe(r.dataverse.billedAmount);
    expect(r.finance.customerInvoice?.totalAmount).toBe(amount(dec(r.dataverse.billedAmount).plus(r.dataverse.billedTax)));

    // The Dataverse side as the accountant's posting left it.
    const invoice = await system.dataverse.invoices.get(result.invoiceId, result.invoiceId);
    expect(invoice?.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Posted);
    expect(invoice?.msdyn_customerinvoicenumber).toBe(r.finance.customerInvoice?.id);
    expect(invoice?.totalamount).toBe(r.dataverse.billedAmount);
    const billed = await system.dataverse.actuals.query(
      odata`PartitionKey eq ${DEMO_IDS.contosoContract} and msdyn_invoice eq ${result.invoiceId} and msdyn_transactiontypecode eq ${TransactionType.BilledSales}`,
    );
    expect(billed).toHaveLength(8);
    expect(billed.every((a) => a.msdyn_externalreferenceid !== undefined && a.msdyn_accountingcurrency === 'USD')).toBe(true);

    // The operations views agree.
    const board = await system.http('GET', 'dashboard');
    expect(board.body.invoices.Posted).toBe(1);
    expect(board.body.proposals.Posted).toBe(1);
    expect(board.body.errors.open).toBe(0);
  }, 240_000);

  it('stops at once with what to do when the host wants a key the demo does not have', async () => {
    await expect(runDemo({ baseUrl: system.host.baseUrl, log: () => undefined, timeoutMs: 5_000, pollMs: 500, runId: 'e2e-no-key' })).rejects.toThrow(
      /GET \/api\/health\/details answered 401: the host wants a function key\. Set DEMO_FUNCTION_KEY/,
    );
  });
});
